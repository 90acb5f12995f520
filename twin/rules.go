package twin

import (
	_ "embed" // the default rule pack ships inside the binary
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // rule packs name IANA zones; do not depend on the host's zoneinfo
)

// Duration is a time.Duration written in JSON as a Go duration string
// ("5m", "1h30m").
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string such as "20m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"20m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Band holds the thresholds of a rule with hysteresis. For an "above" rule a
// value strictly above Warn raises a warning and strictly above Stop a stop;
// once raised, the alarm holds (at its level or higher) until the value falls
// strictly below Clear. A "below" rule mirrors this. A nil threshold means the
// level does not exist; a nil Clear means the lowest threshold.
type Band struct {
	Warn  *float64 `json:"warn,omitempty"`
	Stop  *float64 `json:"stop,omitempty"`
	Clear *float64 `json:"clear,omitempty"`
	// StopClear, when set, lets a stop ease to a warning once the value is
	// past it (below it for an "above" rule), before it is past Clear.
	// Unset, a stop holds until the value is past Clear.
	StopClear *float64 `json:"stop_clear,omitempty"`
	Below     bool     `json:"below,omitempty"` // alarm when the value falls below the thresholds
}

// implied returns the level the value alone reaches, and the threshold of
// that level (NaN for none).
func (b *Band) implied(x float64) (Level, float64) {
	cross := func(t *float64) bool {
		if t == nil {
			return false
		}
		if b.Below {
			return x < *t
		}
		return x > *t
	}
	switch {
	case cross(b.Stop):
		return LevelStop, *b.Stop
	case cross(b.Warn):
		return LevelWarn, *b.Warn
	}
	return LevelOK, math.NaN()
}

func (b *Band) clear() float64 {
	switch {
	case b.Clear != nil:
		return *b.Clear
	case b.Warn != nil:
		return *b.Warn
	case b.Stop != nil:
		return *b.Stop
	}
	return math.NaN()
}

// Next returns the level after seeing value x at level cur, with hysteresis,
// and the threshold that level stands on (NaN for LevelOK).
func (b *Band) Next(cur Level, x float64) (Level, float64) {
	lvl, th := b.implied(x)
	if lvl >= cur {
		return lvl, th
	}
	if b.past(x, b.clear()) {
		return lvl, th
	}
	if cur == LevelStop && b.StopClear != nil && b.Warn != nil && b.past(x, *b.StopClear) {
		return LevelWarn, *b.Warn
	}
	return cur, b.threshold(cur)
}

// past reports whether x is beyond a clearing threshold: below it for an
// "above" rule, above it for a "below" rule.
func (b *Band) past(x, c float64) bool {
	if b.Below {
		return x > c
	}
	return x < c
}

func (b *Band) threshold(l Level) float64 {
	switch {
	case l == LevelStop && b.Stop != nil:
		return *b.Stop
	case l == LevelWarn && b.Warn != nil:
		return *b.Warn
	}
	return math.NaN()
}

func (b *Band) check(field string) error {
	if b.Warn == nil && b.Stop == nil {
		return fmt.Errorf("%s: needs warn or stop", field)
	}
	if b.Warn != nil && b.Stop != nil {
		if !b.Below && *b.Stop < *b.Warn || b.Below && *b.Stop > *b.Warn {
			return fmt.Errorf("%s: stop must be beyond warn", field)
		}
	}
	if b.StopClear != nil {
		if b.Warn == nil || b.Stop == nil {
			return fmt.Errorf("%s: stop_clear needs both warn and stop", field)
		}
		lo, hi := b.clear(), *b.Stop
		if b.Below {
			lo, hi = hi, lo
		}
		if *b.StopClear < lo || *b.StopClear > hi {
			return fmt.Errorf("%s: stop_clear must lie between clear and stop", field)
		}
	}
	if b.Clear != nil {
		first := b.Warn
		if first == nil {
			first = b.Stop
		}
		if !b.Below && *b.Clear > *first || b.Below && *b.Clear < *first {
			return fmt.Errorf("%s: clear must not be beyond the first threshold (that would raise and clear at once)", field)
		}
	}
	return nil
}

// Relative is a band given as fractions of a property of the equipment (for
// example a crane's in-service wind limit), with a default when the
// equipment does not state it.
type Relative struct {
	Base    string  `json:"base"`    // equipment field: in_service_limit_ms, alarm_cumulative_mm, alarm_rate_mm_per_day
	Default float64 `json:"default"` // used when the equipment gives 0
	Warn    float64 `json:"warn,omitempty"`
	Stop    float64 `json:"stop"`
	Clear   float64 `json:"clear,omitempty"`
	Source  string  `json:"source"`
}

