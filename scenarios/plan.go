package scenarios

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Action kinds of the plan.
const (
	ActionStopCrane   = "stop_crane"      // stop crane work, free slew
	ActionSecureSite  = "secure_site"     // scaffolds, hoardings, loose materials
	ActionEvacuatePit = "evacuate_pit"    // everyone out of the pit
	ActionShelter     = "move_to_shelter" // workers to a named shelter
	ActionCordon      = "cordon_site"     // an incident: protect the scene
	ActionRule        = "rule"            // what a rule pack's alarm at stop asks
)

// Action is one thing a site must do, by when and by whom.
type Action struct {
	Due       time.Time `json:"due"` // deadline: the forecast hazard minus the lead time
	Site      string    `json:"site"`
	Project   string    `json:"project"`
	District  string    `json:"district,omitempty"`
	Kind      string    `json:"kind"`
	Equipment string    `json:"equipment,omitempty"`
	Rule      string    `json:"rule,omitempty"` // for kind rule
	What      string    `json:"what"`
	Who       string    `json:"who"`
	// Ordered is when the forecast (or alarm) that calls for it came; the
	// action is taken as done at Done = the later of Due and Ordered.
	Ordered time.Time `json:"ordered"`
	Done    time.Time `json:"done"`
	// Forecast is the forecast arrival of the hazard the action is due
	// ahead of (by the latest advisory before the deadline), HazardAt when
	// it really arrives in the drill (zero: it never does).
	Forecast time.Time `json:"forecast,omitzero"`
	HazardAt time.Time `json:"hazard_at,omitzero"`
	// InTime: done no later than the hazard arrived.
	InTime    bool   `json:"in_time"`
	Revisions int    `json:"revisions,omitempty"` // deadline moved by later advisories
	Basis     string `json:"basis"`
	Shelter   string `json:"shelter,omitempty"`
	Workers   int    `json:"workers,omitempty"`
}

func (a *Action) ref() ActionRef {
	return ActionRef{Site: a.Site, Kind: a.Kind, Equipment: a.Equipment}
}

// planner collects the actions the forecasts call for.
type planner struct {
	d     *drill
	byKey map[string]*Action
	order []*Action
}

func newPlanner(d *drill) *planner { return &planner{d: d, byKey: map[string]*Action{}} }

func planKey(site, kind, equipment string) string { return site + "\x00" + kind + "\x00" + equipment }

// want asks for an action at site i ahead of a hazard forecast at hazard by
// a forecast issued at ordered. A later forecast moves the deadline of an
// action not yet due.
func (p *planner) want(i int, kind, equipment string, ordered, hazard time.Time, basis string) {
	s := p.d.w.sites[i]
	due := hazard.Add(-p.d.lead)
	k := planKey(s.ID, kind, equipment)
	if a, ok := p.byKey[k]; ok {
		if ordered.Before(a.Due) && !due.Equal(a.Due) {
			a.Due, a.Forecast, a.Basis = due, hazard, basis
			a.Revisions++
		}
		return
	}
	a := &Action{Due: due, Site: s.ID, Project: s.Project, District: s.District, Kind: kind, Equipment: equipment,
		Ordered: ordered, Forecast: hazard, Basis: basis}
	p.byKey[k] = a
	p.order = append(p.order, a)
}

// hazardAt records when the hazard of an action really arrives.
func (p *planner) hazardAt(i int, kind, equipment string, at time.Time) {
	if a, ok := p.byKey[planKey(p.d.w.sites[i].ID, kind, equipment)]; ok {
		a.HazardAt = at
	}
}

func (p *planner) find(i int, kind, equipment string) *Action {
	return p.byKey[planKey(p.d.w.sites[i].ID, kind, equipment)]
}

// finish completes the actions (what, who, done, shelters) and orders them
// by deadline.
func (p *planner) finish() []*Action {
	d := p.d
	for _, a := range p.order {
		a.Done = a.Due
		if a.Ordered.After(a.Due) {
			a.Done = a.Ordered
		}
		a.InTime = a.HazardAt.IsZero() || !a.Done.After(a.HazardAt)
		tw := d.w.byID[a.Project]
		a.Who = who(tw)
		switch a.Kind {
		case ActionStopCrane:
			a.What = fmt.Sprintf("stop crane work on %s, raise the hook, set the jib to free slew and clear its radius", a.Equipment)
		case ActionSecureSite:
			a.What = "secure scaffolds, hoardings, formwork and loose materials; stop outdoor work at height"
		case ActionEvacuatePit:
			a.What = fmt.Sprintf("evacuate pit %s, stop excavation, make the pumps ready", a.Equipment)
		}
	}
	sortActions(p.order)
	p.assignShelters(p.order)
	return p.order
}

