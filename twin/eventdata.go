package twin

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// When is a point in time written either as an RFC 3339 timestamp or as a
// calendar date (YYYY-MM-DD). A date means a whole day in the rule pack's
// local time zone: it starts at local midnight and, as a deadline, lasts until
// the next local midnight.
type When struct {
	raw      string
	t        time.Time
	dateOnly bool
	bad      bool
}

// ParseWhen parses a timestamp or a date. It reports false when s is neither.
func ParseWhen(s string) (When, bool) {
	if s == "" {
		return When{}, true
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return When{raw: s, t: t}, true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return When{raw: s, t: t, dateOnly: true}, true
	}
	return When{raw: s, bad: true}, false
}

// DateWhen returns the When of a calendar date.
func DateWhen(year int, month time.Month, day int) When {
	t := time.Date(year, month, day, 0, 0, 0, 0, time.UTC)
	return When{raw: t.Format(time.DateOnly), t: t, dateOnly: true}
}

// TimeWhen returns the When of an instant.
func TimeWhen(t time.Time) When {
	return When{raw: t.UTC().Format(time.RFC3339Nano), t: t.UTC()}
}

// IsZero reports whether no time was given.
func (w When) IsZero() bool { return w.raw == "" }

// String returns the text as written.
func (w When) String() string { return w.raw }

// Start returns the instant: for a date, local midnight at its start.
func (w When) Start(loc *time.Location) time.Time {
	if w.dateOnly {
		return time.Date(w.t.Year(), w.t.Month(), w.t.Day(), 0, 0, 0, 0, loc)
	}
	return w.t
}

// End returns the instant: for a date, local midnight at its end (the moment
// a deadline on that date has passed).
func (w When) End(loc *time.Location) time.Time {
	if w.dateOnly {
		return time.Date(w.t.Year(), w.t.Month(), w.t.Day()+1, 0, 0, 0, 0, loc)
	}
	return w.t
}

// MarshalJSON writes the text as given.
func (w When) MarshalJSON() ([]byte, error) {
	if w.raw == "" {
		return []byte(`""`), nil
	}
	return json.Marshal(w.raw)
}

// UnmarshalJSON keeps the text; validation reports a bad one with its field.
func (w *When) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		*w = When{raw: string(b), bad: true}
		return nil
	}
	*w, _ = ParseWhen(s)
	return nil
}

func (v *validator) when(field string, w When, required bool) {
	if w.bad {
		v.fail("data."+field, "must be a date (YYYY-MM-DD) or an RFC 3339 timestamp")
		return
	}
	if !w.IsZero() && !inYears(w.t) {
		v.fail("data."+field, fmt.Sprintf("must be between %d and %d", minYear, maxYear))
		return
	}
	if required && w.IsZero() {
		v.fail("data."+field, "is required (a date YYYY-MM-DD or an RFC 3339 timestamp)")
	}
}

// Project kinds accepted by project.registered.
var projectKinds = []string{"housing", "municipal", "transport", "water", "school", "hospital", "industrial"}

// ProjectRegistered is the data of project.registered.
type ProjectRegistered struct {
	Name          string  `json:"name"`
	District      string  `json:"district"`
	Kind          string  `json:"kind"`
	Owner         string  `json:"owner"`
	Contractor    string  `json:"contractor"`
	Supervisor    string  `json:"supervisor"`
	BudgetCNY     float64 `json:"budget_cny"`
	PlannedStart  When    `json:"planned_start"`
	PlannedFinish When    `json:"planned_finish"`
	Deadline      When    `json:"deadline,omitzero"`
	Address       string  `json:"address,omitempty"`
	PermitNumber  string  `json:"permit_number,omitempty"`
	// SupervisionFilingNumber and SafetyFilingNumber are the project's
	// supervision and safety-measure filing numbers, which the start and
	// completion filings need.
	SupervisionFilingNumber string `json:"supervision_filing_number,omitempty"`
	SafetyFilingNumber      string `json:"safety_filing_number,omitempty"`
}

