package dashboard

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// What each role sees of a project. A regulator, and a contractor on its
// own projects, get the twin's view (twin.ProjectView) and ProjectRow on
// the map; the public gets PublicProject and PublicRow, which carry no
// funds, hazards, health reasons or names of firms and people.

// Project statuses (ProjectRow.Status, PublicProject.Status).
const (
	StatusUnregistered = "unregistered"       // events arrived before project.registered
	StatusRegistered   = "registered"         // filed, no work reported yet
	StatusUnderway     = "under construction" // progress reported
	StatusCompleted    = "completed"          // every milestone completed or accepted
)

// disturbanceKinds are the sensor kinds the public sees: dust and noise.
var disturbanceKinds = []string{"pm10", "pm25", "noise"}

// AlarmCounts counts alarms by level.
type AlarmCounts struct {
	Warn int `json:"warn"`
	Stop int `json:"stop"`
}

func (a *AlarmCounts) add(l twin.Level, n int) {
	switch l {
	case twin.LevelStop:
		a.Stop += n
	case twin.LevelWarn:
		a.Warn += n
	}
}

// ProjectRow is a project as the city map and a district list show it to
// a regulator or to a contractor among its parties.
type ProjectRow struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	District   string      `json:"district"`
	Kind       string      `json:"kind"`
	Contractor string      `json:"contractor"`
	Status     string      `json:"status"`
	Progress   float64     `json:"progress"` // earned fraction complete, 0..1
	Health     twin.Health `json:"health"`
	Reasons    []string    `json:"reasons"` // at most 3
	// Risk is the worst level of the twin's risks (forecast conditions):
	// ok, warn or stop; RiskReason says the worst one.
	Risk       string      `json:"risk"`
	RiskReason string      `json:"risk_reason,omitempty"`
	Alarms     AlarmCounts `json:"open_alarms"`
	Credit     float64     `json:"credit"`
	Sites      []RowSite   `json:"sites"`
}

// RowSite is a site of a ProjectRow. Its health is the worst of its own
// alarms and the project-wide ones, Reason the worst alarm's.
type RowSite struct {
	ID     string      `json:"id"`
	Name   string      `json:"name,omitempty"`
	Lat    float64     `json:"lat"`
	Lon    float64     `json:"lon"`
	Health twin.Health `json:"health"`
	Reason string      `json:"reason,omitempty"` // the first
	Cranes int         `json:"cranes"`
	Pits   int         `json:"pits"`
	Risk   string      `json:"risk"` // worst risk whose subject is the site or its equipment
}

// PublicRow is a project as the map shows it to the public.
type PublicRow struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	District string `json:"district"`
	Kind     string `json:"kind"`
	Status   string `json:"status"`
	// Progress is the earned fraction complete, 0..1.
	Progress float64 `json:"progress"`
	// Disturbance is the worst level of the dust and noise alarms: ok,
	// warn or stop.
	Disturbance string       `json:"disturbance"`
	Sites       []PublicSite `json:"sites"`
}

// PublicSite is a site as the public sees it.
type PublicSite struct {
	ID          string          `json:"id"`
	Name        string          `json:"name,omitempty"`
	Lat         float64         `json:"lat"`
	Lon         float64         `json:"lon"`
	Disturbance string          `json:"disturbance"`
	Readings    []PublicReading `json:"readings,omitempty"` // latest dust and noise readings
	Alarms      []PublicAlarm   `json:"alarms,omitempty"`   // standing dust and noise alarms
}

// PublicReading is a latest dust or noise reading.
type PublicReading struct {
	Kind  string    `json:"kind"`
	Value float64   `json:"value"`
	Unit  string    `json:"unit"`
	Time  time.Time `json:"time"`
}

// PublicAlarm is a standing dust or noise alarm.
type PublicAlarm struct {
	Rule   string    `json:"rule"`
	Level  string    `json:"level"`
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"`
}

// PublicProject is one project as the public sees it (GET
// /api/twins/{project} and the websocket twin topic with a public token).
type PublicProject struct {
	PublicRow
	Filing   Filing   `json:"filing"`
	Schedule Progress `json:"progress_detail"`
	// Filings are the filings requested of the filing platform
	// (registration, start, completion) with their approval progress.
	Filings []PublicFiling `json:"filings"`
}

