package scenarios

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// Scenario kinds.
const (
	KindTyphoon       = "typhoon"        // a track (best track file or one advisory)
	KindRainstorm     = "rainstorm"      // a rainfall field of moving cells
	KindCraneCollapse = "crane_collapse" // a tower crane falls at a site
	KindPitCollapse   = "pit_collapse"   // a foundation pit fails at a site
	KindFire          = "fire"           // a fire at a site
	KindEvents        = "events"         // only the injected events
)

// Kinds lists the scenario kinds, in the order the docs give them.
func Kinds() []string {
	return []string{KindTyphoon, KindRainstorm, KindCraneCollapse, KindPitCollapse, KindFire, KindEvents}
}

// Team capabilities a scenario's incidents ask for.
const (
	CapRescue  = "rescue"  // heavy rescue: collapses, people trapped
	CapFire    = "fire"    // fire fighting
	CapMedical = "medical" // ambulance: injured people to hospital
)

// Limits of a scenario, so that a mistyped file cannot ask for a run that
// never ends.
const (
	MaxDuration = 30 * 24 * time.Hour // longest drill
	MinStep     = time.Minute         // finest time step
	MaxSteps    = 20_000              // duration / step
	maxListLen  = 10_000              // teams, shelters, events, cells
	maxFileLen  = 8 << 20             // scenario file size
)

// Region is where every point of a typhoon track must lie: the western
// North Pacific basin and the land its storms reach, 0°–65°N, 90°E–180°E
// (RSMC Tokyo's area of responsibility for tropical cyclone advisories,
// 0°–60°N, 100°E–180°E, per the WMO Typhoon Committee Operational Manual,
// TCP-23, widened 10° west and 5° north so that a best track may go on
// over land as Hato's did into Yunnan).
var Region = struct{ MinLat, MaxLat, MinLon, MaxLon float64 }{0, 65, 90, 180}

// NearKm is how near a typhoon track must come to the city's sites for the
// drill to concern it (800 km: the range at which Hong Kong and Shenzhen
// begin to warn of a tropical cyclone, as Storm's WithinKm).
const NearKm = 800.0

// Scenario is a drill: what is laid over the city, when, and with which
// response resources. Decode one with Parse; Run runs it.
type Scenario struct {
	// Name is shown in reports; ID names the drill in events and files
	// (default: derived from Name).
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
	// Kind is one of Kinds().
	Kind string `json:"kind"`
	// Start is when the drill begins in simulated time. Zero: the fork
	// instant (the newest event time of the forked twins). A start before
	// the fork instant is an error: the twins already hold later events.
	Start time.Time `json:"start,omitzero"`
	// Duration is how long the drill runs and Step its time step (the
	// timeline has one entry per step).
	Duration twin.Duration `json:"duration"`
	Step     twin.Duration `json:"step"`
	// Seed seeds every random choice of the drill (forecast errors,
	// anemometer noise, incidents, injuries).
	Seed uint64 `json:"seed"`

	Typhoon   *TyphoonSpec   `json:"typhoon,omitempty"`
	Rainstorm *RainstormSpec `json:"rainstorm,omitempty"`
	// Incident is the crane_collapse, pit_collapse or fire.
	Incident *IncidentSpec `json:"incident,omitempty"`
	// Events are injected events (any kind may have them; kind "events"
	// has only them).
	Events []InjectedEvent `json:"events,omitempty"`

	Resources Resources `json:"resources"`
	// DetourFactor is road distance over great-circle distance for travel
	// times. 0: DefaultDetourFactor.
	DetourFactor float64 `json:"detour_factor,omitempty"`
	// WorkersPerSite estimates the people to move to a shelter from a
	// site (twins do not count workers). 0: DefaultWorkersPerSite.
	WorkersPerSite int `json:"workers_per_site,omitempty"`

	track  *predict.Track // the typhoon's best track, as read (not shifted)
	events []*twin.Event  // injected events, decoded, times relative to a zero start
}