func (d *ProjectRegistered) validate(v *validator) {
	v.text("name", d.Name, true)
	v.text("district", d.District, true)
	v.oneOf("kind", d.Kind, projectKinds...)
	v.id("owner", d.Owner)
	v.id("contractor", d.Contractor)
	v.id("supervisor", d.Supervisor)
	v.positive("budget_cny", d.BudgetCNY)
	v.between("budget_cny", d.BudgetCNY, 0, maxAmountCNY)
	v.when("planned_start", d.PlannedStart, true)
	v.when("planned_finish", d.PlannedFinish, true)
	v.when("deadline", d.Deadline, false)
	v.text("address", d.Address, false)
	v.text("permit_number", d.PermitNumber, false)
	v.text("supervision_filing_number", d.SupervisionFilingNumber, false)
	v.text("safety_filing_number", d.SafetyFilingNumber, false)
	if v.err == nil && d.PlannedFinish.Start(time.UTC).Before(d.PlannedStart.Start(time.UTC)) {
		v.fail("data.planned_finish", "must not be before planned_start")
	}
}

// Terrain categories of GB 50009-2012 §8.2.1 (A: sea and coast, B: open
// country and suburbs, C: cities with dense buildings, D: cities with dense
// tall buildings).
var terrains = []string{"A", "B", "C", "D"}

// SiteAdded is the data of site.added.
type SiteAdded struct {
	Name    string  `json:"name"`
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
	Terrain string  `json:"terrain,omitempty"` // default C
}

func (d *SiteAdded) validate(v *validator) {
	v.text("name", d.Name, true)
	v.between("lat", d.Lat, -90, 90)
	v.between("lon", d.Lon, -180, 180)
	if d.Terrain == "" {
		d.Terrain = "C"
	}
	v.oneOf("terrain", d.Terrain, terrains...)
}

// Equipment kinds.
const (
	KindTowerCrane     = "tower_crane"
	KindFoundationPit  = "foundation_pit"
	maxCraneHeightM    = 400
	maxPitDepthM       = 200
	maxWindLimitMS     = 100
	maxPitAlarmMM      = 1000
	maxPitRateMMPerDay = 100
)

// EquipmentInstalled is the data of equipment.installed. Crane fields apply
// to a tower crane, pit fields to a foundation pit. A zero limit or alarm
// value means "use the rule pack's default".
type EquipmentInstalled struct {
	Equipment           string  `json:"equipment"`
	Kind                string  `json:"kind"`
	HeightM             float64 `json:"height_m,omitempty"`
	JibLengthM          float64 `json:"jib_length_m,omitempty"`
	InServiceLimitMS    float64 `json:"in_service_limit_ms,omitempty"`
	OutOfServiceLimitMS float64 `json:"out_of_service_limit_ms,omitempty"`
	DepthM              float64 `json:"depth_m,omitempty"`
	AlarmCumulativeMM   float64 `json:"alarm_cumulative_mm,omitempty"`
	AlarmRateMMPerDay   float64 `json:"alarm_rate_mm_per_day,omitempty"`
}

func (d *EquipmentInstalled) validate(v *validator) {
	v.id("equipment", d.Equipment)
	v.oneOf("kind", d.Kind, KindTowerCrane, KindFoundationPit)
	switch d.Kind {
	case KindTowerCrane:
		v.positive("height_m", d.HeightM)
		v.between("height_m", d.HeightM, 0, maxCraneHeightM)
		v.positive("jib_length_m", d.JibLengthM)
		v.between("in_service_limit_ms", d.InServiceLimitMS, 0, maxWindLimitMS)
		v.between("out_of_service_limit_ms", d.OutOfServiceLimitMS, 0, maxWindLimitMS)
	case KindFoundationPit:
		v.positive("depth_m", d.DepthM)
		v.between("depth_m", d.DepthM, 0, maxPitDepthM)
		v.between("alarm_cumulative_mm", d.AlarmCumulativeMM, 0, maxPitAlarmMM)
		v.between("alarm_rate_mm_per_day", d.AlarmRateMMPerDay, 0, maxPitRateMMPerDay)
	}
}