// Public filing stages (PublicFiling.Stage, PublicFilingStep.Stage), in
// the order a filing goes through them.
const (
	FilingStageRequested = "requested" // the twin requested it; the platform has not answered
	FilingStageDistrict  = "district"  // district preliminary review
	FilingStageCity      = "city"      // city review
	FilingStageExpert    = "expert"    // expert review
	FilingStageApproved  = "approved"  // approved at the end of review
	FilingStageReturned  = "returned"  // returned at a stage (PublicFilingStep.At)
	FilingStageRejected  = "rejected"  // refused outright (invalid, a duplicate)
)

// PublicFiling is a filing's approval progress as the public sees it: the
// stage it stands at and when it reached each stage. It carries no
// reasons (free text that may name firms and people) and no receipts.
type PublicFiling struct {
	Kind  string             `json:"kind"`         // registration, start, completion
	Stage string             `json:"stage"`        // one of the FilingStage constants
	At    string             `json:"at,omitempty"` // for returned: the review stage (district, city, expert)
	Steps []PublicFilingStep `json:"steps"`        // oldest first, from requested
}

// PublicFilingStep is a stage a filing reached, and when (the request in
// the twin's time, the review steps in the platform's).
type PublicFilingStep struct {
	Stage string    `json:"stage"`
	At    string    `json:"at,omitempty"` // for returned: the review stage
	Time  time.Time `json:"time"`
}

// reviewStages names the platform's review stages for the public.
var reviewStages = map[string]string{
	"district_preliminary": FilingStageDistrict, "city_review": FilingStageCity, "expert_review": FilingStageExpert,
}

// publicStage maps a filing status at a platform stage to a public stage
// and, for a return, where it was returned ("" stage: not shown; a
// request that could not be delivered is still requested).
func publicStage(status, stage string) (string, string) {
	switch status {
	case twin.FilingRequested, twin.FilingFailed:
		return FilingStageRequested, ""
	case twin.FilingInReview:
		return reviewStages[stage], ""
	case twin.FilingApproved:
		return FilingStageApproved, ""
	case twin.FilingReturned:
		return FilingStageReturned, reviewStages[stage]
	case twin.FilingRejected:
		return FilingStageRejected, ""
	}
	return "", ""
}

func publicFilings(fs []twin.Filing) []PublicFiling {
	out := make([]PublicFiling, 0, len(fs))
	for _, f := range fs {
		pf := PublicFiling{Kind: f.Kind, Steps: []PublicFilingStep{{Stage: FilingStageRequested, Time: f.Requested}}}
		pf.Stage, pf.At = publicStage(f.Status, f.Stage)
		if pf.Stage == "" {
			pf.Stage = FilingStageRequested
		}
		for _, h := range f.History {
			st, at := publicStage(h.Status, h.Stage)
			if st == "" || st == FilingStageRequested {
				continue
			}
			pf.Steps = append(pf.Steps, PublicFilingStep{Stage: st, At: at, Time: h.Time})
		}
		out = append(out, pf)
	}
	return out
}

// Filing is the project's filing with the authorities, as far as the twin
// knows it (project.registered).
type Filing struct {
	Registered    bool      `json:"registered"`
	RegisteredAt  time.Time `json:"registered_at,omitzero"`
	Permit        string    `json:"permit_number,omitempty"`
	Address       string    `json:"address,omitempty"`
	PlannedStart  time.Time `json:"planned_start,omitzero"`
	PlannedFinish time.Time `json:"planned_finish,omitzero"`
	Deadline      time.Time `json:"deadline,omitzero"`
}

// Progress counts milestones by how far they are.
type Progress struct {
	Milestones int     `json:"milestones"`
	Completed  int     `json:"completed"`
	Accepted   int     `json:"accepted"`
	Percent    float64 `json:"percent_complete"` // earned, 0..100
}

// AlertItem is an alert as the feed and GET /api/alerts give it, with its
// kind (sensor, schedule, funds, wages, hazard, incident, weather, credit,
// risk, filing, disbursement, other).
type AlertItem struct {
	twin.Alert
	Kind string `json:"kind"`
}

