package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitetwin/sitetwin/twin"
)

// Source is where the API reads twin state. The engine's store implements
// it; a drill or a test can bring another. Methods never block on the
// engine; returned views are shared and read-only.
type Source interface {
	// Twin returns the view of one project twin.
	Twin(id string) (*twin.ProjectView, bool)
	// Twins returns every twin's view, sorted by project id.
	Twins() []*twin.ProjectView
	// Alerts returns up to n recent alerts, newest first.
	Alerts(n int) []twin.Alert
}

// SeriesSource is an optional capability of a Source: the recent history
// of a sensor, for the charts of GET /api/twins/{project}/sites/{site}/series.
// The engine's store implements it.
type SeriesSource interface {
	// Series returns the points of one series of a site (key: the sensor
	// kind, or kind@equipment), oldest first, and false when there is no
	// such series. It does not block on the engine; the points are the
	// caller's.
	Series(project, site, key string) ([]twin.SensorPoint, bool)
}

// Config configures the HTTP API, the websocket feed and the page.
type Config struct {
	// Source of twin state. Required. When it also implements Feed,
	// websocket clients get changes as they happen; when it implements
	// SeriesSource, the series endpoint serves sensor history.
	Source Source
	// Tokens authenticate requests (Authorization: Bearer TOKEN; on a
	// websocket handshake also the subprotocol "bearer.TOKEN"). Required
	// unless Open.
	Tokens *Tokens
	// Open serves everyone as a regulator, without tokens: for a local
	// demo only. Default false.
	Open bool
	// Rules is the rule pack: which alerts are dust and noise (what the
	// public sees) and the limits drawn on charts. Default
	// twin.DefaultRules().
	Rules *twin.Rules
	// Health reports whether the engine is healthy; nil means always.
	Health func() error
	// Metrics serves /metrics (regulators only); nil serves 404 there.
	Metrics http.Handler
	// Registerer receives the dashboard's own metrics (sitetwin_ws_*,
	// sitetwin_http_rejected_total); nil registers none.
	Registerer prometheus.Registerer
	// Stats returns the engine's counters for GET /api/stats (any value
	// that encodes as JSON); nil serves 404 there.
	Stats func() any
	// Load returns the engine's pace for the live summary (events/s,
	// lag); nil leaves them at zero.
	Load func() Load
	// UpdatesPerSecond caps how often a websocket client is sent changes;
	// changes in between are coalesced to the latest state per twin.
	// Default 10 (a change waits at most 100 ms for its client's turn).
	UpdatesPerSecond float64
	// MessagesPerSecond caps the requests a client may send (with a burst
	// of twice as many); a client above it is closed. Default 10.
	MessagesPerSecond float64
	// MaxMessageBytes caps a request from a websocket client; a larger
	// one closes the connection with 1009. Default 4096.
	MaxMessageBytes int64
	// PingInterval is how often the server pings a websocket client; a
	// client silent for twice as long is closed. Default 20s.
	PingInterval time.Duration
	// WriteTimeout is how long a websocket client may take to accept a
	// message before it is dropped. Default 10s.
	WriteTimeout time.Duration
	// SummaryEvery is how often the summary topic is refreshed. Default 1s.
	SummaryEvery time.Duration
	// AllowedOrigins are the origins (scheme://host[:port]) whose pages may
	// open the websocket, besides the server's own host. Default none.
	AllowedOrigins []string
	// Logger receives request errors; default slog.Default().
	Logger *slog.Logger
	// Drills starts and follows live drills (POST /api/drills, the
	// websocket topic drill); nil: the drill endpoints answer 404.
	Drills Drills
}

// Server is the HTTP API, the websocket feed and the page. It is an
// http.Handler; Run runs the feed.
type Server struct {
	cfg    Config
	mux    *http.ServeMux
	m      *metrics
	kinds  *kinds
	hub    *hub
	mu     sync.Mutex // guards stop and closed
	stop   context.CancelFunc
	closed bool
}