// band returns the absolute band for a base value.
func (r *Relative) band(base float64) Band {
	b := Band{Stop: ptr(r.Stop * base)}
	if r.Warn > 0 {
		b.Warn = ptr(r.Warn * base)
	}
	if r.Clear > 0 {
		b.Clear = ptr(r.Clear * base)
	}
	return b
}

func ptr(x float64) *float64 { return &x }

// Period is a part of the local day with its own band (day and night noise
// limits). From and To are local clock times "HH:MM"; a period may wrap past
// midnight (22:00 to 06:00).
type Period struct {
	Name string `json:"name"`
	From string `json:"from"`
	To   string `json:"to"`
	Band Band   `json:"band"`

	from, to int // minutes after local midnight
}

// startBefore returns when the current occurrence of the period began, for
// a time t inside it.
func (p *Period) startBefore(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	start := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, p.from, 0, 0, loc)
	if start.After(lt) {
		start = start.AddDate(0, 0, -1)
	}
	return start.UTC()
}

func (p *Period) contains(min int) bool {
	if p.from <= p.to {
		return min >= p.from && min < p.to
	}
	return min >= p.from || min < p.to
}

// Aggregates a sensor rule can take over its window.
const (
	AggMean       = "mean"
	AggMax        = "max"
	AggMaxAbs     = "max_abs"
	AggLast       = "last"
	AggLastAbs    = "last_abs"
	AggSum        = "sum"
	AggLeq        = "leq"          // energy-equivalent level of decibel readings
	AggRatePerDay = "rate_per_day" // change of the value per day across the window
)

// Scopes of a sensor rule.
const (
	// ScopeSeries evaluates each series of the rule's kind (one per sensor
	// or equipment) on its own.
	ScopeSeries = "series"
	// ScopeCraneJib evaluates each tower crane of the site against the wind
	// at its jib: the crane's own anemometer, and the site's 10 m wind
	// corrected to jib height by the power law of the site's terrain.
	ScopeCraneJib = "crane_jib"
)

// SensorRule is a windowed rule over sensor readings.
type SensorRule struct {
	ID        string    `json:"id"`
	Label     string    `json:"label"` // how a reason names the quantity: "PM10 hourly mean"
	Kinds     []string  `json:"kinds"` // sensor kinds read
	Aggregate string    `json:"aggregate"`
	Window    Duration  `json:"window,omitempty"`
	MinSpan   Duration  `json:"min_span,omitempty"` // rate: the least time the readings must span
	Scope     string    `json:"scope,omitempty"`    // default series
	Band      *Band     `json:"band,omitempty"`
	Periods   []Period  `json:"periods,omitempty"`
	Relative  *Relative `json:"relative,omitempty"`
	Action    string    `json:"action,omitempty"` // what the responsible unit must do
	Source    string    `json:"source"`
}

// SeriesSpec sets how finely and how long a sensor kind's readings are kept.
type SeriesSpec struct {
	Bucket    Duration `json:"bucket"`
	Retention Duration `json:"retention"`
}

// ScheduleRule raises an alarm on the earned-schedule SPI(t).
type ScheduleRule struct {
	MinElapsedDays float64 `json:"min_elapsed_days"`
	// StatusMaxAgeDays: SPI(t) is measured at the latest progress report
	// (the data date); once the latest report is older than this, at the
	// clock (no reports means nothing earned).
	StatusMaxAgeDays float64 `json:"status_max_age_days"`
	Band             Band    `json:"band"`
	Source           string  `json:"source"`
}

// WageRule raises an alarm when wages are not paid within the cycle.
type WageRule struct {
	MaxCycleDays float64 `json:"max_cycle_days"`
	Band         Band    `json:"band"` // over the days overdue
	// DayRateCNY is the wage of a worker-day: expected payroll is the
	// worker-days of attendance.reported times it. 0: no reconciliation.
	DayRateCNY float64 `json:"day_rate_cny,omitempty"`
	// ReconcileTolerance is the fraction of a month's expected payroll
	// that may go unpaid before it counts as arrears.
	ReconcileTolerance float64 `json:"reconcile_tolerance,omitempty"`
	Source             string  `json:"source"`
}

// RectificationRule drives the hazard closed loop: the level of an open
// hazard by severity, of an overdue one, and when an overdue one escalates.
type RectificationRule struct {
	Open              map[string]Level `json:"open"`
	Overdue           map[string]Level `json:"overdue"`
	EscalateAfterDays float64          `json:"escalate_after_days"`
	Source            string           `json:"source"`
}

