package twin

import (
	"slices"
	"time"
)

// ProjectView is a read-only copy of a project twin for readers outside the
// goroutine that owns the twin (the HTTP API, websockets). It leaves out the
// raw sensor buckets and the de-duplication memory; it shares nothing mutable
// with the twin, so a runtime can hand it to other goroutines.
type ProjectView struct {
	ID          string        `json:"id"`
	Registered  bool          `json:"registered"`
	Info        ProjectInfo   `json:"info"`
	Clock       time.Time     `json:"clock,omitzero"`
	Health      Health        `json:"health"`
	Reasons     []string      `json:"reasons"`
	Schedule    Schedule      `json:"schedule"`
	Funds       Funds         `json:"funds"`
	Milestones  []Milestone   `json:"milestones"`
	Hazards     []Hazard      `json:"hazards"`
	Credit      float64       `json:"credit"`
	Alarms      []Alarm       `json:"alarms"` // project-level and site alarms, worst first
	Sites       []SiteView    `json:"sites"`
	Weather     WeatherView   `json:"weather"`
	Audit       []AuditRecord `json:"-"` // shared, append-only: never modified in place
	AuditLength int           `json:"audit_records"`
	AuditHead   string        `json:"audit_head,omitempty"`
	Applied     int64         `json:"events_applied"`
	Duplicates  int64         `json:"duplicates"`
	// Predictions are the latest of each model (sorted by model and
	// subject), and Risks the conditions they raise, worst first.
	Predictions []Prediction `json:"predictions"`
	Risks       []Alarm      `json:"risks"`
	// Filings are the filings requested of the filing platform, with
	// their review status.
	Filings []Filing `json:"filings,omitempty"`
}

// WeatherView is the weather part of a view (without the full track).
type WeatherView struct {
	Rainstorm    string    `json:"rainstorm,omitempty"`
	Typhoon      string    `json:"typhoon,omitempty"`
	TyphoonMinKm float64   `json:"typhoon_min_km,omitempty"`
	TyphoonAt    time.Time `json:"typhoon_at,omitzero"`
	TyphoonSite  string    `json:"typhoon_site,omitempty"`
	// Advisory is the active typhoon advisory with its forecast track
	// (shared, never modified).
	Advisory *TyphoonAdvisory `json:"advisory,omitempty"`
}

// SiteView is a read-only copy of a site twin.
type SiteView struct {
	ID         string       `json:"id"`
	Name       string       `json:"name,omitempty"`
	Lat        float64      `json:"lat"`
	Lon        float64      `json:"lon"`
	Terrain    string       `json:"terrain,omitempty"`
	Registered bool         `json:"registered"`
	Health     Health       `json:"health"`
	Reasons    []string     `json:"reasons"`
	Equipment  []Equipment  `json:"equipment"`
	Sensors    []SensorView `json:"sensors"`
	Windows    []RuleValue  `json:"windows"` // the latest windowed value of each rule
	Alarms     []Alarm      `json:"alarms"`
	Clock      time.Time    `json:"clock,omitzero"`
	Readings   int64        `json:"readings"`
	Late       int64        `json:"late_readings"`
	Expired    int64        `json:"expired_readings"`
	Cranes     int          `json:"cranes"`
	Pits       int          `json:"pits"`
	Worst      Level        `json:"worst_level"`
	// AlarmsLast7d counts the sensor alarms raised at the site in the 7
	// days up to At (SensorAlarmWindow; at most 100 are remembered), and
	// AlarmsLast7dByRule splits them by sensor rule.
	AlarmsLast7d       int            `json:"alarms_last_7d"`
	AlarmsLast7dByRule map[string]int `json:"alarms_last_7d_by_rule,omitempty"`
	// IncidentsLast90d counts the site's incidents in the 90 days up to At
	// (IncidentWindow).
	IncidentsLast90d int `json:"incidents_last_90d"`
	// Incidents are the site's recent incidents (the last 365 days, at
	// most 50), oldest first.
	Incidents []SiteIncident `json:"incidents"`
	// At is the time the counts are taken at: the later of the site's
	// clock (its newest reading) and the project's clock (its newest
	// event), so that a site without readings still counts its incidents.
	At time.Time `json:"at,omitzero"`
}

// SensorView is the latest reading of one sensor series.
type SensorView struct {
	Kind      string    `json:"kind"`
	Equipment string    `json:"equipment,omitempty"`
	Value     float64   `json:"value"`
	Unit      string    `json:"unit"`
	Time      time.Time `json:"time"`
	Event     string    `json:"event"`
}

// SensorPoint is one bucket of a sensor series, for charts.
type SensorPoint struct {
	Start time.Time `json:"start"`
	Mean  float64   `json:"mean"`
	Max   float64   `json:"max"`
	N     int64     `json:"n"`
}

