package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Feed is an optional capability of a Source: it tells of changes, so that
// websocket clients get them as they happen. The engine's store implements
// it. Without it, clients get snapshots and the periodic summary only.
type Feed interface {
	// Watch registers fn to hear of every change: the ids of the twins
	// whose views were replaced or removed, and the alerts appended,
	// oldest first. fn is called on the goroutine that made the change
	// (the engine's), possibly from two at once; it must be safe for
	// concurrent use and return without blocking. The ids are fn's; the
	// alerts are shared and read-only. After stop returns, fn is not
	// called again.
	Watch(fn func(ids []string, alerts []twin.Alert)) (stop func())
}

// Load is what the engine says about its pace, for the live summary.
type Load struct {
	Events int64 // events applied since the start
	Lag    int64 // records not yet applied
}

// Summary is the city summary (websocket topic "summary"): counts over the
// projects a client may see, and the engine's pace.
type Summary struct {
	Projects        int                   `json:"projects"`
	Health          HealthCounts          `json:"health"`
	Alarms          AlarmCounts           `json:"open_alarms"` // standing alarms by level
	EventsPerSecond float64               `json:"events_per_second"`
	Lag             int64                 `json:"consumer_lag"`
	Advisory        *twin.TyphoonAdvisory `json:"advisory,omitempty"` // the active typhoon advisory with its track
	Time            time.Time             `json:"time"`               // server wall clock
}

// tally counts projects for a summary.
type tally struct {
	projects int
	health   HealthCounts
	alarms   AlarmCounts
}

func (t *tally) add(r *row, sign int) {
	t.projects += sign
	switch r.health {
	case twin.Red:
		t.health.Red += sign
	case twin.Amber:
		t.health.Amber += sign
	default:
		t.health.Green += sign
	}
	t.alarms.Warn += sign * r.alarms.Warn
	t.alarms.Stop += sign * r.alarms.Stop
}

// row is what the feed keeps of a twin: its view, who may see it, and its
// map row encoded once for each audience; the whole twin too, for the
// clients of the twin topic, when the first of them needs it.
type row struct {
	view     *twin.ProjectView
	district string // lower case
	health   twin.Health
	alarms   AlarmCounts
	full     json.RawMessage // ProjectRow
	public   json.RawMessage // PublicRow
	twins    [2]encodedTwin  // the view in full, in public form
}

// encodedTwin is a view encoded once for the clients that share it.
type encodedTwin struct {
	once sync.Once
	b    json.RawMessage
}

// twinJSON returns the whole twin as p may see it (p must see it),
// encoded on the first call for its form; the bytes are shared and must
// not be modified. Safe for concurrent use.
func (r *row) twinJSON(s *Server, p Principal) json.RawMessage {
	t := &r.twins[0]
	if p.Role == RolePublic {
		t = &r.twins[1]
	}
	t.once.Do(func() { t.b = s.twinJSON(p, r.view) })
	return t.b
}

func (r *row) parties() []string {
	i := &r.view.Info
	var out []string
	for _, u := range []string{i.Owner, i.Contractor, i.Supervisor} {
		if u != "" && !slices.Contains(out, u) {
			out = append(out, u)
		}
	}
	return out
}

// change is one twin's change within a batch; old or new is nil when the
// twin appeared or went.
type change struct {
	id       string
	old, new *row
}

// Limits of the feed.
const (
	maxInbox         = 100000 // alerts waiting for the hub before the oldest are dropped
	maxPendingAlerts = 500    // alerts waiting for one client before the oldest are dropped
	snapshotAlerts   = 100    // alerts in an alerts snapshot
	snapshotChunk    = 2000   // rows per snapshot message
	maxTwinSubs      = 50     // twin subscriptions per client
)

// hub fans the store's changes out to websocket clients. Its goroutine
// (run) owns rows, tallies and clients; the store's watcher only drops
// changes into the inbox, under a short lock, and never waits.
type hub struct {
	s    *Server
	wake chan struct{}
	ops  chan func()
	done chan struct{} // closed when run returns
	up   atomic.Bool

	mu       sync.Mutex // guards the inbox
	inIDs    map[string]struct{}
	inAlerts []twin.Alert
	inDrill  []drillMsg

	// owned by run
	rows     map[string]*row
	all      tally
	byUnit   map[string]*tally
	clients  map[*client]struct{}
	advisory *twin.TyphoonAdvisory
	events   int64
	eventsAt time.Time
	rate     float64
	lag      int64
}

func newHub(s *Server) *hub {
	return &hub{
		s: s, wake: make(chan struct{}, 1), ops: make(chan func()), done: make(chan struct{}),
		inIDs: map[string]struct{}{}, rows: map[string]*row{}, byUnit: map[string]*tally{}, clients: map[*client]struct{}{},
	}
}