// DefaultDetourFactor is the road detour factor: network distance in a city
// is about 1.2 times the straight-line distance (Newell 1980; O'Sullivan
// 1996 measured 1.21–1.23 around transit stations; both as summarised in
// Wikibooks, "Transportation Geography and Network Science/Circuity").
const DefaultDetourFactor = 1.2

// DefaultWorkersPerSite is the people a site moves to a shelter when the
// scenario does not say (a sitetwin default; set the city's own figure from
// its real-name worker registration).
const DefaultWorkersPerSite = 60

// TyphoonSpec is a typhoon: a best track from a file (what happened, from
// which the drill issues advisories with seeded forecast errors) or a
// single advisory (its forecast track is taken as what happens).
type TyphoonSpec struct {
	// Name of the storm (default the track's).
	Name string `json:"name,omitempty"`
	// TrackFile is a best track (RSMC Tokyo, CLIMADA CSV or plain CSV; see
	// predict.ParseTrack), relative to the scenario file.
	TrackFile string `json:"track_file,omitempty"`
	// Advisory is one typhoon.advisory's data instead of a track file.
	Advisory *twin.TyphoonAdvisory `json:"advisory,omitempty"`
	// ClosestAfter moves the track in time so that its closest approach to
	// the city comes this long after the drill's start. Zero: the track
	// keeps its own times (they must overlap the drill).
	ClosestAfter twin.Duration `json:"closest_after,omitempty"`
	// AdvisoryEvery (default 6h) and Lead (default 72h) of the advisories
	// issued from a best track.
	AdvisoryEvery twin.Duration `json:"advisory_every,omitempty"`
	Lead          twin.Duration `json:"lead,omitempty"`
	// Members of the track ensemble behind each crane's P(exceed) (0: 50).
	Members int `json:"members,omitempty"`
	// CollapseProbability is the chance that a crane whose jib gust goes
	// above its out-of-service rating collapses (0: 0.1, a sitetwin
	// default; -1: never).
	CollapseProbability float64 `json:"collapse_probability,omitempty"`
}

// RainstormSpec is a rainstorm: a field of rain cells.
type RainstormSpec struct {
	Cells []RainCell `json:"cells"`
	// PitFailureMM is the rainfall in 3 h at a site above which one of its
	// pits may fail (0: 100 mm, the Guangdong red rainstorm criterion).
	PitFailureMM float64 `json:"pit_failure_mm,omitempty"`
	// PitFailureProbability is that chance per pit (0: 0.1, a sitetwin
	// default; -1: never).
	PitFailureProbability float64 `json:"pit_failure_probability,omitempty"`
}

// RainCell is a rain cell: a Gaussian rain rate around a centre that
// moves in a straight line while it lives.
type RainCell struct {
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
	RadiusKm float64 `json:"radius_km"` // standard deviation of the rate's fall-off
	// PeakMMPerHour is the rain rate at the centre.
	PeakMMPerHour float64 `json:"peak_mm_per_h"`
	// From and Until are offsets from the drill's start.
	From  twin.Duration `json:"from"`
	Until twin.Duration `json:"until"`
	// SpeedKmh and HeadingDeg (0 north, 90 east) move the centre.
	SpeedKmh   float64 `json:"speed_kmh,omitempty"`
	HeadingDeg float64 `json:"heading_deg,omitempty"`
}

// IncidentSpec is a collapse or a fire at a site.
type IncidentSpec struct {
	Site string `json:"site"`
	// Equipment is the crane or pit (default the site's first of the
	// kind the scenario needs).
	Equipment string `json:"equipment,omitempty"`
	// After is the offset of the incident from the drill's start.
	After twin.Duration `json:"after"`
	// Injuries (default 0) and Severity (default serious, or fatal with
	// Fatalities) as incident.reported says.
	Injuries int    `json:"injuries,omitempty"`
	Severity string `json:"severity,omitempty"`
	// Precursor adds the readings that would have come before (a crane's
	// tilt, a pit's displacement) in the hours before; default true.
	Precursor *bool `json:"precursor,omitempty"`
}

// InjectedEvent is a CloudEvent (as the engine receives it) placed at an
// offset from the drill's start; its own time is replaced.
type InjectedEvent struct {
	After twin.Duration   `json:"after"`
	Event json.RawMessage `json:"event"`
}