// New returns the server. It validates the configuration: a source, and
// tokens unless open.
func New(cfg Config) (*Server, error) {
	if cfg.Source == nil {
		return nil, errors.New("dashboard: no source")
	}
	if cfg.Tokens == nil && !cfg.Open {
		return nil, errors.New("dashboard: no tokens; give Tokens, or set Open for an unauthenticated demo")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Rules == nil {
		cfg.Rules = twin.DefaultRules()
	}
	def := func(x *float64, d float64) {
		if *x == 0 {
			*x = d
		}
	}
	def(&cfg.UpdatesPerSecond, 10)
	def(&cfg.MessagesPerSecond, 10)
	for _, d := range []struct {
		p *time.Duration
		d time.Duration
	}{{&cfg.PingInterval, 20 * time.Second}, {&cfg.WriteTimeout, 10 * time.Second}, {&cfg.SummaryEvery, time.Second}} {
		if *d.p == 0 {
			*d.p = d.d
		}
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = 4096
	}
	switch {
	case cfg.UpdatesPerSecond < 0 || cfg.MessagesPerSecond < 0:
		return nil, errors.New("dashboard: UpdatesPerSecond and MessagesPerSecond must be positive")
	case cfg.MaxMessageBytes < 256:
		return nil, errors.New("dashboard: MaxMessageBytes must be at least 256")
	case cfg.PingInterval < 0 || cfg.WriteTimeout < 0 || cfg.SummaryEvery < 0:
		return nil, errors.New("dashboard: durations must be positive")
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("dashboard: metrics: %w", err)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), m: m, kinds: newKinds(cfg.Rules)}
	s.hub = newHub(s)
	for _, rt := range s.routes() {
		h := get(rt.h)
		if rt.post != nil {
			h = getOrPost(rt.h, rt.post)
		}
		if !rt.public {
			h = s.authed(h, rt.roles...)
		}
		s.mux.HandleFunc(rt.pattern, h)
	}
	s.mux.HandleFunc("/api/", s.authed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API endpoint %s (see GET /api/openapi.json)", r.URL.Path))
	}))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found: "+r.URL.Path)
	})
	return s, nil
}

// route is one endpoint: public ones need no token; roles empty means any
// role.
type route struct {
	pattern string
	h       http.HandlerFunc
	post    http.HandlerFunc // serves POST when set
	public  bool
	roles   []Role
}

// routes lists every endpoint; the OpenAPI document must describe each
// /api/ one (a test checks).
func (s *Server) routes() []route {
	rs := []route{
		{pattern: "/api/twins", h: s.twins},
		{pattern: "/api/twins/{project}", h: s.twin},
		{pattern: "/api/twins/{project}/audit", h: s.audit, roles: []Role{RoleRegulator, RoleContractor}},
		{pattern: "/api/twins/{project}/sites/{site}/series", h: s.series},
		{pattern: "/api/alerts", h: s.alerts},
		{pattern: "/api/sites/near", h: s.near},
		{pattern: "/api/openapi.json", h: s.openapi},
		{pattern: "/api/whoami", h: s.whoami},
		{pattern: "/healthz", h: s.healthz, public: true},
		{pattern: "/{$}", h: s.index, public: true},
		{pattern: "/static/{file}", h: s.static, public: true},
		{pattern: "/ws", h: s.serveWS, public: true}, // authenticates after the origin check
		{pattern: "/api/drills", h: s.drills, post: s.startDrill, roles: []Role{RoleRegulator}},
		{pattern: "/api/drills/{id}", h: s.drill, roles: []Role{RoleRegulator}},
		{pattern: "/api/drills/{id}/timeline", h: s.drillTimeline, roles: []Role{RoleRegulator}},
		{pattern: "/api/drills/{id}/report", h: s.drillReport, roles: []Role{RoleRegulator}},
	}
	if s.cfg.Stats != nil {
		rs = append(rs, route{pattern: "/api/stats", h: func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.cfg.Stats()) }})
	}
	if s.cfg.Metrics != nil {
		rs = append(rs, route{pattern: "/metrics", h: s.cfg.Metrics.ServeHTTP, roles: []Role{RoleRegulator}})
	}
	return rs
}