// MilestonePlan is one milestone of a baseline: three-point durations in
// days (for PERT), the milestones it depends on, and its share of the budget.
type MilestonePlan struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	OptimisticDays  float64  `json:"optimistic_days"`
	LikelyDays      float64  `json:"likely_days"`
	PessimisticDays float64  `json:"pessimistic_days"`
	DependsOn       []string `json:"depends_on,omitempty"`
	BudgetShare     float64  `json:"budget_share"`
}

// PlanBaselined is the data of plan.baselined.
type PlanBaselined struct {
	Milestones []MilestonePlan `json:"milestones"`
}

func (d *PlanBaselined) validate(v *validator) {
	if len(d.Milestones) == 0 {
		v.fail("data.milestones", "must list at least one milestone")
		return
	}
	if len(d.Milestones) > maxListLen {
		v.fail("data.milestones", fmt.Sprintf("must list at most %d milestones", maxListLen))
		return
	}
	index := make(map[string]int, len(d.Milestones))
	var share float64
	for i, m := range d.Milestones {
		f := fmt.Sprintf("milestones[%d].", i)
		v.id(f+"id", m.ID)
		v.text(f+"name", m.Name, false)
		if _, dup := index[m.ID]; dup && v.err == nil {
			v.fail("data."+f+"id", fmt.Sprintf("duplicate milestone id %q", m.ID))
		}
		index[m.ID] = i
		v.nonNegative(f+"optimistic_days", m.OptimisticDays)
		v.nonNegative(f+"likely_days", m.LikelyDays)
		v.positive(f+"pessimistic_days", m.PessimisticDays)
		if v.err == nil && !(m.OptimisticDays <= m.LikelyDays && m.LikelyDays <= m.PessimisticDays) {
			v.fail("data."+f+"likely_days", "must satisfy optimistic_days <= likely_days <= pessimistic_days")
		}
		v.between(f+"budget_share", m.BudgetShare, 0, 1)
		share += m.BudgetShare
	}
	if v.err != nil {
		return
	}
	for i, m := range d.Milestones {
		if len(m.DependsOn) == 0 {
			d.Milestones[i].DependsOn = nil // [] and none are the same plan, and encode alike
		}
		for j, dep := range m.DependsOn {
			if _, ok := index[dep]; !ok || dep == m.ID {
				v.fail(fmt.Sprintf("data.milestones[%d].depends_on[%d]", i, j), fmt.Sprintf("%q is not another milestone of this plan", dep))
				return
			}
		}
	}
	if math.Abs(share-1) > 0.01+1e-9 { // within 0.01, whatever the float sum's last bits
		v.fail("data.milestones", fmt.Sprintf("budget_share must sum to 1 (sums to %.3f)", share))
		return
	}
	if cycle := findCycle(d.Milestones, index); cycle != "" {
		v.fail("data.milestones", "dependency cycle "+cycle)
	}
}

