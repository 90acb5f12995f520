package dashboard

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"

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

// Config configures the HTTP API.
type Config struct {
	// Source of twin state. Required.
	Source Source
	// Health reports whether the engine is healthy; nil means always.
	Health func() error
	// Metrics serves /metrics; nil serves 404 there.
	Metrics http.Handler
	// Stats returns the engine's counters for GET /api/stats (any value
	// that encodes as JSON); nil serves 404 there.
	Stats func() any
	// Logger receives request errors; default slog.Default().
	Logger *slog.Logger
}

// Server is the HTTP API and page. It is an http.Handler.
type Server struct {
	cfg Config
	mux *http.ServeMux
}

// New returns the API server.
func New(cfg Config) (*Server, error) {
	if cfg.Source == nil {
		return nil, errors.New("dashboard: no source")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.mux.HandleFunc("/api/twins", get(s.twins))
	s.mux.HandleFunc("/api/twins/{project}", get(s.twin))
	s.mux.HandleFunc("/api/twins/{project}/audit", get(s.audit))
	s.mux.HandleFunc("/api/alerts", get(s.alerts))
	s.mux.HandleFunc("/api/sites/near", get(s.near))
	if cfg.Stats != nil {
		s.mux.HandleFunc("/api/stats", get(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, cfg.Stats()) }))
	}
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no API endpoint %s (see GET / for the list)", r.URL.Path))
	})
	s.mux.HandleFunc("/healthz", get(s.healthz))
	if cfg.Metrics != nil {
		s.mux.Handle("/metrics", cfg.Metrics)
	}
	s.mux.HandleFunc("/{$}", get(s.index))
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found: "+r.URL.Path)
	})
	return s, nil
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

// twins serves GET /api/twins?district=&health=&kind=&contractor=&q=&limit=&offset=.
func (s *Server) twins(w http.ResponseWriter, r *http.Request) {
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
	page := TwinPage{Offset: offset, Limit: limit, Items: []TwinSummary{}}
	for _, v := range s.cfg.Source.Twins() {
		switch {
		case district != "" && !strings.EqualFold(v.Info.District, district),
			health != "" && string(v.Health) != health,
			kind != "" && v.Info.Kind != kind,
			contractor != "" && v.Info.Contractor != contractor,
			text != "" && !strings.Contains(strings.ToLower(v.ID+" "+v.Info.Name), text):
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
	writeJSON(w, http.StatusOK, page)
}

// twin serves GET /api/twins/{project}.
func (s *Server) twin(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("project")
	v, ok := s.cfg.Source.Twin(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no twin for project %q", id))
		return
	}
	writeJSON(w, http.StatusOK, v)
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
	id := r.PathValue("project")
	v, ok := s.cfg.Source.Twin(id)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no twin for project %q", id))
		return
	}
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

// alerts serves GET /api/alerts?limit=&project=&district=&level=&rule=&active=.
// By default it lists recent alert events, newest first; with active=true it
// lists the alarms standing now, worst first.
func (s *Server) alerts(w http.ResponseWriter, r *http.Request) {
	q := &query{r: r}
	limit := q.intIn("limit", 100, 1, 10000)
	project := q.str("project")
	district := q.str("district")
	level := q.oneOf("level", "warn", "stop")
	rule := q.str("rule")
	active := q.oneOf("active", "true", "false") == "true"
	if q.err != nil {
		writeError(w, http.StatusBadRequest, q.err.Error())
		return
	}
	if active {
		out := []ActiveAlarm{}
		for _, v := range s.cfg.Source.Twins() {
			if project != "" && v.ID != project || district != "" && !strings.EqualFold(v.Info.District, district) {
				continue
			}
			for _, a := range v.Alarms {
				if level != "" && a.Level.String() != level || rule != "" && a.Rule != rule {
					continue
				}
				out = append(out, ActiveAlarm{Project: v.ID, District: v.Info.District, Alarm: a})
			}
		}
		slices.SortStableFunc(out, func(a, b ActiveAlarm) int { return int(b.Level) - int(a.Level) })
		if len(out) > limit {
			out = out[:limit]
		}
		writeJSON(w, http.StatusOK, map[string]any{"active": out, "total": len(out)})
		return
	}
	out := []twin.Alert{}
	for _, a := range s.cfg.Source.Alerts(0) {
		if project != "" && a.Project != project || district != "" && !strings.EqualFold(a.District, district) ||
			level != "" && a.Level.String() != level || rule != "" && a.Rule != rule {
			continue
		}
		out = append(out, a)
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
	out := []NearSite{}
	for _, v := range s.cfg.Source.Twins() {
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