func who(p *twin.ProjectTwin) string {
	if p == nil || p.Info.Contractor == "" {
		return "the site's contractor"
	}
	w := "contractor " + p.Info.Contractor
	if p.Info.Supervisor != "" {
		w += " (checked by supervisor " + p.Info.Supervisor + ")"
	}
	return w
}

func sortActions(as []*Action) {
	slices.SortStableFunc(as, func(a, b *Action) int {
		return cmp.Or(a.Due.Compare(b.Due), strings.Compare(a.Site, b.Site), strings.Compare(a.Kind, b.Kind), strings.Compare(a.Equipment, b.Equipment))
	})
}

// assignShelters sends each site's workers, in deadline order, to the
// nearest shelter with room for them.
func (p *planner) assignShelters(as []*Action) {
	d := p.d
	workers := cmp.Or(d.s.WorkersPerSite, DefaultWorkersPerSite)
	room := make([]int, len(d.s.Resources.Shelters))
	for i, sh := range d.s.Resources.Shelters {
		room[i] = sh.Capacity
	}
	for _, a := range as {
		if a.Kind != ActionShelter {
			continue
		}
		a.Workers = workers
		s := d.w.sites[d.w.siteIdx[a.Site]]
		best, bestKm := -1, math.Inf(1)
		for j, sh := range d.s.Resources.Shelters {
			if room[j] < workers {
				continue
			}
			if km := twin.DistanceKm(s.Lat, s.Lon, sh.Lat, sh.Lon); km < bestKm {
				best, bestKm = j, km
			}
		}
		if best < 0 {
			a.What = fmt.Sprintf("move about %d workers to a shelter: no shelter of the scenario has room left (ask the district for one)", workers)
			continue
		}
		room[best] -= workers
		sh := d.s.Resources.Shelters[best]
		a.Shelter = sh.ID
		a.What = fmt.Sprintf("move about %d workers to shelter %s (%s, %.1f km by road)", workers, sh.ID, cmp.Or(sh.Name, sh.ID), bestKm*d.detour())
	}
}

// reactiveAction adds the action a stop alarm asks for when no planned
// action covers it.
func (d *drill) reactiveAction(al *twin.Alert, planned map[string]bool) *Action {
	if al.Rule == "crane_wind" && planned[al.Site+"/"+al.Equipment] {
		return nil
	}
	k := al.Site + "/" + al.Rule + "/" + al.Equipment
	if d.reactiveKeys[k] {
		return nil
	}
	i, ok := d.w.siteIdx[al.Site]
	if !ok {
		return nil
	}
	s := d.w.sites[i]
	a := &Action{Due: al.Time, Site: al.Site, Project: al.Project, District: s.District, Kind: ActionRule, Equipment: al.Equipment,
		Rule: al.Rule, What: cmp.Or(al.Action, "act on the alarm"), Who: cmp.Or(al.Responsible, "the site's contractor"),
		Ordered: al.Time, Done: al.Time, HazardAt: al.Time, InTime: true, Basis: "alarm at stop: " + al.Reason}
	if al.Responsible != "" {
		a.Who = "contractor " + al.Responsible
	}
	d.reactive = append(d.reactive, a)
	if d.reactiveKeys == nil {
		d.reactiveKeys = map[string]bool{}
	}
	d.reactiveKeys[k] = true
	return a
}

// sitePlans returns the planned actions of a site.
func (h *hazard) sitePlans(site string) []*Action {
	if h.bySite == nil {
		h.bySite = map[string][]*Action{}
		for _, a := range h.actions {
			h.bySite[a.Site] = append(h.bySite[a.Site], a)
		}
	}
	return h.bySite[site]
}

