package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/scenarios"
	"github.com/sitetwin/sitetwin/twin"
)

// Drills starts and follows live drills: a drill forked from the live city
// whose events go, tagged as drill, into the running engine (which keeps
// them apart from the real twins). cmd plugs in the runner; the dashboard
// never imports the engine. Methods other than Start never block on the
// runner's work; what they return is the caller's (or shared read-only, as
// said).
type Drills interface {
	// Start parses a scenario (JSON, as `sitetwin drill run` reads it),
	// forks the live city, checks the scenario against it and starts the
	// drill in the background. It blocks while it forks (reading the
	// committed state), bounded by ctx, and returns the new drill's
	// status. Errors: a *scenarios.FieldError when the scenario is bad or
	// does not fit the city (HTTP 400, naming the field); ErrDrillBusy
	// when another drill is running (409); others when the city cannot be
	// forked (503).
	Start(ctx context.Context, scenario []byte) (DrillStatus, error)
	// Drill returns the status of a drill (with its plan once it is done).
	Drill(id string) (DrillStatus, bool)
	// List returns the status of every drill kept, newest first, without
	// plans.
	List() []DrillStatus
	// Timeline returns a drill's timeline so far (the steps done), shared
	// and read-only.
	Timeline(id string) (*scenarios.Timeline, bool)
	// Report returns a done drill's HTML report (scenarios.Report); false
	// while it runs or when it failed.
	Report(id string) ([]byte, bool)
	// Watch registers fn to hear of every drill's start, steps and end,
	// in order per drill. fn is called on the drill's goroutine; it must
	// return without blocking. The update is shared and read-only. After
	// stop returns, fn is not called again.
	Watch(fn func(DrillUpdate)) (stop func())
}

// ErrDrillBusy is returned by Drills.Start while another drill runs.
var ErrDrillBusy = errors.New("a drill is running already")

// Drill states.
const (
	DrillRunning = "running"
	DrillDone    = "done"
	DrillFailed  = "failed"
)

// Drill sources: where a drill was started.
const (
	// DrillSourceAPI is a drill started with POST /api/drills and run by
	// this server's process: its status, timeline, plan and report are
	// the runner's.
	DrillSourceAPI = "api"
	// DrillSourceEngine is a drill started elsewhere (`sitetwin drill run
	// --live` in another process) and known from what the engine applied
	// of its events: the sites it touched with their levels, its alerts,
	// its simulated time. It has no plan and no report here.
	DrillSourceEngine = "engine"
)

// DrillStatus is the body of GET /api/drills/{id}: a live drill's progress
// and, once done, its results.
type DrillStatus struct {
	ID       string `json:"id"`       // the drill's id in this run: the scenario's id and when it started
	Scenario string `json:"scenario"` // the scenario's id
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	State    string `json:"state"` // running, done, failed
	Error    string `json:"error,omitempty"`
	// Steps and StepsDone count the drill's time steps.
	Steps     int `json:"steps"`
	StepsDone int `json:"steps_done"`
	// Start, End and SimTime are simulated: the drill's span and how far
	// it has come.
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	SimTime time.Time `json:"sim_time,omitzero"`
	// Started and Finished are wall-clock times.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	// Sites counts the sites of the fork; Events the drill events sent to
	// the engine.
	Sites  int `json:"sites"`
	Events int `json:"events"`
	// Alerts counts the drill's alerts: of its steps (api), or those the
	// engine raised in the drill's forks (engine).
	Alerts int `json:"alerts"`
	// Source is where the drill was started: DrillSourceAPI or
	// DrillSourceEngine.
	Source string `json:"source"`
	// LastSeen (engine) is the wall-clock time the engine last committed
	// events of the drill; Ended says why such a drill is done: its last
	// event came (with the end marker), or its events stopped for a while.
	LastSeen time.Time `json:"last_seen,omitzero"`
	Ended    string    `json:"ended,omitempty"`
	// KPIs and Plan once the drill is done (Plan in GET /api/drills/{id}
	// only).
	KPIs *scenarios.KPIs `json:"kpis,omitempty"`
	Plan *scenarios.Plan `json:"plan,omitempty"`
	// Affected and RecentAlerts (engine; in GET /api/drills/{id} only):
	// the sites of the drill's forks with their levels, and its latest
	// alerts (at most 200), newest first.
	Affected     []DrillSiteLevel  `json:"affected,omitempty"`
	RecentAlerts []twin.Alert      `json:"recent_alerts,omitempty"`
	Link         map[string]string `json:"links"`
}