// Resources are what the command centre can send and where people go.
type Resources struct {
	Teams     []Team     `json:"teams"`
	Hospitals []Hospital `json:"hospitals,omitempty"`
	Shelters  []Shelter  `json:"shelters,omitempty"`
}

// LatLon is a position.
type LatLon struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Team is a rescue team.
type Team struct {
	ID   string  `json:"id"`
	Name string  `json:"name,omitempty"`
	Base *LatLon `json:"base"`
	// SpeedKmh is its road speed (0: 40 km/h, a sitetwin default for an
	// emergency vehicle in a city).
	SpeedKmh float64 `json:"speed_kmh,omitempty"`
	// Capabilities are what it can do: rescue, fire, medical.
	Capabilities []string `json:"capabilities"`
	// OnScene is how long it works at an incident (0: 90 minutes, a
	// sitetwin default).
	OnScene twin.Duration `json:"on_scene,omitempty"`
}

// Hospital takes the injured.
type Hospital struct {
	ID   string  `json:"id"`
	Name string  `json:"name,omitempty"`
	Lat  float64 `json:"lat"`
	Lon  float64 `json:"lon"`
}

// Shelter takes workers moved from sites.
type Shelter struct {
	ID       string  `json:"id"`
	Name     string  `json:"name,omitempty"`
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
	Capacity int     `json:"capacity"`
}

// FieldError says which field of a scenario is wrong and which rule it
// broke. Parse and Check return them, joined.
type FieldError struct {
	Field string // dotted path, e.g. "resources.teams[2].base"
	Rule  string
}

// Error is "scenario: FIELD: RULE".
func (e *FieldError) Error() string { return "scenario: " + e.Field + ": " + e.Rule }

// ReadFunc reads a file the scenario names (a track), relative to the
// scenario file. Only cmd reads files; tests pass os.ReadFile of a joined
// path, or a map.
type ReadFunc func(name string) ([]byte, error)

// Parse decodes a scenario (JSON; unknown fields are errors) and validates
// it before anything runs: every error names its field. read reads a
// track file; nil means the scenario may not name one.
func Parse(b []byte, read ReadFunc) (*Scenario, error) {
	if len(b) > maxFileLen {
		return nil, &FieldError{"scenario", fmt.Sprintf("must be at most %d bytes", maxFileLen)}
	}
	var s Scenario
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return nil, &FieldError{ute.Field, fmt.Sprintf("must be a %s, not a JSON %s", jsonType(ute.Type.Kind().String()), ute.Value)}
		}
		return nil, fmt.Errorf("scenario: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("scenario: trailing data after the JSON object")
	}
	if err := s.validate(read); err != nil {
		return nil, err
	}
	return &s, nil
}

type checker struct{ errs []error }

func (c *checker) bad(field, format string, args ...any) {
	c.errs = append(c.errs, &FieldError{field, fmt.Sprintf(format, args...)})
}

func (c *checker) finite(field string, v, lo, hi float64) bool {
	if math.IsNaN(v) || v < lo || v > hi {
		c.bad(field, "must be between %g and %g, is %g", lo, hi, v)
		return false
	}
	return true
}

func (c *checker) latlon(field string, lat, lon float64) {
	c.finite(field+".lat", lat, -90, 90)
	c.finite(field+".lon", lon, -180, 360)
}

func (c *checker) id(field, v string) {
	switch {
	case v == "":
		c.bad(field, "is required")
	case len(v) > 200 || strings.ContainsAny(v, " \t\r\n\"<>&'#"):
		c.bad(field, "must be at most 200 characters without spaces, quotes, <, >, & or #")
	}
}