// IncidentRule sets what an incident (incident.reported) raises: a site
// alarm "incident@<id>" at the level of its severity, from the incident's
// time until Days of event time later. A zero rule (a pack without an
// "incidents" section) raises none.
type IncidentRule struct {
	Level  map[string]Level `json:"level"` // by incident severity: minor, serious, fatal
	Days   float64          `json:"days"`  // how long the alarm stands, in days of event time
	Action string           `json:"action,omitempty"`
	Source string           `json:"source"`
}

// CreditRule scores the contractor's conduct on the project.
type CreditRule struct {
	Initial     float64            `json:"initial"`
	HazardFound map[string]float64 `json:"hazard_found"`       // deduction per severity
	Overdue     float64            `json:"overdue"`            // deduction per overdue hazard, once
	WageArrears float64            `json:"wage_arrears"`       // deduction per arrears episode
	Incident    map[string]float64 `json:"incident,omitempty"` // deduction per incident, by incident severity
	Acceptance  float64            `json:"acceptance"`         // credit per milestone accepted
	Band        Band               `json:"band"`
	Source      string             `json:"source"`
}

// FundsRule flags disbursement ahead of earned value.
type FundsRule struct {
	OverTolerance float64 `json:"over_tolerance"` // fraction of earned value
	Level         Level   `json:"level"`
	Source        string  `json:"source"`
}

// WeatherRule sets the levels of weather warnings.
type WeatherRule struct {
	Rainstorm        map[string]Level `json:"rainstorm"`
	TyphoonWatchKm   float64          `json:"typhoon_watch_km"`
	TyphoonLevel     Level            `json:"typhoon_level"`
	AdvisoryLifetime Duration         `json:"advisory_lifetime"` // after the last track point
	// SecureLead is how long before a forecast hazard (a crane's jib wind
	// above its limit, a gale, heavy rain) a site must have acted on it:
	// the deadlines of a drill's emergency plan. 0: not set (drills use
	// 6h); its source is Sources["secure_lead"].
	SecureLead Duration `json:"secure_lead,omitempty"`
	Source     string   `json:"source"`
}

// Rules is a rule pack: the regulatory thresholds of one jurisdiction as
// data. Parse one with ParseRules; DefaultRules is Shenzhen's.
type Rules struct {
	Name            string                `json:"name"`
	Version         string                `json:"version"`
	Jurisdiction    string                `json:"jurisdiction"`
	Timezone        string                `json:"timezone"`
	AllowedLateness Duration              `json:"allowed_lateness"`
	DedupHorizon    Duration              `json:"dedup_horizon"`
	MaxFuture       Duration              `json:"max_future"`    // how far an event's time may lie after Event.Received; Apply rejects one further ahead
	Series          map[string]SeriesSpec `json:"series"`        // by sensor kind; "default" for the rest
	TerrainAlpha    map[string]float64    `json:"terrain_alpha"` // wind-profile exponent per GB 50009 terrain
	Sensor          []SensorRule          `json:"sensor_rules"`
	Schedule        ScheduleRule          `json:"schedule"`
	Wages           WageRule              `json:"wages"`
	Rectification   RectificationRule     `json:"rectification"`
	Incidents       IncidentRule          `json:"incidents"`
	Credit          CreditRule            `json:"credit"`
	Funds           FundsRule             `json:"funds"`
	Weather         WeatherRule           `json:"weather"`
	Disbursement    DisbursementRule      `json:"disbursement,omitzero"`
	Risks           []RiskRule            `json:"risks"`
	Sources         map[string]string     `json:"sources,omitempty"` // notes on the pack's other defaults

	loc    *time.Location
	byKind map[string][]*SensorRule
}

// Location returns the pack's time zone.
func (r *Rules) Location() *time.Location { return r.loc }

// SeriesFor returns how readings of a kind are kept.
func (r *Rules) SeriesFor(kind string) SeriesSpec {
	if s, ok := r.Series[kind]; ok {
		return s
	}
	return r.Series["default"]
}

// RulesFor returns the sensor rules that read a kind.
func (r *Rules) RulesFor(kind string) []*SensorRule { return r.byKind[kind] }

// MarshalJSON / UnmarshalJSON of Level use its name.

// MarshalJSON writes the level's name.
func (l Level) MarshalJSON() ([]byte, error) { return json.Marshal(l.String()) }