// PublicAlert is a dust or noise alert as the public sees it.
type PublicAlert struct {
	ID        string    `json:"id"`
	Project   string    `json:"project"`
	District  string    `json:"district,omitempty"`
	Site      string    `json:"site,omitempty"`
	Rule      string    `json:"rule"`
	Kind      string    `json:"kind"`
	Change    string    `json:"change"`
	Level     string    `json:"level"`
	From      string    `json:"from"`
	Reason    string    `json:"reason"`
	Action    string    `json:"action,omitempty"`
	Value     float64   `json:"value"`
	Threshold float64   `json:"threshold"`
	Unit      string    `json:"unit,omitempty"`
	Time      time.Time `json:"time"`
}

// kinds classifies rules: which are sensor rules, which of those the
// public sees, which are risk rules.
type kinds struct {
	sensor map[string]bool
	public map[string]bool
	risk   map[string]bool
	rules  *twin.Rules
}

func newKinds(r *twin.Rules) *kinds {
	k := &kinds{sensor: map[string]bool{}, public: map[string]bool{}, risk: map[string]bool{}, rules: r}
	for _, sr := range r.Sensor {
		k.sensor[sr.ID] = true
		pub := len(sr.Kinds) > 0
		for _, kind := range sr.Kinds {
			pub = pub && slices.Contains(disturbanceKinds, kind)
		}
		k.public[sr.ID] = pub
	}
	for _, rr := range r.Risks {
		k.risk[rr.ID] = true
	}
	return k
}

// alertKind names the kind of an alert for filters.
func (k *kinds) alertKind(rule, key string) string {
	switch {
	case strings.HasPrefix(key, "risk:") || k.risk[rule]:
		return "risk"
	case k.sensor[rule]:
		return "sensor"
	case rule == "rainstorm" || rule == "typhoon":
		return "weather"
	case rule == "schedule", rule == "funds", rule == "wages", rule == "hazard", rule == "incident", rule == "credit",
		rule == "filing", rule == "disbursement":
		return rule
	case rule == "wage_account":
		return "wages"
	}
	return "other"
}

func (k *kinds) item(a twin.Alert) AlertItem {
	return AlertItem{Alert: a, Kind: k.alertKind(a.Rule, a.Key)}
}

func (k *kinds) publicAlert(a twin.Alert) PublicAlert {
	return PublicAlert{
		ID: a.ID, Project: a.Project, District: a.District, Site: a.Site, Rule: a.Rule, Kind: k.alertKind(a.Rule, a.Key),
		Change: a.Change, Level: a.Level.String(), From: a.From.String(), Reason: a.Reason, Action: a.Action,
		Value: a.Value, Threshold: a.Threshold, Unit: a.Unit, Time: a.Time,
	}
}

// alertFilter selects alerts for the feed and GET /api/alerts.
type alertFilter struct {
	Project  string `json:"project,omitempty"`
	District string `json:"district,omitempty"`
	Level    string `json:"level,omitempty"` // warn or stop: the level after the change
	Kind     string `json:"kind,omitempty"`
	Rule     string `json:"rule,omitempty"`
}

func (f *alertFilter) match(k *kinds, a *twin.Alert) bool {
	return (f.Project == "" || a.Project == f.Project) &&
		(f.District == "" || strings.EqualFold(a.District, f.District)) &&
		(f.Level == "" || a.Level.String() == f.Level) &&
		(f.Rule == "" || a.Rule == f.Rule) &&
		(f.Kind == "" || k.alertKind(a.Rule, a.Key) == f.Kind)
}

// alertVisible reports whether p may see an alert of a project whose
// parties are info (nil when the project is not known any more).
func (k *kinds) alertVisible(p Principal, a *twin.Alert, info *twin.ProjectInfo) bool {
	switch p.Role {
	case RoleRegulator:
		return true
	case RolePublic:
		return k.public[a.Rule] && !strings.HasPrefix(a.Key, "risk:")
	}
	return info != nil && p.sees(info)
}

// status says where a project stands.
func status(v *twin.ProjectView) string {
	if !v.Registered {
		return StatusUnregistered
	}
	done := len(v.Milestones) > 0
	started := v.Schedule.EV > 0
	for _, m := range v.Milestones {
		done = done && (!m.Completed.IsZero() || !m.Accepted.IsZero())
		started = started || m.Percent > 0
	}
	switch {
	case done:
		return StatusCompleted
	case started:
		return StatusUnderway
	}
	return StatusRegistered
}