// findCycle returns a dependency cycle as "A -> B -> A", or "".
func findCycle(ms []MilestonePlan, index map[string]int) string {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(ms))
	var stack []string
	var visit func(i int) string
	visit = func(i int) string {
		color[i] = grey
		stack = append(stack, ms[i].ID)
		for _, dep := range ms[i].DependsOn {
			j := index[dep]
			switch color[j] {
			case grey:
				start := 0
				for k, id := range stack {
					if id == dep {
						start = k
					}
				}
				return strings.Join(append(append([]string{}, stack[start:]...), dep), " -> ")
			case white:
				if c := visit(j); c != "" {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[i] = black
		return ""
	}
	for i := range ms {
		if color[i] == white {
			if c := visit(i); c != "" {
				return c
			}
		}
	}
	return ""
}

// Sensor kinds accepted by sensor.reading.
const (
	SensorPM10            = "pm10"
	SensorPM25            = "pm25"
	SensorNoise           = "noise"
	SensorWindSpeed       = "wind_speed"
	SensorWindGust        = "wind_gust"
	SensorCraneLoad       = "crane_load"
	SensorCraneTilt       = "crane_tilt"
	SensorPitDisplacement = "pit_displacement"
	SensorVibration       = "vibration"
	SensorRainfall        = "rainfall"
	SensorTemperature     = "temperature"
	SensorHumidity        = "humidity"
)

// unitConv converts a value in some unit to the kind's canonical unit.
type unitConv struct {
	unit string
	conv func(float64) float64
}

func same(x float64) float64 { return x }

// sensorKinds lists, per sensor kind, its canonical unit first and the other
// accepted units with their conversion to it, plus the plausible range of
// the canonical value and whether the reading needs an equipment id.
var sensorKinds = map[string]struct {
	units     []unitConv
	lo, hi    float64
	equipment string // required equipment kind, or ""
}{
	SensorPM10:            {[]unitConv{{"µg/m³", same}, {"ug/m3", same}, {"μg/m³", same}, {"mg/m³", func(x float64) float64 { return x * 1000 }}}, 0, 20000, ""},
	SensorPM25:            {[]unitConv{{"µg/m³", same}, {"ug/m3", same}, {"μg/m³", same}, {"mg/m³", func(x float64) float64 { return x * 1000 }}}, 0, 20000, ""},
	SensorNoise:           {[]unitConv{{"dB(A)", same}, {"dBA", same}, {"dB", same}}, 0, 200, ""},
	SensorWindSpeed:       {[]unitConv{{"m/s", same}, {"km/h", func(x float64) float64 { return x / 3.6 }}, {"kn", knots}, {"kt", knots}}, 0, 150, ""},
	SensorWindGust:        {[]unitConv{{"m/s", same}, {"km/h", func(x float64) float64 { return x / 3.6 }}, {"kn", knots}, {"kt", knots}}, 0, 150, ""},
	SensorCraneLoad:       {[]unitConv{{"%", same}}, 0, 500, KindTowerCrane},
	SensorCraneTilt:       {[]unitConv{{"‰", same}, {"permille", same}, {"deg", degToPermille}, {"°", degToPermille}}, -1000, 1000, KindTowerCrane},
	SensorPitDisplacement: {[]unitConv{{"mm", same}, {"m", func(x float64) float64 { return x * 1000 }}}, -10000, 10000, KindFoundationPit},
	SensorVibration:       {[]unitConv{{"mm/s", same}}, 0, 10000, ""},
	SensorRainfall:        {[]unitConv{{"mm", same}}, 0, 2000, ""},
	SensorTemperature:     {[]unitConv{{"°C", same}, {"C", same}, {"degC", same}}, -80, 80, ""},
	SensorHumidity:        {[]unitConv{{"%", same}, {"%RH", same}}, 0, 100, ""},
}

// knots converts knots to m/s (1 kt = 0.514444 m/s).
func knots(x float64) float64 { return x * 0.514444 }

// degToPermille converts a tilt angle in degrees to the tangent in per mille,
// the unit of GB 5144's verticality tolerance.
func degToPermille(x float64) float64 { return math.Tan(x*math.Pi/180) * 1000 }

// SensorKinds returns every sensor kind, sorted.
func SensorKinds() []string {
	return slices.Sorted(maps.Keys(sensorKinds))
}

// CanonicalUnit returns the unit every reading of the kind is stored in.
func CanonicalUnit(kind string) string {
	if k, ok := sensorKinds[kind]; ok {
		return k.units[0].unit
	}
	return ""
}

// SensorReading is the data of sensor.reading. After validation Value is in
// the kind's canonical unit and Unit names it.
type SensorReading struct {
	Kind      string  `json:"kind"`
	Value     float64 `json:"value"`
	Unit      string  `json:"unit"`
	Equipment string  `json:"equipment,omitempty"`
}

func (d *SensorReading) validate(v *validator) {
	k, ok := sensorKinds[d.Kind]
	if !ok {
		v.oneOf("kind", d.Kind, SensorKinds()...)
		return
	}
	if !v.finite("value", d.Value) {
		return
	}
	var conv func(float64) float64
	for _, u := range k.units {
		if d.Unit == u.unit {
			conv = u.conv
			break
		}
	}
	if conv == nil {
		names := make([]string, len(k.units))
		for i, u := range k.units {
			names[i] = u.unit
		}
		v.fail("data.unit", fmt.Sprintf("must be one of %s for %s (got %q)", strings.Join(names, ", "), d.Kind, d.Unit))
		return
	}
	d.Value, d.Unit = conv(d.Value), k.units[0].unit
	if d.Value < k.lo || d.Value > k.hi {
		v.fail("data.value", fmt.Sprintf("%g %s is outside the plausible range %g..%g for %s", d.Value, d.Unit, k.lo, k.hi, d.Kind))
		return
	}
	if k.equipment != "" && d.Equipment == "" {
		v.fail("data.equipment", fmt.Sprintf("is required for %s (the id of the %s)", d.Kind, k.equipment))
		return
	}
	v.optID("equipment", d.Equipment)
}

// ProgressReported is the data of progress.reported.
type ProgressReported struct {
	Milestone       string  `json:"milestone"`
	PercentComplete float64 `json:"percent_complete"`
}

func (d *ProgressReported) validate(v *validator) {
	v.id("milestone", d.Milestone)
	v.between("percent_complete", d.PercentComplete, 0, 100)
}

// MilestoneCompleted is the data of milestone.completed.
type MilestoneCompleted struct {
	Milestone string `json:"milestone"`
}

func (d *MilestoneCompleted) validate(v *validator) { v.id("milestone", d.Milestone) }

// Payment is the data of funds.disbursed, wages.paid and
// wage_account.deposited.
type Payment struct {
	AmountCNY float64 `json:"amount_cny"`
	Milestone string  `json:"milestone,omitempty"`
	Account   string  `json:"account,omitempty"`
	Period    string  `json:"period,omitempty"` // for wages: the month paid, e.g. 2026-10
	Workers   int     `json:"workers,omitempty"`
}

const maxAmountCNY = 1e13

func (d *Payment) validate(v *validator) {
	v.positive("amount_cny", d.AmountCNY)
	v.between("amount_cny", d.AmountCNY, 0, maxAmountCNY)
	v.optID("milestone", d.Milestone)
	v.optID("account", d.Account)
	v.text("period", d.Period, false)
	if d.Workers < 0 {
		v.fail("data.workers", "must not be negative")
	}
}

// ChangeOrderApproved is the data of change_order.approved. AmountCNY changes
// the budget (negative for a reduction); Days extends the deadline.
type ChangeOrderApproved struct {
	ChangeOrder string  `json:"change_order"`
	AmountCNY   float64 `json:"amount_cny"`
	Days        float64 `json:"days,omitempty"`
	Milestone   string  `json:"milestone,omitempty"`
	Reason      string  `json:"reason,omitempty"`
}

func (d *ChangeOrderApproved) validate(v *validator) {
	v.id("change_order", d.ChangeOrder)
	v.between("amount_cny", d.AmountCNY, -maxAmountCNY, maxAmountCNY)
	v.between("days", d.Days, -3650, 3650)
	v.optID("milestone", d.Milestone)
	v.text("reason", d.Reason, false)
}

// Hazard severities, in increasing order.
const (
	SeverityGeneral  = "general"
	SeverityMajor    = "major"
	SeverityCritical = "critical"
)

// HazardFound is the data of hazard.found.
type HazardFound struct {
	Hazard      string `json:"hazard"`
	Severity    string `json:"severity"`
	Category    string `json:"category"`
	Deadline    When   `json:"deadline"`
	Milestone   string `json:"milestone,omitempty"` // the work the hazard blocks, if any
	Description string `json:"description,omitempty"`
}

func (d *HazardFound) validate(v *validator) {
	v.id("hazard", d.Hazard)
	v.oneOf("severity", d.Severity, SeverityGeneral, SeverityMajor, SeverityCritical)
	v.text("category", d.Category, true)
	v.when("deadline", d.Deadline, true)
	v.optID("milestone", d.Milestone)
	v.text("description", d.Description, false)
}

// HazardRectified is the data of hazard.rectified.
type HazardRectified struct {
	Hazard string `json:"hazard"`
}

func (d *HazardRectified) validate(v *validator) { v.id("hazard", d.Hazard) }

// AcceptancePassed is the data of acceptance.passed: either a milestone's
// acceptance or the re-inspection that closes a rectified hazard.
type AcceptancePassed struct {
	Hazard    string `json:"hazard,omitempty"`
	Milestone string `json:"milestone,omitempty"`
}

func (d *AcceptancePassed) validate(v *validator) {
	if (d.Hazard == "") == (d.Milestone == "") {
		v.fail("data", "must name exactly one of hazard or milestone")
		return
	}
	v.optID("hazard", d.Hazard)
	v.optID("milestone", d.Milestone)
}

// InspectionCompleted is the data of inspection.completed. With Hazard set
// it is the re-inspection of that hazard: "pass" closes it, "fail" reopens it
// with a new Deadline.
type InspectionCompleted struct {
	Inspection string `json:"inspection"`
	Result     string `json:"result"`
	Hazard     string `json:"hazard,omitempty"`
	Deadline   When   `json:"deadline,omitzero"`
	Findings   int    `json:"findings,omitempty"`
}

func (d *InspectionCompleted) validate(v *validator) {
	v.id("inspection", d.Inspection)
	v.oneOf("result", d.Result, "pass", "fail")
	v.optID("hazard", d.Hazard)
	v.when("deadline", d.Deadline, false)
	if d.Findings < 0 {
		v.fail("data.findings", "must not be negative")
	}
}

// Incident severities, in increasing order: minor (injuries that need
// first aid or a short absence), serious (serious injury) and fatal (one or
// more people killed).
const (
	IncidentMinor   = "minor"
	IncidentSerious = "serious"
	IncidentFatal   = "fatal"
)

// Incident categories: the usual classes of construction accidents (falls
// from height, collapses of excavations, formwork or scaffolds, struck by
// falling or moving objects, lifting and tower-crane accidents, electric
// shock, fire, and the rest).
const (
	IncidentFall       = "fall"
	IncidentCollapse   = "collapse"
	IncidentStruckBy   = "struck_by"
	IncidentCrane      = "crane"
	IncidentElectrical = "electrical"
	IncidentFire       = "fire"
	IncidentOther      = "other"
)

// IncidentSeverities returns the incident severities, in increasing order.
func IncidentSeverities() []string { return []string{IncidentMinor, IncidentSerious, IncidentFatal} }

// IncidentCategories returns the incident categories.
func IncidentCategories() []string {
	return []string{IncidentFall, IncidentCollapse, IncidentStruckBy, IncidentCrane, IncidentElectrical, IncidentFire, IncidentOther}
}

// maxInjuries bounds the people one incident report may count.
const maxInjuries = 10000

// IncidentReported is the data of incident.reported: an accident at a site.
// Equipment, when given, is the tower crane or foundation pit involved (it
// must be installed at the site); Injuries counts the people injured or
// killed (0 for a near miss or damage only).
type IncidentReported struct {
	Incident    string `json:"incident"`
	Severity    string `json:"severity"`
	Category    string `json:"category"`
	Equipment   string `json:"equipment,omitempty"`
	Injuries    int    `json:"injuries"`
	Description string `json:"description,omitempty"`
}

func (d *IncidentReported) validate(v *validator) {
	v.id("incident", d.Incident)
	v.oneOf("severity", d.Severity, IncidentSeverities()...)
	v.oneOf("category", d.Category, IncidentCategories()...)
	v.optID("equipment", d.Equipment)
	if d.Injuries < 0 || d.Injuries > maxInjuries {
		v.fail("data.injuries", fmt.Sprintf("must be between 0 and %d", maxInjuries))
	}
	v.text("description", d.Description, false)
}

// TrackPoint is one forecast (or observed) position of a tropical cyclone.
// Winds are in m/s averaged over WindAvgMinutes (1 for JTWC, 2 for CMA, 10
// for JMA and HKO); radii in km.
type TrackPoint struct {
	Time           When    `json:"time"`
	Lat            float64 `json:"lat"`
	Lon            float64 `json:"lon"`
	PressureHPa    float64 `json:"pressure_hpa"`
	MaxWindMS      float64 `json:"max_wind_ms"`
	WindAvgMinutes float64 `json:"wind_avg_minutes"`
	RMWKm          float64 `json:"rmw_km,omitempty"`
	R30Km          float64 `json:"r30_km,omitempty"`
	R50Km          float64 `json:"r50_km,omitempty"`
}

// TyphoonAdvisory is the data of typhoon.advisory.
type TyphoonAdvisory struct {
	Name   string       `json:"name"`
	Issued When         `json:"issued"`
	Track  []TrackPoint `json:"track"`
}

func (d *TyphoonAdvisory) validate(v *validator) {
	v.text("name", d.Name, true)
	v.when("issued", d.Issued, true)
	if len(d.Track) == 0 || len(d.Track) > maxListLen {
		v.fail("data.track", fmt.Sprintf("must list 1 to %d points", maxListLen))
		return
	}
	var prev time.Time
	for i, p := range d.Track {
		f := fmt.Sprintf("track[%d].", i)
		v.when(f+"time", p.Time, true)
		v.between(f+"lat", p.Lat, -90, 90)
		v.between(f+"lon", p.Lon, -180, 180)
		v.between(f+"pressure_hpa", p.PressureHPa, 850, 1050)
		v.between(f+"max_wind_ms", p.MaxWindMS, 0, 120)
		v.oneOf(f+"wind_avg_minutes", fmt.Sprint(p.WindAvgMinutes), "1", "2", "3", "10")
		v.between(f+"rmw_km", p.RMWKm, 0, 1000)
		v.between(f+"r30_km", p.R30Km, 0, 2000)
		v.between(f+"r50_km", p.R50Km, 0, 2000)
		if v.err != nil {
			return
		}
		t := p.Time.Start(time.UTC)
		if i > 0 && !t.After(prev) {
			v.fail("data."+f+"time", "track times must increase")
			return
		}
		prev = t
	}
}

// Rainstorm warning levels (Shenzhen's rainstorm warning signals), in
// increasing order, and the level that cancels a warning.
const (
	RainYellow    = "yellow"
	RainOrange    = "orange"
	RainRed       = "red"
	RainCancelled = "cancelled"
)

// RainfallWarning is the data of rainfall.warning.
type RainfallWarning struct {
	Level      string `json:"level"`
	Issued     When   `json:"issued"`
	ValidUntil When   `json:"valid_until,omitzero"`
	District   string `json:"district,omitempty"` // empty: the whole city
}

func (d *RainfallWarning) validate(v *validator) {
	v.oneOf("level", d.Level, RainYellow, RainOrange, RainRed, RainCancelled)
	v.when("issued", d.Issued, true)
	v.when("valid_until", d.ValidUntil, false)
	v.text("district", d.District, false)
}