// Run runs the live feed of the websocket clients until ctx ends or Close
// is called, then closes the clients. It returns nil.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		return nil
	}
	s.stop = cancel
	s.mu.Unlock()
	defer cancel()
	s.hub.run(ctx)
	return nil
}

// Close stops Run (or keeps a later Run from starting); it is idempotent.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.stop != nil {
		s.stop()
	}
}

// rejected counts a refused request.
func (s *Server) rejected(_ http.ResponseWriter, _ *http.Request, reason string) {
	s.m.rejected.WithLabelValues(reason).Inc()
}

// whoami serves GET /api/whoami: the caller's role (and unit).
func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"role": principalOf(r.Context()).Role, "unit": principalOf(r.Context()).Unit, "open": s.cfg.Open})
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// get wraps a handler that serves GET (and HEAD) only.
func get(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here; use GET")
			return
		}
		h(w, r)
	}
}

// getOrPost wraps a handler of GET (and HEAD) and one of POST.
func getOrPost(h, post http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			h(w, r)
		case http.MethodPost:
			post(w, r)
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here; use GET or POST")
		}
	}
}

// apiError is the body of every error response.
type apiError struct {
	Error  string `json:"error"`
	Status int    `json:"status"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Error: msg, Status: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v) //nolint:errcheck // the client went away; nothing to do
}

// badRequest is a query error: which parameter and what it must be.
type badRequest struct{ param, rule string }

func (b *badRequest) Error() string { return fmt.Sprintf("query parameter %s: %s", b.param, b.rule) }

type query struct {
	r   *http.Request
	err error
}

func (q *query) str(name string) string { return strings.TrimSpace(q.r.URL.Query().Get(name)) }

func (q *query) intIn(name string, def, lo, hi int) int {
	s := q.str(name)
	if s == "" || q.err != nil {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		q.err = &badRequest{name, fmt.Sprintf("must be a whole number from %d to %d", lo, hi)}
		return def
	}
	return n
}

func (q *query) float(name string, lo, hi float64, required bool) float64 {
	s := q.str(name)
	if q.err != nil {
		return 0
	}
	if s == "" {
		if required {
			q.err = &badRequest{name, "is required"}
		}
		return math.NaN()
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || x < lo || x > hi {
		q.err = &badRequest{name, fmt.Sprintf("must be a number from %g to %g", lo, hi)}
		return math.NaN()
	}
	return x
}

func (q *query) oneOf(name string, allowed ...string) string {
	s := q.str(name)
	if s == "" || q.err != nil {
		return s
	}
	if !slices.Contains(allowed, s) {
		q.err = &badRequest{name, "must be one of " + strings.Join(allowed, ", ")}
	}
	return s
}

// TwinSummary is one row of GET /api/twins.
type TwinSummary struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	District   string      `json:"district"`
	Kind       string      `json:"kind"`
	Contractor string      `json:"contractor"`
	Registered bool        `json:"registered"`
	Health     twin.Health `json:"health"`
	Reasons    []string    `json:"reasons"`
	Sites      int         `json:"sites"`
	Cranes     int         `json:"cranes"`
	OpenAlarms int         `json:"open_alarms"`
	SPIt       float64     `json:"spi_t,omitempty"`
	Credit     float64     `json:"credit"`
	Clock      string      `json:"clock,omitempty"`
}

// TwinPage is the body of GET /api/twins.
type TwinPage struct {
	Total  int           `json:"total"`
	Offset int           `json:"offset"`
	Limit  int           `json:"limit"`
	Counts HealthCounts  `json:"counts"` // of the filtered twins
	Items  []TwinSummary `json:"items"`
}

// HealthCounts counts twins by health.
type HealthCounts struct {
	Green int `json:"green"`
	Amber int `json:"amber"`
	Red   int `json:"red"`
}

func summarize(v *twin.ProjectView) TwinSummary {
	s := TwinSummary{
		ID: v.ID, Name: v.Info.Name, District: v.Info.District, Kind: v.Info.Kind, Contractor: v.Info.Contractor,
		Registered: v.Registered, Health: v.Health, Reasons: v.Reasons, Sites: len(v.Sites),
		OpenAlarms: len(v.Alarms), SPIt: v.Schedule.SPIt, Credit: v.Credit,
	}
	if !v.Clock.IsZero() {
		s.Clock = v.Clock.Format("2006-01-02T15:04:05Z07:00")
	}
	for _, site := range v.Sites {
		s.Cranes += site.Cranes
	}
	return s
}

// PublicTwinPage is the body of GET /api/twins for a public token.
type PublicTwinPage struct {
	Total  int         `json:"total"`
	Offset int         `json:"offset"`
	Limit  int         `json:"limit"`
	Items  []PublicRow `json:"items"`
}

// twins serves GET /api/twins?district=&health=&kind=&contractor=&q=&limit=&offset=.
// A contractor lists its own projects; the public lists every project's
// public fields and may not filter by health or contractor.
func (s *Server) twins(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	q := &query{r: r}
	district := q.str("district")
	health := q.oneOf("health", string(twin.Green), string(twin.Amber), string(twin.Red))
	kind := q.str("kind")
	contractor := q.str("contractor")
	text := strings.ToLower(q.str("q"))
	limit := q.intIn("limit", 1000, 1, 10000)
	offset := q.intIn("offset", 0, 0, math.MaxInt32)
	if q.err != nil {
		writeError(w, http.StatusBadRequest, q.err.Error())
		return
	}
	if p.Role == RolePublic && (health != "" || contractor != "") {
		writeError(w, http.StatusForbidden, "a public token may not filter by health or contractor")
		return
	}
	page := TwinPage{Offset: offset, Limit: limit, Items: []TwinSummary{}}
	pub := PublicTwinPage{Offset: offset, Limit: limit, Items: []PublicRow{}}
	for _, v := range s.cfg.Source.Twins() {
		switch {
		case p.Role == RoleContractor && !p.sees(&v.Info),
			district != "" && !strings.EqualFold(v.Info.District, district),
			health != "" && string(v.Health) != health,
			kind != "" && v.Info.Kind != kind,
			contractor != "" && v.Info.Contractor != contractor,
			text != "" && !strings.Contains(strings.ToLower(v.ID+" "+v.Info.Name), text):
			continue
		}
		if p.Role == RolePublic {
			if pub.Total >= offset && len(pub.Items) < limit {
				pub.Items = append(pub.Items, s.kinds.publicRow(v))
			}
			pub.Total++
			continue
		}
		switch v.Health {
		case twin.Red:
			page.Counts.Red++
		case twin.Amber:
			page.Counts.Amber++
		default:
			page.Counts.Green++
		}
		if page.Total >= offset && len(page.Items) < limit {
			page.Items = append(page.Items, summarize(v))
		}
		page.Total++
	}
	if p.Role == RolePublic {
		writeJSON(w, http.StatusOK, pub)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// visibleTwin looks up a twin the caller may see: 404 when there is none,
// 403 for a contractor not among its parties. ok false means answered.
func (s *Server) visibleTwin(w http.ResponseWriter, r *http.Request) (*twin.ProjectView, Principal, bool) {
	p := principalOf(r.Context())
	id := r.PathValue("project")
	v, ok := s.cfg.Source.Twin(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no twin for project %q", id))
		return nil, p, false
	}
	if p.Role == RoleContractor && !p.sees(&v.Info) {
		s.rejected(w, r, "forbidden")
		writeError(w, http.StatusForbidden, fmt.Sprintf("project %s: your unit %s is not one of its parties", id, p.Unit))
		return nil, p, false
	}
	return v, p, true
}

// twin serves GET /api/twins/{project}: the view, or its public fields for
// a public token.
func (s *Server) twin(w http.ResponseWriter, r *http.Request) {
	v, p, ok := s.visibleTwin(w, r)
	if !ok {
		return
	}
	if p.Role == RolePublic {
		writeJSON(w, http.StatusOK, s.kinds.publicProject(v))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// SeriesLimit is a limit drawn on a sensor chart: the band of one rule (in
// one period of the day, for rules with periods).
type SeriesLimit struct {
	Rule   string   `json:"rule"`
	Label  string   `json:"label"`
	Period string   `json:"period,omitempty"`
	Warn   *float64 `json:"warn,omitempty"`
	Stop   *float64 `json:"stop,omitempty"`
	Below  bool     `json:"below,omitempty"`
	// Aggregate is what the rule compares (mean, max, leq, rate ...) over
	// Window; a rate's limits are not in the series' unit.
	Aggregate string `json:"aggregate,omitempty"`
	Window    string `json:"window,omitempty"`
}

// SeriesReport is the body of GET /api/twins/{project}/sites/{site}/series.
type SeriesReport struct {
	Project string             `json:"project"`
	Site    string             `json:"site"`
	Key     string             `json:"key"`
	Unit    string             `json:"unit"`
	Points  []twin.SensorPoint `json:"points"`
	Limits  []SeriesLimit      `json:"limits"`
}

// series serves GET /api/twins/{project}/sites/{site}/series?key=: the
// last hour of one sensor (key: kind or kind@equipment) per minute, with
// the limits of the rules on it. The public may read dust and noise only.
func (s *Server) series(w http.ResponseWriter, r *http.Request) {
	q := &query{r: r}
	key := q.str("key")
	if key == "" {
		writeError(w, http.StatusBadRequest, "query parameter key: is required (a sensor kind such as pm10, or kind@equipment)")
		return
	}
	v, p, ok := s.visibleTwin(w, r)
	if !ok {
		return
	}
	kind, equipment, _ := strings.Cut(key, "@")
	if p.Role == RolePublic && (equipment != "" || !slices.Contains(disturbanceKinds, kind)) {
		writeError(w, http.StatusForbidden, "a public token may read the dust and noise series only ("+strings.Join(disturbanceKinds, ", ")+")")
		return
	}
	siteID := r.PathValue("site")
	var site *twin.SiteView
	for i := range v.Sites {
		if v.Sites[i].ID == siteID {
			site = &v.Sites[i]
		}
	}
	if site == nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("project %s has no site %q", v.ID, siteID))
		return
	}
	rep := SeriesReport{Project: v.ID, Site: siteID, Key: key, Unit: twin.CanonicalUnit(kind), Points: []twin.SensorPoint{}, Limits: []SeriesLimit{}}
	if ss, ok := s.cfg.Source.(SeriesSource); ok {
		if pts, ok := ss.Series(v.ID, siteID, key); ok {
			rep.Points = pts
		}
	}
	var eq *twin.Equipment
	for i := range site.Equipment {
		if site.Equipment[i].ID == equipment {
			eq = &site.Equipment[i]
		}
	}
	for _, sr := range s.cfg.Rules.Sensor {
		if !slices.Contains(sr.Kinds, kind) {
			continue
		}
		lim := SeriesLimit{Rule: sr.ID, Label: sr.Label, Aggregate: sr.Aggregate}
		if sr.Window > 0 {
			lim.Window = sr.Window.D().String()
		}
		switch {
		case sr.Band != nil:
			l := lim
			l.Warn, l.Stop, l.Below = sr.Band.Warn, sr.Band.Stop, sr.Band.Below
			rep.Limits = append(rep.Limits, l)
		case len(sr.Periods) > 0:
			for _, per := range sr.Periods {
				l := lim
				l.Period = per.Name + " " + per.From + "–" + per.To
				l.Warn, l.Stop, l.Below = per.Band.Warn, per.Band.Stop, per.Band.Below
				rep.Limits = append(rep.Limits, l)
			}
		case sr.Relative != nil:
			base := eq.Base(sr.Relative.Base)
			if base == 0 {
				base = sr.Relative.Default
			}
			l := lim
			if sr.Relative.Warn > 0 {
				l.Warn = ptr(sr.Relative.Warn * base)
			}
			l.Stop = ptr(sr.Relative.Stop * base)
			rep.Limits = append(rep.Limits, l)
		}
	}
	writeJSON(w, http.StatusOK, rep)
}

// AuditReport is the body of GET /api/twins/{project}/audit.
type AuditReport struct {
	Project  string             `json:"project"`
	Verified bool               `json:"verified"`
	Break    string             `json:"break,omitempty"`
	Records  []twin.AuditRecord `json:"records"`
}

// audit serves GET /api/twins/{project}/audit: the chain and whether it holds.
func (s *Server) audit(w http.ResponseWriter, r *http.Request) {
	v, _, ok := s.visibleTwin(w, r)
	if !ok {
		return
	}
	id := v.ID
	rep := AuditReport{Project: id, Verified: true, Records: v.Audit}
	if rep.Records == nil {
		rep.Records = []twin.AuditRecord{}
	}
	if b := twin.VerifyChain(id, v.Audit); b != nil {
		rep.Verified, rep.Break = false, b.Error()
	}
	writeJSON(w, http.StatusOK, rep)
}

// ActiveAlarm is an alarm standing now, with its project.
type ActiveAlarm struct {
	Project  string `json:"project"`
	District string `json:"district,omitempty"`
	twin.Alarm
}

// alerts serves GET /api/alerts?limit=&project=&district=&level=&rule=&kind=&active=.
// By default it lists recent alert events, newest first; with active=true it
// lists the alarms standing now, worst first. A contractor sees its own
// projects' alerts; the public sees dust and noise alerts, without the
// responsible unit.
func (s *Server) alerts(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	q := &query{r: r}
	limit := q.intIn("limit", 100, 1, 10000)
	f := alertFilter{Project: q.str("project"), District: q.str("district"), Rule: q.str("rule")}
	f.Level = q.oneOf("level", "ok", "warn", "stop")
	f.Kind = q.oneOf("kind", "sensor", "schedule", "funds", "wages", "hazard", "incident", "weather", "credit", "risk", "filing", "disbursement", "other")
	active := q.oneOf("active", "true", "false") == "true"
	if q.err != nil {
		writeError(w, http.StatusBadRequest, q.err.Error())
		return
	}
	if active {
		out := []any{}
		for _, v := range s.cfg.Source.Twins() {
			if f.Project != "" && v.ID != f.Project || f.District != "" && !strings.EqualFold(v.Info.District, f.District) ||
				p.Role == RoleContractor && !p.sees(&v.Info) {
				continue
			}
			for _, a := range v.Alarms {
				al := twin.Alert{Project: v.ID, District: v.Info.District, Rule: a.Rule, Key: a.Key, Level: a.Level}
				if f.Level != "" && a.Level.String() != f.Level || f.Rule != "" && a.Rule != f.Rule ||
					f.Kind != "" && s.kinds.alertKind(a.Rule, a.Key) != f.Kind || !s.kinds.alertVisible(p, &al, &v.Info) {
					continue
				}
				if p.Role == RolePublic {
					out = append(out, PublicAlarm{Rule: a.Rule, Level: a.Level.String(), Reason: a.Reason, Since: a.Since})
					continue
				}
				out = append(out, ActiveAlarm{Project: v.ID, District: v.Info.District, Alarm: a})
			}
		}
		level := func(x any) int {
			switch a := x.(type) {
			case ActiveAlarm:
				return int(a.Level)
			case PublicAlarm:
				return map[string]int{"warn": 1, "stop": 2}[a.Level]
			}
			return 0
		}
		slices.SortStableFunc(out, func(a, b any) int { return level(b) - level(a) })
		if len(out) > limit {
			out = out[:limit]
		}
		writeJSON(w, http.StatusOK, map[string]any{"active": out, "total": len(out)})
		return
	}
	infos := map[string]*twin.ProjectInfo{}
	if p.Role == RoleContractor {
		for _, v := range s.cfg.Source.Twins() {
			infos[v.ID] = &v.Info
		}
	}
	out := []any{}
	for _, a := range s.cfg.Source.Alerts(0) {
		if !f.match(s.kinds, &a) || !s.kinds.alertVisible(p, &a, infos[a.Project]) {
			continue
		}
		if p.Role == RolePublic {
			out = append(out, s.kinds.publicAlert(a))
		} else {
			out = append(out, s.kinds.item(a))
		}
		if len(out) == limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": out, "total": len(out)})
}

// NearSite is one row of GET /api/sites/near.
type NearSite struct {
	Project    string           `json:"project"`
	District   string           `json:"district,omitempty"`
	Site       string           `json:"site"`
	Name       string           `json:"name,omitempty"`
	Lat        float64          `json:"lat"`
	Lon        float64          `json:"lon"`
	DistanceKm float64          `json:"distance_km"`
	Health     twin.Health      `json:"health"`
	Reasons    []string         `json:"reasons"`
	Cranes     []twin.Equipment `json:"cranes"`
	Pits       []twin.Equipment `json:"pits"`
}

// PublicNearSite is a row of GET /api/sites/near for a public token.
type PublicNearSite struct {
	Project    string  `json:"project"`
	District   string  `json:"district,omitempty"`
	Site       string  `json:"site"`
	Name       string  `json:"name,omitempty"`
	Lat        float64 `json:"lat"`
	Lon        float64 `json:"lon"`
	DistanceKm float64 `json:"distance_km"`
}

// near serves GET /api/sites/near?lat=&lon=&radius_km=: every registered
// site within the radius, nearest first, with its cranes and pits.
func (s *Server) near(w http.ResponseWriter, r *http.Request) {
	q := &query{r: r}
	lat := q.float("lat", -90, 90, true)
	lon := q.float("lon", -180, 180, true)
	radius := q.float("radius_km", 0, 20000, true)
	limit := q.intIn("limit", 1000, 1, 100000)
	if q.err != nil {
		writeError(w, http.StatusBadRequest, q.err.Error()+" (example: /api/sites/near?lat=22.54&lon=114.06&radius_km=10)")
		return
	}
	p := principalOf(r.Context())
	out := []NearSite{}
	for _, v := range s.cfg.Source.Twins() {
		if p.Role == RoleContractor && !p.sees(&v.Info) {
			continue
		}
		for _, site := range v.Sites {
			if !site.Registered {
				continue
			}
			d := twin.DistanceKm(lat, lon, site.Lat, site.Lon)
			if d > radius {
				continue
			}
			ns := NearSite{
				Project: v.ID, District: v.Info.District, Site: site.ID, Name: site.Name, Lat: site.Lat, Lon: site.Lon,
				DistanceKm: math.Round(d*1000) / 1000, Health: site.Health, Reasons: site.Reasons,
				Cranes: []twin.Equipment{}, Pits: []twin.Equipment{},
			}
			for _, eq := range site.Equipment {
				switch eq.Kind {
				case twin.KindTowerCrane:
					ns.Cranes = append(ns.Cranes, eq)
				case twin.KindFoundationPit:
					ns.Pits = append(ns.Pits, eq)
				}
			}
			out = append(out, ns)
		}
	}
	slices.SortStableFunc(out, func(a, b NearSite) int {
		switch {
		case a.DistanceKm < b.DistanceKm:
			return -1
		case a.DistanceKm > b.DistanceKm:
			return 1
		}
		return strings.Compare(a.Site, b.Site)
	})
	total := len(out)
	if len(out) > limit {
		out = out[:limit]
	}
	if p.Role == RolePublic {
		pub := make([]PublicNearSite, len(out))
		for i, n := range out {
			pub[i] = PublicNearSite{Project: n.Project, District: n.District, Site: n.Site, Name: n.Name, Lat: n.Lat, Lon: n.Lon, DistanceKm: n.DistanceKm}
		}
		writeJSON(w, http.StatusOK, map[string]any{"lat": lat, "lon": lon, "radius_km": radius, "total": total, "sites": pub})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"lat": lat, "lon": lon, "radius_km": radius, "total": total, "sites": out})
}

// healthz serves GET /healthz: 200 when healthy, 503 with the reason when
// degraded.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Health != nil {
		if err := s.cfg.Health(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "degraded", "reason": err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