func worstRisk(risks []twin.Alarm, subject func(string) bool) (twin.Level, string) {
	lvl, reason := twin.LevelOK, ""
	for _, r := range risks {
		if subject != nil && !subject(r.Site) {
			continue
		}
		if r.Level > lvl {
			lvl, reason = r.Level, r.Reason
		}
	}
	return lvl, reason
}

func projectRow(v *twin.ProjectView) ProjectRow {
	r := ProjectRow{
		ID: v.ID, Name: v.Info.Name, District: v.Info.District, Kind: v.Info.Kind, Contractor: v.Info.Contractor,
		Status: status(v), Progress: round3(v.Schedule.EV), Health: v.Health, Credit: v.Credit,
		Reasons: v.Reasons[:min(3, len(v.Reasons))], Sites: make([]RowSite, 0, len(v.Sites)),
	}
	if r.Reasons == nil {
		r.Reasons = []string{}
	}
	if r.Health == "" {
		r.Health = twin.Green
	}
	lvl, reason := worstRisk(v.Risks, nil)
	r.Risk, r.RiskReason = lvl.String(), reason
	for _, a := range v.Alarms {
		r.Alarms.add(a.Level, 1)
	}
	for _, s := range v.Sites {
		if !s.Registered {
			continue
		}
		rs := RowSite{ID: s.ID, Name: s.Name, Lat: s.Lat, Lon: s.Lon, Cranes: s.Cranes, Pits: s.Pits}
		// a site shows its own alarms and the project's (schedule, funds,
		// credit ...), not those of the project's other sites
		worst := twin.LevelOK
		for _, a := range v.Alarms {
			if (a.Site == "" || a.Site == s.ID) && a.Level > worst {
				worst, rs.Reason = a.Level, a.Reason
			}
		}
		rs.Health = twin.HealthOf(worst)
		lvl, _ := worstRisk(v.Risks, func(subject string) bool { return subject != "" && strings.HasPrefix(subject, s.ID) })
		rs.Risk = lvl.String()
		r.Sites = append(r.Sites, rs)
	}
	return r
}

func (k *kinds) publicRow(v *twin.ProjectView) PublicRow {
	r := PublicRow{
		ID: v.ID, Name: v.Info.Name, District: v.Info.District, Kind: v.Info.Kind,
		Status: status(v), Progress: round3(v.Schedule.EV), Sites: make([]PublicSite, 0, len(v.Sites)),
	}
	worst := twin.LevelOK
	for _, s := range v.Sites {
		if !s.Registered {
			continue
		}
		ps := PublicSite{ID: s.ID, Name: s.Name, Lat: s.Lat, Lon: s.Lon}
		sw := twin.LevelOK
		for _, a := range s.Alarms {
			if k.public[a.Rule] {
				sw = max(sw, a.Level)
				ps.Alarms = append(ps.Alarms, PublicAlarm{Rule: a.Rule, Level: a.Level.String(), Reason: a.Reason, Since: a.Since})
			}
		}
		for _, sv := range s.Sensors {
			if sv.Equipment == "" && slices.Contains(disturbanceKinds, sv.Kind) {
				ps.Readings = append(ps.Readings, PublicReading{Kind: sv.Kind, Value: sv.Value, Unit: sv.Unit, Time: sv.Time})
			}
		}
		ps.Disturbance = sw.String()
		worst = max(worst, sw)
		r.Sites = append(r.Sites, ps)
	}
	r.Disturbance = worst.String()
	return r
}

func (k *kinds) publicProject(v *twin.ProjectView) PublicProject {
	p := PublicProject{
		PublicRow: k.publicRow(v),
		Filing: Filing{
			Registered: v.Registered, RegisteredAt: v.Info.Registered, Permit: v.Info.PermitNumber, Address: v.Info.Address,
			PlannedStart: v.Info.PlannedStart, PlannedFinish: v.Info.PlannedFinish, Deadline: v.Info.Deadline,
		},
		Schedule: Progress{Milestones: len(v.Milestones), Percent: round3(100 * v.Schedule.EV)},
		Filings:  publicFilings(v.Filings),
	}
	for _, m := range v.Milestones {
		if !m.Completed.IsZero() {
			p.Schedule.Completed++
		}
		if !m.Accepted.IsZero() {
			p.Schedule.Accepted++
		}
	}
	return p
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