// Plan is the emergency plan: what each site must do by when and by whom,
// ordered by deadline, with a summary per district, the dispatch of teams
// to the drill's incidents, and the drill's KPIs.
type Plan struct {
	Format string    `json:"format"`
	Drill  string    `json:"drill"`
	Name   string    `json:"name"`
	Kind   string    `json:"kind"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	// LeadTime is how long before the forecast hazard an action is due
	// (the rule pack's weather.secure_lead) and LeadSource its source.
	LeadTime   twin.Duration `json:"lead_time"`
	LeadSource string        `json:"lead_source"`
	// Actions, by deadline.
	Actions   []*Action         `json:"actions"`
	Districts []DistrictSummary `json:"districts"`
	// Dispatch: the incidents, the teams sent to them and the factor that
	// turns straight-line distance into road distance.
	DetourFactor float64        `json:"detour_factor"`
	Incidents    []*Incident    `json:"incidents"`
	Assignments  []Assignment   `json:"assignments"`
	Delay        []ProjectDelay `json:"delay"`
	KPIs         KPIs           `json:"kpis"`
}

// DistrictSummary sums up a district's part of the plan.
type DistrictSummary struct {
	District         string    `json:"district"`
	Sites            int       `json:"sites"`
	SitesWithActions int       `json:"sites_with_actions"`
	CranesToStop     int       `json:"cranes_to_stop"`
	PitsToEvacuate   int       `json:"pits_to_evacuate"`
	WorkersToShelter int       `json:"workers_to_shelter"`
	Incidents        int       `json:"incidents"`
	ActionsLate      int       `json:"actions_late"`
	FirstDue         time.Time `json:"first_due,omitzero"`
	SecuredAt        time.Time `json:"secured_at,omitzero"`
	WorstLevel       string    `json:"worst_level"`
}

// ProjectDelay is the delay model's P(finish by the deadline) of a project
// the drill touches, at the fork and at the drill's end.
type ProjectDelay struct {
	Project        string   `json:"project"`
	POnTimeAtFork  *float64 `json:"p_on_time_at_fork,omitempty"`
	POnTimeAtEnd   *float64 `json:"p_on_time_at_end,omitempty"`
	StopHours      float64  `json:"stop_hours"` // hours under a stop-work order in the drill, summed over its sites
	ActionsPlanned int      `json:"actions"`
}

// KPIs are the drill's figures of merit.
type KPIs struct {
	Sites            int `json:"sites"`
	SitesWithActions int `json:"sites_with_actions"`
	Actions          int `json:"actions"`
	// ActionsLate counts actions done after their hazard arrived.
	ActionsLate int `json:"actions_late"`
	// AllSecuredAt is when the last site finished its planned actions,
	// and SecuredAfterHours how long after the start.
	AllSecuredAt      time.Time `json:"all_secured_at,omitzero"`
	SecuredAfterHours float64   `json:"secured_after_hours"`
	// Incidents, and of them Served (a team arrived in the drill) and
	// Unserved; response times in minutes from report to first arrival.
	Incidents           int     `json:"incidents"`
	Served              int     `json:"served"`
	Unserved            int     `json:"unserved"`
	MeanResponseMinutes float64 `json:"mean_response_minutes"`
	MaxResponseMinutes  float64 `json:"max_response_minutes"`
	// PeakStopOrders is the most sites under a stop-work order at once.
	PeakStopOrders   int       `json:"peak_stop_orders"`
	PeakStopOrdersAt time.Time `json:"peak_stop_orders_at,omitzero"`
	AlertsRaised     int       `json:"alerts"`
	EventsApplied    int       `json:"events_applied"`
	EventsRejected   int       `json:"events_rejected"`
	WorkersSheltered int       `json:"workers_sheltered"`
	WorkersNoShelter int       `json:"workers_without_shelter"`
}

// plan assembles the plan after the run.
func (d *drill) plan(ctx context.Context) (*Plan, error) {
	r := d.opt.Rules
	all := slices.Concat(d.h.actions, d.reactive)
	sortActions(all)
	pl := &Plan{Format: PlanFormat, Drill: d.s.ID, Name: d.s.Name, Kind: d.s.Kind, Start: d.start, End: d.end,
		LeadTime: twin.Duration(d.lead), LeadSource: r.Sources["secure_lead"], Actions: all, DetourFactor: d.detour(),
		Incidents: d.dispatched.Incidents, Assignments: d.dispatched.Assignments}
	if pl.LeadSource == "" {
		pl.LeadSource = "the rule pack has no weather.secure_lead: sitetwin's default of 6h"
	}
	if pl.Actions == nil {
		pl.Actions = []*Action{}
	}
	if pl.Incidents == nil {
		pl.Incidents = []*Incident{}
	}
	if pl.Assignments == nil {
		pl.Assignments = []Assignment{}
	}
	k := &pl.KPIs
	k.Sites = len(d.w.sites)
	k.Actions = len(all)
	dist := map[string]*DistrictSummary{}
	sum := func(name string) *DistrictSummary {
		if dist[name] == nil {
			dist[name] = &DistrictSummary{District: name, WorstLevel: "ok"}
		}
		return dist[name]
	}
	worst := map[string]twin.Level{}
	for _, s := range d.w.sites {
		sum(s.District).Sites++
		worst[s.District] = max(worst[s.District], s.Worst)
	}
	withActions := map[string]bool{}
	secured := map[string]time.Time{}
	touched := map[string]bool{}
	for _, a := range all {
		ds := sum(a.District)
		touched[a.Project] = true
		if !withActions[a.Site] {
			withActions[a.Site] = true
			ds.SitesWithActions++
			k.SitesWithActions++
		}
		switch a.Kind {
		case ActionStopCrane:
			ds.CranesToStop++
		case ActionEvacuatePit:
			ds.PitsToEvacuate++
		case ActionShelter:
			if a.Shelter != "" {
				ds.WorkersToShelter += a.Workers
				k.WorkersSheltered += a.Workers
			} else {
				k.WorkersNoShelter += a.Workers
			}
		}
		if !a.InTime {
			ds.ActionsLate++
			k.ActionsLate++
		}
		if ds.FirstDue.IsZero() || a.Due.Before(ds.FirstDue) {
			ds.FirstDue = a.Due
		}
		if a.Kind != ActionRule && a.Kind != ActionCordon {
			if a.Done.After(secured[a.Site]) {
				secured[a.Site] = a.Done
			}
			if a.Done.After(ds.SecuredAt) {
				ds.SecuredAt = a.Done
			}
			if a.Done.After(k.AllSecuredAt) {
				k.AllSecuredAt = a.Done
			}
		}
	}
	if !k.AllSecuredAt.IsZero() {
		k.SecuredAfterHours = math.Round(k.AllSecuredAt.Sub(d.start).Hours()*100) / 100
	}
	var responses []float64
	for _, in := range d.dispatched.Incidents {
		sum(in.District).Incidents++
		touched[in.Project] = true
		k.Incidents++
		if in.Unserved {
			k.Unserved++
			continue
		}
		k.Served++
		responses = append(responses, in.ResponseMinutes)
	}
	if len(responses) > 0 {
		var s float64
		for _, x := range responses {
			s += x
			k.MaxResponseMinutes = max(k.MaxResponseMinutes, x)
		}
		k.MeanResponseMinutes = math.Round(s/float64(len(responses))*10) / 10
	}
	for _, name := range sortedKeys(dist) {
		ds := dist[name]
		ds.WorstLevel = worst[name].String()
		pl.Districts = append(pl.Districts, *ds)
	}
	if pl.Districts == nil {
		pl.Districts = []DistrictSummary{}
	}
	k.AlertsRaised, k.EventsApplied, k.EventsRejected = d.alertsRaised, d.eventsApplied, d.eventsRejected
	for kk, st := range d.timeline().Steps {
		if st.StopOrders > k.PeakStopOrders {
			k.PeakStopOrders, k.PeakStopOrdersAt = st.StopOrders, d.stepTime(kk)
		}
	}
	// the delay model on the projects the drill touches
	stopHours := map[string]float64{}
	for kk, st := range d.timeline().Steps {
		for i := range st.Level {
			if d.stopped[kk][i] {
				stopHours[d.w.sites[i].Project] += d.step.Hours()
			}
		}
	}
	after := d.delay(ctx, touched)
	actions := map[string]int{}
	for _, a := range all {
		actions[a.Project]++
	}
	for _, id := range sortedKeys(touched) {
		pd := ProjectDelay{Project: id, StopHours: math.Round(stopHours[id]*100) / 100, ActionsPlanned: actions[id]}
		if v, ok := d.delayBefore[id]; ok {
			pd.POnTimeAtFork = &v
		}
		if v, ok := after[id]; ok {
			pd.POnTimeAtEnd = &v
		}
		pl.Delay = append(pl.Delay, pd)
	}
	if pl.Delay == nil {
		pl.Delay = []ProjectDelay{}
	}
	return pl, nil
}