// DrillSiteLevel is a site of a drill with its level in the drill (0 ok,
// 1 warn, 2 stop).
type DrillSiteLevel struct {
	ID      string     `json:"id"`
	Project string     `json:"project"`
	Lat     float64    `json:"lat"`
	Lon     float64    `json:"lon"`
	Level   twin.Level `json:"level"`
}

// DrillUpdate is what a drill's runner tells watchers: the start (Sites
// and Track set, Step nil), each step (Step set), the end (Status done or
// failed, Step nil). A layer that changes (a drill seen by the engine
// touching more sites) comes with Sites and Step both set: the new layer
// and its levels.
type DrillUpdate struct {
	Status DrillStatus
	Sites  []scenarios.TimelineSite
	Track  []scenarios.LatLon
	Step   *scenarios.Step
	Index  int // of Step
}

// DrillLinks returns the links of a drill's status: itself, its timeline
// and report (the runner sets them with it).
func DrillLinks(id string) map[string]string {
	base := "/api/drills/" + id
	return map[string]string{"self": base, "timeline": base + "/timeline", "report": base + "/report"}
}

// EngineDrillLinks returns the links of a drill the engine saw: itself and
// its timeline (what the engine knows; no report).
func EngineDrillLinks(id string) map[string]string {
	base := "/api/drills/" + id
	return map[string]string{"self": base, "timeline": base + "/timeline"}
}

// maxScenarioBytes bounds a posted scenario.
const maxScenarioBytes = 1 << 20

// drillsOrNotFound answers 404 when no runner is plugged in.
func (s *Server) drillsOrNotFound(w http.ResponseWriter) (Drills, bool) {
	if s.cfg.Drills == nil {
		writeError(w, http.StatusNotFound, "this server runs no live drills (use `sitetwin run`, which plugs in the drill runner)")
		return nil, false
	}
	return s.cfg.Drills, true
}

// drills serves GET /api/drills: every drill kept, newest first.
func (s *Server) drills(w http.ResponseWriter, _ *http.Request) {
	d, ok := s.drillsOrNotFound(w)
	if !ok {
		return
	}
	list := d.List()
	if list == nil {
		list = []DrillStatus{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"drills": list})
}

// startDrill serves POST /api/drills: body = a scenario (JSON).
func (s *Server) startDrill(w http.ResponseWriter, r *http.Request) {
	d, ok := s.drillsOrNotFound(w)
	if !ok {
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "the body must be a scenario in JSON (Content-Type: application/json), as in scenarios/examples/")
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxScenarioBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("scenario: must be at most %d bytes", maxScenarioBytes))
			return
		}
		writeError(w, http.StatusBadRequest, "scenario: reading the body: "+err.Error())
		return
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		writeError(w, http.StatusBadRequest, "scenario: the body is empty; post a scenario (JSON, see scenarios/examples/)")
		return
	}
	st, err := d.Start(r.Context(), b)
	var fe *scenarios.FieldError
	switch {
	case err == nil:
		w.Header().Set("Location", st.Link["self"])
		writeJSON(w, http.StatusAccepted, st)
	case errors.As(err, &fe):
		writeError(w, http.StatusBadRequest, fe.Error())
	case errors.Is(err, ErrDrillBusy):
		writeError(w, http.StatusConflict, err.Error()+": wait for it to end (GET /api/drills)")
	default:
		s.cfg.Logger.Error("drill start failed", "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot start the drill: "+err.Error())
	}
}