func (s *Scenario) validate(read ReadFunc) error {
	c := &checker{}
	if s.Name == "" {
		c.bad("name", "is required")
	}
	if len(s.Name) > 200 {
		c.bad("name", "must be at most 200 characters")
	}
	if s.ID == "" {
		s.ID = slug(s.Name)
	}
	c.id("id", s.ID)
	if !slices.Contains(Kinds(), s.Kind) {
		if s.Kind == "" {
			c.bad("kind", "is required (one of %s)", strings.Join(Kinds(), ", "))
		} else {
			c.bad("kind", "unknown kind %q (known: %s)", s.Kind, strings.Join(Kinds(), ", "))
		}
	}
	if !s.Start.IsZero() && (s.Start.Year() < 1980 || s.Start.Year() > 2190) {
		c.bad("start", "must be between 1980 and 2190")
	}
	d, st := s.Duration.D(), s.Step.D()
	switch {
	case d <= 0:
		c.bad("duration", "is required and must be positive, e.g. \"72h\"")
	case d > MaxDuration:
		c.bad("duration", "must be at most %s", MaxDuration)
	}
	switch {
	case st <= 0:
		c.bad("step", "is required and must be positive, e.g. \"10m\"")
	case st < MinStep:
		c.bad("step", "must be at least %s", MinStep)
	case d > 0 && st > d:
		c.bad("step", "%s is larger than the duration %s", st, d)
	case d > 0 && d/st > MaxSteps:
		c.bad("step", "%s gives %d steps over %s, more than %d", st, d/st, d, MaxSteps)
	}
	if s.DetourFactor != 0 {
		c.finite("detour_factor", s.DetourFactor, 1, 5)
	}
	if s.WorkersPerSite < 0 || s.WorkersPerSite > 100_000 {
		c.bad("workers_per_site", "must be between 0 and 100000")
	}
	want := map[string]string{KindTyphoon: "typhoon", KindRainstorm: "rainstorm", KindCraneCollapse: "incident", KindPitCollapse: "incident", KindFire: "incident"}
	has := map[string]bool{"typhoon": s.Typhoon != nil, "rainstorm": s.Rainstorm != nil, "incident": s.Incident != nil}
	for _, sec := range []string{"typhoon", "rainstorm", "incident"} {
		switch {
		case want[s.Kind] == sec && !has[sec]:
			c.bad(sec, "is required for kind %s", s.Kind)
		case want[s.Kind] != sec && has[sec] && s.Kind != "":
			c.bad(sec, "is not used by kind %s (remove it, or set kind to the one it describes)", s.Kind)
		}
	}
	if s.Typhoon != nil && s.Kind == KindTyphoon {
		s.validateTyphoon(c, read)
	}
	if s.Rainstorm != nil && s.Kind == KindRainstorm {
		s.validateRain(c)
	}
	if s.Incident != nil && want[s.Kind] == "incident" {
		s.validateIncident(c)
	}
	if s.Kind == KindEvents && len(s.Events) == 0 {
		c.bad("events", "kind events needs at least one event")
	}
	s.validateEvents(c)
	s.validateResources(c)
	return errors.Join(c.errs...)
}