// UnmarshalJSON reads a level name: ok, warn or stop.
func (l *Level) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	switch s {
	case "ok", "":
		*l = LevelOK
	case "warn":
		*l = LevelWarn
	case "stop":
		*l = LevelStop
	default:
		return fmt.Errorf("level must be ok, warn or stop (got %q)", s)
	}
	return nil
}

// ParseRules reads and checks a rule pack. Every error names the part of
// the pack that is wrong.
func ParseRules(b []byte) (*Rules, error) {
	var r Rules
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("rule pack: %w", err)
	}
	if err := r.init(); err != nil {
		return nil, fmt.Errorf("rule pack %s: %w", r.Name, err)
	}
	return &r, nil
}

func (r *Rules) init() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if r.Name == "" {
		bad("name is required")
	}
	loc, err := time.LoadLocation(r.Timezone)
	if err != nil || r.Timezone == "" {
		bad("timezone %q: must be an IANA zone such as Asia/Shanghai", r.Timezone)
		loc = time.UTC
	}
	r.loc = loc
	if r.AllowedLateness <= 0 {
		bad("allowed_lateness must be positive")
	}
	if r.DedupHorizon < r.AllowedLateness {
		bad("dedup_horizon must be at least allowed_lateness")
	}
	if r.MaxFuture <= 0 {
		bad(`max_future must be positive (how far an event's time may lie after its arrival, e.g. "1h")`)
	}
	if _, ok := r.Series["default"]; !ok {
		bad(`series: needs a "default" entry`)
	}
	for k, s := range r.Series {
		if k != "default" && CanonicalUnit(k) == "" {
			bad("series %q: not a sensor kind", k)
		}
		if s.Bucket <= 0 || s.Retention < s.Bucket {
			bad("series %q: bucket must be positive and retention at least one bucket", k)
		}
		if s.Bucket.D() > maxOffset*time.Millisecond {
			bad("series %q: bucket must be at most 49 days", k)
		}
	}
	for _, t := range terrains {
		if a := r.TerrainAlpha[t]; a <= 0 || a >= 1 {
			bad("terrain_alpha: needs an exponent between 0 and 1 for terrain %s", t)
		}
	}
	r.byKind = make(map[string][]*SensorRule)
	seen := map[string]bool{}
	for i := range r.Sensor {
		sr := &r.Sensor[i]
		f := fmt.Sprintf("sensor_rules[%d] (%s)", i, sr.ID)
		if sr.ID == "" || seen[sr.ID] {
			bad("%s: id must be set and unique", f)
		}
		seen[sr.ID] = true
		if sr.Source == "" {
			bad("%s: source is required: name where the threshold comes from", f)
		}
		if len(sr.Kinds) == 0 {
			bad("%s: kinds is required", f)
		}
		for _, k := range sr.Kinds {
			if CanonicalUnit(k) == "" {
				bad("%s: %q is not a sensor kind", f, k)
			}
			r.byKind[k] = append(r.byKind[k], sr)
		}
		switch sr.Aggregate {
		case AggMean, AggMax, AggMaxAbs, AggSum, AggLeq, AggRatePerDay:
			if sr.Window <= 0 {
				bad("%s: %s needs a window", f, sr.Aggregate)
			}
			for _, k := range sr.Kinds {
				if spec := r.SeriesFor(k); spec.Retention < sr.Window {
					bad("%s: window %v is longer than the retention %v of %s readings", f, sr.Window.D(), spec.Retention.D(), k)
				}
			}
		case AggLast, AggLastAbs:
		default:
			bad("%s: unknown aggregate %q", f, sr.Aggregate)
		}
		if sr.Aggregate == AggLeq {
			for _, k := range sr.Kinds {
				if CanonicalUnit(k) != decibels {
					bad("%s: leq needs readings in %s, %s readings are not", f, decibels, k)
				}
			}
		}
		if sr.Aggregate == AggRatePerDay && sr.MinSpan <= 0 {
			bad("%s: rate_per_day needs min_span", f)
		}
		if sr.Scope == "" {
			sr.Scope = ScopeSeries
		}
		if sr.Scope != ScopeSeries && sr.Scope != ScopeCraneJib {
			bad("%s: unknown scope %q", f, sr.Scope)
		}
		n := 0
		if sr.Band != nil {
			n++
			if err := sr.Band.check(f + ".band"); err != nil {
				errs = append(errs, err)
			}
		}
		if sr.Relative != nil {
			n++
			switch sr.Relative.Base {
			case "in_service_limit_ms", "alarm_cumulative_mm", "alarm_rate_mm_per_day":
			default:
				bad("%s: relative.base %q is not an equipment limit", f, sr.Relative.Base)
			}
			if sr.Relative.Default <= 0 || sr.Relative.Stop <= 0 {
				bad("%s: relative needs a positive default and stop", f)
			}
		}
		if len(sr.Periods) > 0 {
			n++
			for j := range sr.Periods {
				p := &sr.Periods[j]
				var ok1, ok2 bool
				p.from, ok1 = clockMinutes(p.From)
				p.to, ok2 = clockMinutes(p.To)
				if !ok1 || !ok2 {
					bad("%s: period %q: from and to must be HH:MM", f, p.Name)
				}
				if err := p.Band.check(fmt.Sprintf("%s.periods[%d]", f, j)); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if n != 1 {
			bad("%s: needs exactly one of band, relative or periods", f)
		}
	}
	for name, b := range map[string]*Band{"schedule": &r.Schedule.Band, "wages": &r.Wages.Band, "credit": &r.Credit.Band} {
		if err := b.check(name + ".band"); err != nil {
			errs = append(errs, err)
		}
	}
	if r.Schedule.StatusMaxAgeDays <= 0 {
		bad("schedule.status_max_age_days must be positive")
	}
	if r.Wages.MaxCycleDays <= 0 {
		bad("wages.max_cycle_days must be positive")
	}
	if r.Wages.DayRateCNY < 0 || r.Wages.ReconcileTolerance < 0 || r.Wages.ReconcileTolerance >= 1 {
		bad("wages.day_rate_cny must not be negative and wages.reconcile_tolerance must be from 0 to 1 (exclusive)")
	}
	if r.Disbursement.Decide && r.Disbursement.Source == "" {
		bad("disbursement.source is required")
	}
	for _, s := range []string{SeverityGeneral, SeverityMajor, SeverityCritical} {
		if _, ok := r.Rectification.Overdue[s]; !ok {
			bad("rectification.overdue: needs a level for %s", s)
		}
	}
	if in := &r.Incidents; in.Days != 0 || len(in.Level) > 0 {
		if in.Days <= 0 || in.Days > incidentRetentionDays {
			bad("incidents.days must be from 0 (exclusive) to %d", incidentRetentionDays)
		}
		if in.Source == "" {
			bad("incidents.source is required")
		}
		for _, sev := range sortedKeys(in.Level) {
			if !slices.Contains(IncidentSeverities(), sev) {
				bad("incidents.level: %q is not an incident severity (minor, serious, fatal)", sev)
			}
		}
	}
	for _, sev := range sortedKeys(r.Credit.Incident) {
		if !slices.Contains(IncidentSeverities(), sev) {
			bad("credit.incident: %q is not an incident severity (minor, serious, fatal)", sev)
		}
	}
	for name, src := range map[string]string{"schedule": r.Schedule.Source, "wages": r.Wages.Source, "rectification": r.Rectification.Source, "credit": r.Credit.Source, "funds": r.Funds.Source, "weather": r.Weather.Source} {
		if src == "" {
			bad("%s.source is required", name)
		}
	}
	seenRisk := map[string]bool{}
	for i := range r.Risks {
		rr := &r.Risks[i]
		f := fmt.Sprintf("risks[%d] (%s)", i, rr.ID)
		if rr.ID == "" || seenRisk[rr.ID] || rr.Model == "" || rr.Value == "" {
			bad("%s: id (unique), model and value are required", f)
		}
		seenRisk[rr.ID] = true
		if rr.Source == "" {
			bad("%s: source is required", f)
		}
		if err := rr.Band.check(f + ".band"); err != nil {
			errs = append(errs, err)
		}
	}
	if r.Credit.Initial <= 0 {
		bad("credit.initial must be positive")
	}
	return errors.Join(errs...)
}

func clockMinutes(s string) (int, bool) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

//go:embed rulepacks/shenzhen.json
var shenzhenPack []byte

var (
	defaultOnce  sync.Once
	defaultRules *Rules
	defaultErr   error
)

// DefaultRules returns the Shenzhen rule pack shipped with sitetwin. It is
// parsed once; callers must not modify it.
func DefaultRules() *Rules {
	defaultOnce.Do(func() { defaultRules, defaultErr = ParseRules(shenzhenPack) })
	if defaultErr != nil {
		// The pack is part of the binary and covered by tests; a broken
		// one is a build defect, not a runtime condition.
		panic(defaultErr)
	}
	return defaultRules
}

// DefaultRulesJSON returns the bytes of the shipped Shenzhen pack, as a
// starting point for another jurisdiction's.
func DefaultRulesJSON() []byte { return append([]byte(nil), shenzhenPack...) }