// View returns a read-only copy of the twin.
func (p *ProjectTwin) View() *ProjectView {
	v := &ProjectView{
		ID: p.ID, Registered: p.Registered, Info: p.Info, Clock: p.Clock, Health: p.Health,
		Reasons: slices.Clone(p.Reasons), Schedule: p.Schedule, Funds: p.Funds,
		Credit: p.Credit.Score, Audit: p.Audit[:len(p.Audit):len(p.Audit)], AuditLength: len(p.Audit),
		Applied: p.Applied, Duplicates: p.Duplicates,
		Weather: WeatherView{
			Rainstorm: p.Weather.Rainstorm, Typhoon: p.Weather.Typhoon, TyphoonMinKm: p.Weather.TyphoonMinKm,
			TyphoonAt: p.Weather.TyphoonAt, TyphoonSite: p.Weather.TyphoonSite, Advisory: p.Weather.Advisory,
		},
		Milestones: make([]Milestone, 0, len(p.Milestones)),
		Hazards:    make([]Hazard, 0, len(p.Hazards)),
		Sites:      make([]SiteView, 0, len(p.Sites)),
	}
	if n := len(p.Audit); n > 0 {
		v.AuditHead = p.Audit[n-1].Hash
	}
	for _, m := range p.Milestones {
		c := *m
		c.DependsOn = slices.Clone(m.DependsOn)
		v.Milestones = append(v.Milestones, c)
	}
	for _, id := range sortedKeys(p.Hazards) {
		v.Hazards = append(v.Hazards, *p.Hazards[id])
	}
	v.Alarms = alarmList(p.Alarms)
	for _, id := range sortedKeys(p.Sites) {
		sv := p.Sites[id].view(p.Clock)
		v.Sites = append(v.Sites, sv)
		v.Alarms = append(v.Alarms, sv.Alarms...)
	}
	slices.SortStableFunc(v.Alarms, func(a, b Alarm) int { return int(b.Level) - int(a.Level) })
	v.Predictions = make([]Prediction, 0, len(p.Predictions.Latest))
	for _, k := range sortedKeys(p.Predictions.Latest) {
		v.Predictions = append(v.Predictions, *p.Predictions.Latest[k])
	}
	v.Risks = alarmList(p.Predictions.Risks)
	for _, f := range p.Filings {
		v.Filings = append(v.Filings, *f)
	}
	return v
}

func (s *SiteTwin) view(projectClock time.Time) SiteView {
	at := later(s.Clock, projectClock)
	sv := SiteView{
		At: at, Incidents: slices.Clone(s.Incidents),
		ID: s.ID, Name: s.Name, Lat: s.Lat, Lon: s.Lon, Terrain: s.Terrain, Registered: s.Registered,
		Health: s.Health, Reasons: slices.Clone(s.Reasons), Clock: s.Clock,
		Readings: s.Readings, Late: s.Late, Expired: s.Expired,
		Equipment: make([]Equipment, 0, len(s.Equipment)),
		Sensors:   make([]SensorView, 0, len(s.Series)),
		Windows:   make([]RuleValue, 0, len(s.Values)),
		Alarms:    alarmList(s.Alarms),
	}
	for _, id := range sortedKeys(s.Equipment) {
		eq := *s.Equipment[id]
		sv.Equipment = append(sv.Equipment, eq)
		switch eq.Kind {
		case KindTowerCrane:
			sv.Cranes++
		case KindFoundationPit:
			sv.Pits++
		}
	}
	for _, k := range sortedKeys(s.Series) {
		ser := s.Series[k]
		sv.Sensors = append(sv.Sensors, SensorView{
			Kind: ser.Kind, Equipment: ser.Equipment, Value: ser.Latest.Value, Unit: ser.Unit,
			Time: ser.Latest.Time, Event: ser.Latest.Event,
		})
	}
	for _, k := range sortedKeys(s.Values) {
		sv.Windows = append(sv.Windows, *s.Values[k])
	}
	for _, al := range sv.Alarms {
		sv.Worst = max(sv.Worst, al.Level)
	}
	if sv.Incidents == nil {
		sv.Incidents = []SiteIncident{}
	}
	sv.AlarmsLast7d, sv.AlarmsLast7dByRule = s.sensorAlarmsSince(at.Add(-SensorAlarmWindow), at)
	sv.IncidentsLast90d = s.incidentsSince(at.Add(-IncidentWindow), at)
	return sv
}

// SeriesPoints returns the kept buckets of one series of a site (kind, or
// kind@equipment), oldest first, for charts; nil when there is no such series.
func (p *ProjectTwin) SeriesPoints(site, key string) []SensorPoint {
	s, ok := p.Sites[site]
	if !ok {
		return nil
	}
	ser, ok := s.Series[key]
	if !ok {
		return nil
	}
	out := make([]SensorPoint, ser.Buckets.Len())
	for i := range out {
		b := ser.Buckets.At(i)
		out[i] = SensorPoint{Start: time.UnixMilli(b.Start).UTC(), Mean: round6(b.Sum / float64(b.N)), Max: b.Max, N: b.N}
	}
	return out
}

func alarmList(m map[string]*Alarm) []Alarm {
	out := make([]Alarm, 0, len(m))
	for _, k := range sortedKeys(m) {
		out = append(out, *m[k])
	}
	slices.SortStableFunc(out, func(a, b Alarm) int { return int(b.Level) - int(a.Level) })
	return out
}