func (s *Scenario) validateTyphoon(c *checker, read ReadFunc) {
	t := s.Typhoon
	switch {
	case t.TrackFile == "" && t.Advisory == nil:
		c.bad("typhoon.track_file", "give a track file or an advisory")
	case t.TrackFile != "" && t.Advisory != nil:
		c.bad("typhoon.track_file", "give a track file or an advisory, not both")
	case t.TrackFile != "":
		if read == nil {
			c.bad("typhoon.track_file", "files cannot be read here: give the track as an advisory")
			break
		}
		b, err := read(t.TrackFile)
		if err != nil {
			c.bad("typhoon.track_file", "cannot read %s: %v", t.TrackFile, err)
			break
		}
		tr, err := predict.ParseTrack(bytes.NewReader(b))
		if err != nil {
			c.bad("typhoon.track_file", "%s: %v", t.TrackFile, err)
			break
		}
		// a best track's depression stages carry no max wind (JMA gives
		// none below tropical storm): the wind model would see a calm
		// storm, so such points are left out at the track's ends
		lo, hi := 0, len(tr.Points)
		for lo < hi && tr.Points[lo].MaxWindMS == 0 {
			lo++
		}
		for hi > lo && tr.Points[hi-1].MaxWindMS == 0 {
			hi--
		}
		if hi-lo >= 2 {
			tr.Points = tr.Points[lo:hi]
		}
		s.track = tr
	default:
		tr, err := predict.TrackFromAdvisory(t.Advisory)
		if err != nil {
			c.bad("typhoon.advisory", "%v", err)
			break
		}
		s.track = tr
	}
	if s.track != nil {
		if t.Name == "" {
			t.Name = s.track.Name
		}
		for i, p := range s.track.Points {
			if p.Lat < Region.MinLat || p.Lat > Region.MaxLat || p.Lon < Region.MinLon || p.Lon > Region.MaxLon {
				f := "typhoon.track_file"
				if t.Advisory != nil {
					f = fmt.Sprintf("typhoon.advisory.track[%d]", i)
				}
				c.bad(f, "point %d (%.2f N, %.2f E) is outside the region %g–%g°N, %g–%g°E (the western North Pacific basin)", i+1, p.Lat, p.Lon,
					Region.MinLat, Region.MaxLat, Region.MinLon, Region.MaxLon)
				break
			}
		}
	}
	if t.Name == "" {
		t.Name = "typhoon"
	}
	if t.ClosestAfter < 0 || t.ClosestAfter.D() > s.Duration.D() && s.Duration > 0 {
		c.bad("typhoon.closest_after", "must be between 0 and the duration %s", s.Duration.D())
	}
	if t.AdvisoryEvery != 0 && (t.AdvisoryEvery.D() < time.Hour || t.AdvisoryEvery.D() > 24*time.Hour) {
		c.bad("typhoon.advisory_every", "must be between 1h and 24h")
	}
	if t.Lead != 0 && (t.Lead.D() < 6*time.Hour || t.Lead.D() > 240*time.Hour) {
		c.bad("typhoon.lead", "must be between 6h and 240h")
	}
	if t.Members < 0 || t.Members > predict.MaxEnsembleMembers {
		c.bad("typhoon.members", "must be between 0 (meaning 50) and %d", predict.MaxEnsembleMembers)
	}
	if t.CollapseProbability != -1 {
		c.finite("typhoon.collapse_probability", t.CollapseProbability, 0, 1)
	}
}

func (s *Scenario) validateRain(c *checker) {
	r := s.Rainstorm
	if len(r.Cells) == 0 {
		c.bad("rainstorm.cells", "needs at least one rain cell")
	}
	if len(r.Cells) > maxListLen {
		c.bad("rainstorm.cells", "at most %d", maxListLen)
	}
	for i, cell := range r.Cells {
		f := fmt.Sprintf("rainstorm.cells[%d]", i)
		c.latlon(f, cell.Lat, cell.Lon)
		c.finite(f+".radius_km", cell.RadiusKm, 0.1, 500)
		c.finite(f+".peak_mm_per_h", cell.PeakMMPerHour, 0, 500)
		c.finite(f+".speed_kmh", cell.SpeedKmh, 0, 200)
		c.finite(f+".heading_deg", cell.HeadingDeg, -360, 360)
		if cell.From < 0 || cell.Until <= cell.From {
			c.bad(f+".until", "must come after from, both offsets from the start (from %s, until %s)", cell.From.D(), cell.Until.D())
		}
	}
	if r.PitFailureMM != 0 {
		c.finite("rainstorm.pit_failure_mm", r.PitFailureMM, 1, 2000)
	}
	if r.PitFailureProbability != -1 {
		c.finite("rainstorm.pit_failure_probability", r.PitFailureProbability, 0, 1)
	}
}

func (s *Scenario) validateIncident(c *checker) {
	in := s.Incident
	c.id("incident.site", in.Site)
	if in.Equipment != "" {
		c.id("incident.equipment", in.Equipment)
	}
	if in.After < 0 || s.Duration > 0 && in.After > s.Duration {
		c.bad("incident.after", "must be between 0 and the duration %s", s.Duration.D())
	}
	if in.Injuries < 0 || in.Injuries > 10_000 {
		c.bad("incident.injuries", "must be between 0 and 10000")
	}
	if in.Severity != "" && !slices.Contains(twin.IncidentSeverities(), in.Severity) {
		c.bad("incident.severity", "must be one of %s", strings.Join(twin.IncidentSeverities(), ", "))
	}
}