// notify is the store's watcher: it records what changed and wakes the
// hub. It never blocks beyond the inbox lock.
func (h *hub) notify(ids []string, alerts []twin.Alert) {
	coalesced := 0
	h.mu.Lock()
	for _, id := range ids {
		if _, waiting := h.inIDs[id]; waiting {
			coalesced++
		}
		h.inIDs[id] = struct{}{}
	}
	h.inAlerts = append(h.inAlerts, alerts...)
	if n := len(h.inAlerts) - maxInbox; n > 0 {
		h.inAlerts = slices.Delete(h.inAlerts, 0, n)
		h.s.m.dropped.WithLabelValues("change").Add(float64(n))
	}
	h.mu.Unlock()
	h.s.m.changes.Add(float64(len(ids)))
	h.s.m.coalesced.WithLabelValues("change").Add(float64(coalesced))
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// do runs fn on the hub's goroutine and waits for it; false when the hub
// has stopped.
func (h *hub) do(fn func()) bool {
	finished := make(chan struct{})
	select {
	case h.ops <- func() { fn(); close(finished) }:
	case <-h.done:
		return false
	}
	select {
	case <-finished:
		return true
	case <-h.done:
		return false
	}
}

// run serves the feed until ctx ends, then closes every client.
func (h *hub) run(ctx context.Context) {
	defer close(h.done)
	if f, ok := h.s.cfg.Source.(Feed); ok {
		stop := f.Watch(h.notify)
		defer stop()
	}
	if h.s.cfg.Drills != nil {
		stop := h.s.cfg.Drills.Watch(h.drillNotify)
		defer stop()
	}
	for _, v := range h.s.cfg.Source.Twins() { // after Watch: nothing falls between
		h.update(v.ID, v)
	}
	h.sample(time.Now())
	h.up.Store(true)
	defer h.up.Store(false)
	tick := time.NewTicker(h.s.cfg.SummaryEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			for c := range h.clients {
				c.close(websocketGoingAway)
			}
			return
		case fn := <-h.ops:
			fn()
		case <-h.wake:
			h.drain()
		case now := <-tick.C:
			h.sample(now)
			h.summaries()
		}
	}
}

// update replaces the row of a twin (v nil: removed) and returns the change.
func (h *hub) update(id string, v *twin.ProjectView) change {
	old := h.rows[id]
	c := change{id: id, old: old}
	if old != nil {
		if old.view == v {
			return change{}
		}
		h.count(old, -1)
		delete(h.rows, id)
	}
	if v != nil {
		r := &row{view: v, district: strings.ToLower(v.Info.District), health: v.Health}
		pr := projectRow(v)
		r.alarms = pr.Alarms
		r.full = mustJSON(pr)
		r.public = mustJSON(h.s.kinds.publicRow(v))
		h.rows[id] = r
		h.count(r, 1)
		c.new = r
		if v.Weather.Advisory != nil || h.advisory != nil {
			h.advisory = v.Weather.Advisory
		}
	}
	return c
}

func (h *hub) count(r *row, sign int) {
	h.all.add(r, sign)
	for _, u := range r.parties() {
		t := h.byUnit[u]
		if t == nil {
			t = &tally{}
			h.byUnit[u] = t
		}
		t.add(r, sign)
		if t.projects == 0 {
			delete(h.byUnit, u)
		}
	}
}

// drain takes the inbox and offers the changes to every client.
func (h *hub) drain() {
	h.mu.Lock()
	ids := make([]string, 0, len(h.inIDs))
	for id := range h.inIDs {
		ids = append(ids, id)
	}
	clear(h.inIDs)
	alerts := h.inAlerts
	h.inAlerts = nil
	drill := h.inDrill
	h.inDrill = nil
	h.mu.Unlock()
	if len(drill) > 0 {
		for c := range h.clients {
			c.offerDrill(h, drill)
		}
	}
	slices.Sort(ids)
	var changes []change
	for _, id := range ids {
		v, _ := h.s.cfg.Source.Twin(id)
		if c := h.update(id, v); c.id != "" {
			changes = append(changes, c)
		}
	}
	if len(changes) == 0 && len(alerts) == 0 {
		return
	}
	// each alert encoded once for each audience
	full := make([]json.RawMessage, len(alerts))
	public := make([]json.RawMessage, len(alerts))
	for i, a := range alerts {
		full[i] = mustJSON(h.s.kinds.item(a))
		if h.s.kinds.public[a.Rule] {
			public[i] = mustJSON(h.s.kinds.publicAlert(a))
		}
	}
	// each selection's rows gathered once, for all its clients
	var batches map[string]*rowBatch
	for c := range h.clients {
		var rows *rowBatch
		if c.key != "" && len(changes) > 0 {
			var made bool
			if rows, made = batches[c.key]; !made {
				rows = h.rowBatch(c, changes)
				if batches == nil {
					batches = map[string]*rowBatch{}
				}
				batches[c.key] = rows
			}
		}
		c.offer(h, changes, rows, alerts, full, public)
	}
}