// drill serves GET /api/drills/{id}.
func (s *Server) drill(w http.ResponseWriter, r *http.Request) {
	d, ok := s.drillsOrNotFound(w)
	if !ok {
		return
	}
	st, ok := d.Drill(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no drill %q (GET /api/drills lists them)", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// drillTimeline serves GET /api/drills/{id}/timeline: the steps so far.
func (s *Server) drillTimeline(w http.ResponseWriter, r *http.Request) {
	d, ok := s.drillsOrNotFound(w)
	if !ok {
		return
	}
	tl, ok := d.Timeline(r.PathValue("id"))
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no drill %q (GET /api/drills lists them)", r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, tl)
}

// drillReport serves GET /api/drills/{id}/report: the HTML report.
func (s *Server) drillReport(w http.ResponseWriter, r *http.Request) {
	d, ok := s.drillsOrNotFound(w)
	if !ok {
		return
	}
	id := r.PathValue("id")
	st, ok := d.Drill(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no drill %q (GET /api/drills lists them)", id))
		return
	}
	b, ok := d.Report(id)
	if !ok && st.Source == DrillSourceEngine {
		writeError(w, http.StatusNotFound, fmt.Sprintf("drill %s was started by another process (sitetwin drill run --live): its report is that command's --out DIR/report.html", id))
		return
	}
	if !ok {
		writeError(w, http.StatusConflict, fmt.Sprintf("drill %s is %s: its report is written when it is done", id, st.State))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	w.Write(b) //nolint:errcheck // the client went away
}

// drillFrame is a websocket message of topic drill.
type drillFrame struct {
	Type   string             `json:"type"`            // snapshot or drill
	Topic  string             `json:"topic,omitempty"` // drill, on a snapshot
	Drill  *DrillStatus       `json:"drill"`
	Sites  []drillSite        `json:"sites,omitempty"` // snapshot
	Track  []scenarios.LatLon `json:"track,omitempty"` // snapshot
	Levels string             `json:"levels"`          // one digit per site (0 ok, 1 warn, 2 stop), latest
	Step   *drillStep         `json:"step,omitempty"`
}

// drillSite is a site of a drill's map layer.
type drillSite struct {
	ID      string  `json:"id"`
	Project string  `json:"project"`
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
}

// drillStep is one step of a drill's timeline, for the feed: the per-site
// arrays reduced to the levels string and the strongest winds.
type drillStep struct {
	Index      int                       `json:"index"`
	Time       time.Time                 `json:"time"`
	StopOrders int                       `json:"stop_orders"`
	MaxGustMS  float64                   `json:"max_ground_ms"`
	MaxJibMS   float64                   `json:"max_jib_ms"`
	Alerts     []twin.Alert              `json:"alerts"`
	ActionsDue []scenarios.ActionRef     `json:"actions_due"`
	Dispatch   []scenarios.DispatchEvent `json:"dispatch"`
}

func levelString(lv []int8) string {
	b := make([]byte, len(lv))
	for i, l := range lv {
		b[i] = '0' + byte(l)
	}
	return string(b)
}

func feedStep(k int, st *scenarios.Step) *drillStep {
	ds := &drillStep{Index: k, Time: st.Time, StopOrders: st.StopOrders, Alerts: st.Alerts, ActionsDue: st.ActionsDue, Dispatch: st.Dispatch}
	for _, v := range st.GroundMS {
		ds.MaxGustMS = max(ds.MaxGustMS, v)
	}
	for _, v := range st.JibMS {
		ds.MaxJibMS = max(ds.MaxJibMS, v)
	}
	return ds
}

func feedSites(ss []scenarios.TimelineSite) []drillSite {
	out := make([]drillSite, len(ss))
	for i, s := range ss {
		out[i] = drillSite{ID: s.ID, Project: s.Project, Lat: s.Lat, Lon: s.Lon}
	}
	return out
}

// drillSnapshot encodes a drill's snapshot: status, sites, track and the
// latest levels.
func (s *Server) drillSnapshot(st DrillStatus) []byte {
	st.Plan, st.Affected, st.RecentAlerts = nil, nil, nil
	f := drillFrame{Type: "snapshot", Topic: "drill", Drill: &st}
	if tl, ok := s.cfg.Drills.Timeline(st.ID); ok {
		f.Sites = feedSites(tl.Sites)
		if n := len(tl.Steps); n > 0 {
			f.Levels = levelString(tl.Steps[n-1].Level)
			f.Step = feedStep(n-1, &tl.Steps[n-1])
		} else {
			f.Levels = strings.Repeat("0", len(tl.Sites))
		}
	}
	return mustJSON(f)
}

// drillNotify is the runner's watcher: it encodes the update once and
// hands it to the hub. It never blocks beyond the inbox lock.
func (h *hub) drillNotify(u DrillUpdate) {
	st := u.Status
	st.Plan, st.Affected, st.RecentAlerts = nil, nil, nil
	f := drillFrame{Type: "drill", Drill: &st}
	if u.Sites != nil {
		// a start (or a new layer): the layer's sites, as in a snapshot
		f.Type, f.Topic = "snapshot", "drill"
		f.Sites = feedSites(u.Sites)
		f.Track = u.Track
		f.Levels = strings.Repeat("0", len(u.Sites))
	}
	if u.Step != nil {
		f.Levels = levelString(u.Step.Level)
		f.Step = feedStep(u.Index, u.Step)
	}
	b := mustJSON(f)
	h.mu.Lock()
	h.inDrill = append(h.inDrill, drillMsg{id: st.ID, b: b, layer: f.Sites != nil})
	if n := len(h.inDrill) - maxInbox; n > 0 {
		h.inDrill = h.inDrill[n:]
		h.s.m.dropped.WithLabelValues("drill").Add(float64(n))
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// drillMsg is an encoded drill message for the clients of its drill.
type drillMsg struct {
	id    string
	b     []byte
	layer bool // carries the layer's sites: never dropped for a slow client
}

// maxPendingDrill is how many drill messages may wait for one client
// before the oldest are dropped (each carries every site's latest level,
// so a client that lost some still draws the right map).
const maxPendingDrill = 200

// offerDrill queues drill messages for a client that subscribed to them.
func (c *client) offerDrill(h *hub, msgs []drillMsg) {
	c.mu.Lock()
	f := c.subs.drill
	if f == nil {
		c.mu.Unlock()
		return
	}
	any := false
	for _, m := range msgs {
		if *f == "" || *f == m.id {
			c.pend.drill = append(c.pend.drill, m)
			any = true
		}
	}
	if n := len(c.pend.drill) - maxPendingDrill; n > 0 {
		// the oldest steps go; a drill's start (its sites) stays
		kept := c.pend.drill[:0]
		for _, m := range c.pend.drill {
			if n > 0 && !m.layer {
				n--
				continue
			}
			kept = append(kept, m)
		}
		dropped := len(c.pend.drill) - len(kept)
		c.pend.drill = kept
		h.s.m.dropped.WithLabelValues("drill").Add(float64(dropped))
	}
	c.mu.Unlock()
	if any {
		c.signal()
	}
}

// drillFrames returns the encoded drill messages.
func drillFrames(ms []drillMsg) [][]byte {
	out := make([][]byte, len(ms))
	for i, m := range ms {
		out[i] = m.b
	}
	return out
}

// subscribeDrill handles a subscription to topic drill (regulators only):
// the snapshots of the drills kept (one drill with "drill": id).
func (h *hub) subscribeDrill(c *client, req *request) (snap [][]byte, status int, msg string) {
	if c.p.Role != RoleRegulator {
		return nil, http.StatusForbidden, "topic drill: only a regulator follows drills"
	}
	if h.s.cfg.Drills == nil {
		return nil, http.StatusNotFound, "topic drill: this server runs no live drills"
	}
	id := strings.TrimSpace(req.Drill)
	list := h.s.cfg.Drills.List()
	for i := len(list) - 1; i >= 0; i-- { // oldest first, so the newest ends up on top
		if id == "" || list[i].ID == id {
			snap = append(snap, h.s.drillSnapshot(list[i]))
		}
	}
	if id != "" && len(snap) == 0 {
		return nil, http.StatusNotFound, fmt.Sprintf("topic drill: no drill %q", id)
	}
	c.subs.drill = &id
	c.pend.drill = nil
	return snap, 0, ""
}