// validateEvents decodes each injected event as the engine would, with its
// time set to its offset from a zero start (Run moves it).
func (s *Scenario) validateEvents(c *checker) {
	if len(s.Events) > maxListLen {
		c.bad("events", "at most %d", maxListLen)
		return
	}
	s.events = s.events[:0]
	for i, in := range s.Events {
		f := fmt.Sprintf("events[%d]", i)
		if in.After < 0 || s.Duration > 0 && in.After > s.Duration {
			c.bad(f+".after", "must be between 0 and the duration %s", s.Duration.D())
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(in.Event, &m); err != nil || m == nil {
			c.bad(f+".event", "must be a CloudEvent (a JSON object)")
			continue
		}
		m["time"] = eventEpoch.Add(in.After.D()).Format(time.RFC3339Nano)
		if _, ok := m["specversion"]; !ok {
			m["specversion"] = twin.SpecVersion
		}
		if _, ok := m["source"]; !ok {
			m["source"] = "sitetwin/drill"
		}
		b, _ := json.Marshal(m)
		e, err := twin.Decode(b)
		if err != nil {
			var ve *twin.ValidationError
			if errors.As(err, &ve) {
				c.bad(f+".event."+ve.Field, "%s", ve.Rule)
			} else {
				c.bad(f+".event", "%v", err)
			}
			continue
		}
		s.events = append(s.events, e)
	}
}

// eventEpoch is the zero start injected events are decoded against.
var eventEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

func (s *Scenario) validateResources(c *checker) {
	r := &s.Resources
	if len(r.Teams) > maxListLen || len(r.Hospitals) > maxListLen || len(r.Shelters) > maxListLen {
		c.bad("resources", "at most %d teams, hospitals and shelters each", maxListLen)
		return
	}
	ids := map[string]string{}
	unique := func(f, id string) {
		c.id(f+".id", id)
		if prev, ok := ids[id]; ok && id != "" {
			c.bad(f+".id", "%q is already the id of %s", id, prev)
		}
		ids[id] = f
	}
	for i, t := range r.Teams {
		f := fmt.Sprintf("resources.teams[%d]", i)
		unique(f, t.ID)
		if t.Base == nil {
			c.bad(f+".base", "is required: where the team starts ({\"lat\": ..., \"lon\": ...})")
		} else {
			c.latlon(f+".base", t.Base.Lat, t.Base.Lon)
		}
		if t.SpeedKmh != 0 {
			c.finite(f+".speed_kmh", t.SpeedKmh, 1, 300)
		}
		if len(t.Capabilities) == 0 {
			c.bad(f+".capabilities", "needs at least one of %s, %s, %s", CapRescue, CapFire, CapMedical)
		}
		for j, cp := range t.Capabilities {
			if !slices.Contains([]string{CapRescue, CapFire, CapMedical}, cp) {
				c.bad(fmt.Sprintf("%s.capabilities[%d]", f, j), "unknown capability %q (known: %s, %s, %s)", cp, CapRescue, CapFire, CapMedical)
			}
		}
		if t.OnScene < 0 || t.OnScene.D() > 48*time.Hour {
			c.bad(f+".on_scene", "must be between 0 and 48h")
		}
	}
	for i, h := range r.Hospitals {
		f := fmt.Sprintf("resources.hospitals[%d]", i)
		unique(f, h.ID)
		c.latlon(f, h.Lat, h.Lon)
	}
	for i, sh := range r.Shelters {
		f := fmt.Sprintf("resources.shelters[%d]", i)
		unique(f, sh.ID)
		c.latlon(f, sh.Lat, sh.Lon)
		if sh.Capacity <= 0 || sh.Capacity > 1_000_000 {
			c.bad(f+".capacity", "must be between 1 and 1000000 people")
		}
	}
}

// Check validates the scenario against the city it will run on: the sites
// and equipment it names exist, the projects of injected events exist, a
// typhoon's track comes within NearKm of the city, and the start is not
// before the fork instant. It is called by Run; call it earlier to report
// errors before forking.
func (s *Scenario) Check(twins []*twin.ProjectTwin) error {
	c := &checker{}
	sites := map[string]*twin.SiteTwin{}
	projects := map[string]*twin.ProjectTwin{}
	var fork time.Time
	for _, p := range twins {
		projects[p.ID] = p
		if p.Clock.After(fork) {
			fork = p.Clock
		}
		for id, st := range p.Sites {
			sites[id] = st
		}
	}
	if len(sites) == 0 {
		c.bad("city", "has no sites: nothing to drill on")
	}
	if !s.Start.IsZero() && s.Start.Before(fork) {
		c.bad("start", "%s is before the fork instant %s (the twins already hold later events); leave start out to begin at the fork",
			s.Start.UTC().Format(time.RFC3339), fork.UTC().Format(time.RFC3339))
	}
	if in := s.Incident; in != nil && in.Site != "" {
		st, ok := sites[in.Site]
		switch {
		case !ok:
			c.bad("incident.site", "site %q does not exist in the city (%s)", in.Site, siteHint(sites))
		case in.Equipment != "":
			eq, ok := st.Equipment[in.Equipment]
			need := map[string]string{KindCraneCollapse: twin.KindTowerCrane, KindPitCollapse: twin.KindFoundationPit}[s.Kind]
			if !ok {
				c.bad("incident.equipment", "equipment %q does not exist at site %s", in.Equipment, in.Site)
			} else if need != "" && eq.Kind != need {
				c.bad("incident.equipment", "%s is a %s, not a %s", in.Equipment, eq.Kind, need)
			}
		case s.Kind == KindCraneCollapse && firstOf(st, twin.KindTowerCrane) == "":
			c.bad("incident.site", "site %s has no tower crane to collapse", in.Site)
		case s.Kind == KindPitCollapse && firstOf(st, twin.KindFoundationPit) == "":
			c.bad("incident.site", "site %s has no foundation pit to collapse", in.Site)
		}
	}
	for i, e := range s.events {
		if e.Project != twin.CityWide {
			p, ok := projects[e.Project]
			if !ok {
				c.bad(fmt.Sprintf("events[%d].event.project", i), "project %q does not exist in the city", e.Project)
				continue
			}
			if e.Site != "" {
				if _, ok := p.Sites[e.Site]; !ok {
					c.bad(fmt.Sprintf("events[%d].event.site", i), "site %q does not exist in project %s", e.Site, e.Project)
				}
			}
		}
	}
	if s.track != nil && len(sites) > 0 {
		lat, lon := centre(twins)
		best := math.Inf(1)
		for _, p := range s.track.Points {
			best = min(best, twin.DistanceKm(lat, lon, p.Lat, p.Lon))
		}
		if best > NearKm {
			c.bad("typhoon.track_file", "the track comes no nearer than %.0f km to the city's centre (%.2f N, %.2f E), more than %.0f km: it does not concern this city",
				best, lat, lon, NearKm)
		}
	}
	return errors.Join(c.errs...)
}

func siteHint(sites map[string]*twin.SiteTwin) string {
	ids := make([]string, 0, len(sites))
	for id := range sites {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) > 3 {
		return "sites are named like " + strings.Join(ids[:3], ", ") + ", ..."
	}
	return "sites: " + strings.Join(ids, ", ")
}

// firstOf returns the first equipment of a kind at a site, by id.
func firstOf(s *twin.SiteTwin, kind string) string {
	var ids []string
	for id, e := range s.Equipment {
		if e.Kind == kind {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// centre is the mean position of the city's sites.
func centre(twins []*twin.ProjectTwin) (lat, lon float64) {
	n := 0
	for _, p := range twins {
		for _, s := range p.Sites {
			lat += s.Lat
			lon += s.Lon
			n++
		}
	}
	if n == 0 {
		return 0, 0
	}
	return lat / float64(n), lon / float64(n)
}

// slug turns a name into an id: lower case letters, digits and dashes.
func slug(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 60 {
			break
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if out == "" {
		return "drill"
	}
	return out
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "slice", "array":
		return "list"
	case "struct", "map", "ptr":
		return "object"
	case "bool":
		return "boolean"
	}
	return "number"
}