// sample reads the engine's pace.
func (h *hub) sample(now time.Time) {
	if h.s.cfg.Load == nil {
		return
	}
	l := h.s.cfg.Load()
	if !h.eventsAt.IsZero() {
		if dt := now.Sub(h.eventsAt).Seconds(); dt > 0 {
			h.rate = float64(l.Events-h.events) / dt
		}
	}
	h.events, h.eventsAt, h.lag = l.Events, now, l.Lag
}

// summary returns the summary a principal sees.
func (h *hub) summary(p Principal) Summary {
	t := h.all
	if p.Role == RoleContractor {
		t = tally{}
		if u := h.byUnit[p.Unit]; u != nil {
			t = *u
		}
	}
	return Summary{
		Projects: t.projects, Health: t.health, Alarms: t.alarms, EventsPerSecond: roundTo(h.rate, 1), Lag: h.lag,
		Advisory: h.advisory, Time: time.Now().UTC().Truncate(time.Millisecond),
	}
}

// summaries sends the summary to the clients that asked for it, encoded
// once per audience.
func (h *hub) summaries() {
	enc := map[Principal][]byte{}
	for c := range h.clients {
		if !c.wantsSummary() {
			continue
		}
		key := c.p
		if key.Role != RoleContractor {
			key = Principal{Role: RoleRegulator} // the same counts
		}
		b, ok := enc[key]
		if !ok {
			b = mustJSON(message{Type: "summary", Summary: ptr(h.summary(c.p))})
			enc[key] = b
		}
		c.setSummary(h, b)
	}
}

// visibleRow reports whether p may see the row of a twin at all (in full
// or public form).
func (h *hub) rowFor(p Principal, r *row) json.RawMessage {
	switch {
	case r == nil:
		return nil
	case p.Role == RolePublic:
		return r.public
	case p.sees(&r.view.Info):
		return r.full
	}
	return nil
}

// snapshotRows returns the snapshot messages of a city or district topic.
func (h *hub) snapshotRows(c *client, topic, district string) [][]byte {
	ids := make([]string, 0, len(h.rows))
	for id, r := range h.rows {
		if district == "" || r.district == district {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var rows []json.RawMessage
	for _, id := range ids {
		if b := h.rowFor(c.p, h.rows[id]); b != nil {
			rows = append(rows, b)
		}
	}
	var out [][]byte
	for first := true; first || len(rows) > 0; first = false {
		n := min(len(rows), snapshotChunk)
		var buf bytes.Buffer // by hand: the rows are encoded already
		fmt.Fprintf(&buf, `{"type":"snapshot","topic":%q`, topic)
		if district != "" {
			buf.WriteString(`,"district":`)
			buf.Write(mustJSON(district))
		}
		buf.WriteString(`,"projects":`)
		joinRaw(&buf, rows[:n])
		if n < len(rows) {
			buf.WriteString(`,"more":true`)
		}
		buf.WriteByte('}')
		out = append(out, buf.Bytes())
		rows = rows[n:]
	}
	return out
}

// snapshotAlerts returns the recent alerts a client may see under a
// filter, newest first.
func (h *hub) snapshotAlerts(c *client, f *alertFilter) []json.RawMessage {
	out := []json.RawMessage{}
	for _, a := range h.s.cfg.Source.Alerts(0) {
		if !f.match(h.s.kinds, &a) {
			continue
		}
		var info *twin.ProjectInfo
		if r := h.rows[a.Project]; r != nil {
			info = &r.view.Info
		}
		if !h.s.kinds.alertVisible(c.p, &a, info) {
			continue
		}
		if c.p.Role == RolePublic {
			out = append(out, mustJSON(h.s.kinds.publicAlert(a)))
		} else {
			out = append(out, mustJSON(h.s.kinds.item(a)))
		}
		if len(out) == snapshotAlerts {
			break
		}
	}
	return out
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("dashboard: encode " + err.Error()) // our own types always encode
	}
	return b
}

func ptr[T any](v T) *T { return &v }

func roundTo(x float64, digits int) float64 {
	p := 1.0
	for range digits {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}
