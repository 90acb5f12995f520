package citysim

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// A project's script is everything that happens to it apart from sensor
// readings and routine inspections: registration, baseline, equipment,
// progress, milestone completions, acceptances and disbursements, the wage
// account and payroll, hazards and their rectification, change orders. Each
// item is a pure function of the seed, the project and the item's index,
// placed in time relative to the project's planned start (itself relative to
// Start). Bootstrap sends the items at or before Start; Next sends the rest
// when their time comes. Scripted events have ids of the form
// "sim-<seed>-<project>-<item>" that do not depend on Start, so a restart
// with a later Start sends the same ids for the same items and the engine
// de-duplicates them.
//
// Ground truth of the script (rates are per project):
//   - Progress: the planned work is done at a speed that varies from one
//     60-day stretch of planned time to the next around the project's base
//     speed (genSpeeds; Truth.Performance is the average); progress is
//     reported monthly from its actual start and once in the 12 hours
//     before Start.
//   - Milestones: milestone.completed at the actual finish, acceptance.passed
//     1-6 days later, funds.disbursed (85% of budget × share) 3-12 days after
//     acceptance (office hours).
//   - Wage account: a deposit of 3 months' payroll (+0-10%) 5 days after the
//     planned start and every 90 days; payroll (wages.paid, ±10%) every 30
//     days (0-1 day early, between 09:00 and 17:00). A project in arrears
//     paid last 33-50 days before Start and settles 2-25 days after Start.
//   - Hazards: found by inspections (in office hours) as a Poisson process
//     with a mean interval of 70 days / contractor risk; severity general 78%, major
//     19%, critical 3%; deadline the found date + 7, 3 or 1 days. With
//     probability 0.1 × risk (at most 0.5) rectification comes 1-20 days
//     after the deadline, otherwise before it; re-inspection 3-48 h later
//     passes (acceptance.passed 55%, inspection.completed pass 35%) or fails
//     (10%, new deadline 3 days, rectified again in 0.5-2.5 days, accepted
//     3-24 h later). At Start, 3% × risk of projects also have an overdue
//     hazard (found 9-20 days before Start, rectified 0.5-8 days after) and
//     1.5% × risk an open critical hazard found in the last 1-20 hours
//     (rectified before its deadline).
//   - Change orders: a Poisson process with a mean interval of 200 days;
//     +1-6% of the budget, 0-45 days' extension.

// scripted builds an event of a project's script.
func (c *City) scripted(p *project, key, typ, source, site string, at time.Time, data twin.Data) *twin.Event {
	return &twin.Event{
		ID: c.idPrefix + p.id + "-" + key, Type: typ, Source: source, Time: at,
		Project: p.id, Site: site, Data: data,
	}
}

// Sources of the simulated gateways.
const (
	srcFiling      = "citysim/filing"
	srcEquipment   = "citysim/equipment-registry"
	srcProgress    = "citysim/progress"
	srcFunds       = "citysim/funds"
	srcWageAccount = "citysim/wage-account"
	srcSupervision = "citysim/supervision"
	srcWeather     = "citysim/weather"
	srcSafety      = "citysim/safety-reporting"
)

// history returns a project's scripted events at or before Start, plus the
// last 24 hours of pit monitoring, in event-time order.
func (c *City) history(p *project) []*twin.Event {
	var evs []*twin.Event
	add := func(e *twin.Event) {
		if !e.Time.After(c.start) {
			evs = append(evs, e)
		}
	}
	add(c.scripted(p, "registered", twin.TypeProjectRegistered, srcFiling, "", p.registered, &twin.ProjectRegistered{
		Name: p.name, District: p.district.name, Kind: p.kind,
		Owner: p.owner.id, Contractor: p.contractor.id, Supervisor: p.supervisor.id,
		BudgetCNY: p.budget, PlannedStart: dateOf(p.pStart), PlannedFinish: dateOf(p.plannedFinish),
		Deadline: dateOf(p.deadline), Address: p.address, PermitNumber: p.permit,
	}))
	for j, s := range p.sites {
		at := p.registered.Add(day + time.Duration(j)*30*time.Minute)
		add(c.scripted(p, "S"+strconv.Itoa(j+1)+"-added", twin.TypeSiteAdded, srcFiling, s.id, at, &twin.SiteAdded{
			Name: s.name, Lat: s.lat, Lon: s.lon, Terrain: s.terrain,
		}))
	}
	add(c.scripted(p, "plan", twin.TypePlanBaselined, srcFiling, "", p.registered.Add(2*day), &twin.PlanBaselined{Milestones: p.planData()}))
	for _, s := range p.sites {
		for _, pt := range s.pits {
			add(c.scripted(p, c.local(p, pt.id)+"-installed", twin.TypeEquipmentInstalled, srcEquipment, s.id, pt.installed, &twin.EquipmentInstalled{
				Equipment: pt.id, Kind: twin.KindFoundationPit, DepthM: pt.depth,
				AlarmCumulativeMM: pt.alarmMM, AlarmRateMMPerDay: pt.alarmRate,
			}))
		}
		for _, cr := range s.cranes {
			add(c.scripted(p, c.local(p, cr.id)+"-installed", twin.TypeEquipmentInstalled, srcEquipment, s.id, cr.installed, &twin.EquipmentInstalled{
				Equipment: cr.id, Kind: twin.KindTowerCrane, HeightM: cr.height, JibLengthM: cr.jib,
				InServiceLimitMS: cr.inService, OutOfServiceLimitMS: cr.outService,
			}))
		}
	}
	for _, d := range c.depositPlan(p) {
		add(c.depositEvent(p, d, d.at))
	}
	for _, w := range c.wagePlan(p) {
		add(c.wageEvent(p, w, w.at))
	}
	for _, m := range p.ms {
		evs = append(evs, c.progressHistory(p, m)...)
		steps := c.milestoneSteps(p, m)
		for b, at := range steps {
			add(c.milestoneEvent(p, m, b, at))
		}
	}
	c.eachHazard(p, func(h *hazard) bool {
		if h.found.After(c.start) {
			return false
		}
		for b, st := range h.steps {
			add(c.hazardEvent(p, h, b, st.at))
		}
		return true
	})
	for k, at := 0, c.nextChange(p, 0, p.pStart); !at.After(c.start) && !at.After(p.end); k, at = k+1, c.nextChange(p, k+1, at) {
		add(c.changeEvent(p, k, at, at))
	}
	for j, s := range p.sites {
		for _, pt := range s.pits {
			r := c.keyed(tagSite, uint64(p.idx), uint64(1000+j))
			for h := range 24 {
				at := c.start.Add(-24*time.Hour + time.Duration(h)*time.Hour + 5*time.Minute)
				add(c.scripted(p, c.local(p, pt.id)+"-disp-"+strconv.Itoa(h), twin.TypeSensorReading, s.source, s.id, at, &twin.SensorReading{
					Kind: twin.SensorPitDisplacement, Value: round(pt.displacement(float64(h)/24+5.0/1440)+0.08*r.NormFloat64(), 2),
					Unit: twin.CanonicalUnit(twin.SensorPitDisplacement), Equipment: pt.id,
				}))
			}
		}
	}
	for _, in := range p.incs {
		if !in.live {
			add(c.incidentEvent(in, in.at))
		}
	}
	slices.SortStableFunc(evs, func(a, b *twin.Event) int { return a.Time.Compare(b.Time) })
	return evs
}

// officeHours returns a time on t's local date between 08:30 and 17:30,
// placed by f in [0, 1).
func officeHours(t time.Time, f float64) time.Time {
	return midnight(t).Add(8*time.Hour + 30*time.Minute + time.Duration(f*9*float64(time.Hour))).Round(time.Minute)
}

// local returns an equipment id without its project prefix ("S1-TC2").
func (c *City) local(p *project, id string) string { return strings.TrimPrefix(id, p.id+"-") }

// progressHistory returns a milestone's progress reports before Start:
// monthly from its actual start until it finishes, and, while it is under
// way at Start, one in the 1-12 hours before Start.
func (c *City) progressHistory(p *project, m *milestone) []*twin.Event {
	var evs []*twin.Event
	report := func(key string, at time.Time) {
		pct := round(p.percent(m, at), 1)
		if pct <= 0 || pct >= 100 {
			return
		}
		evs = append(evs, c.scripted(p, m.id+"-"+key, twin.TypeProgressReported, srcProgress, "", at,
			&twin.ProgressReported{Milestone: m.id, PercentComplete: pct}))
	}
	limit := c.start.Add(-day)
	for j := 1; ; j++ {
		at := m.as.Add(time.Duration(j) * 30 * day)
		if !at.Before(m.af) || at.After(limit) {
			break
		}
		report("progress-"+strconv.Itoa(j), at)
	}
	if m.as.Before(c.start) && m.af.After(c.start) {
		r := c.keyed(tagProgress, uint64(p.idx), uint64(m.i))
		at := c.start.Add(-time.Duration(uni(r, 1, 12) * float64(time.Hour))).Round(time.Second)
		if !at.After(m.as) {
			at = m.as.Add(time.Hour)
		}
		if !at.After(c.start) {
			report("progress-latest", at)
		}
	}
	return evs
}

// milestoneSteps returns when a milestone is completed, accepted and paid.
func (c *City) milestoneSteps(p *project, m *milestone) [3]time.Time {
	r := c.keyed(tagMilestone, uint64(p.idx), uint64(m.i))
	done := m.af
	acc := officeHours(done.Add(time.Duration(1+r.IntN(6))*day), r.Float64())
	pay := officeHours(acc.Add(time.Duration(3+r.IntN(10))*day), r.Float64())
	return [3]time.Time{done, acc, pay}
}

// milestoneEvent builds step b (0 completed, 1 accepted, 2 disbursed) of a
// milestone at time at.
func (c *City) milestoneEvent(p *project, m *milestone, b int, at time.Time) *twin.Event {
	switch b {
	case 0:
		return c.scripted(p, m.id+"-completed", twin.TypeMilestoneCompleted, srcProgress, "", at, &twin.MilestoneCompleted{Milestone: m.id})
	case 1:
		return c.scripted(p, m.id+"-accepted", twin.TypeAcceptancePassed, srcSupervision, "", at, &twin.AcceptancePassed{Milestone: m.id})
	}
	return c.scripted(p, m.id+"-disbursed", twin.TypeFundsDisbursed, srcFunds, "", at, &twin.Payment{
		AmountCNY: round(p.budget*m.share*0.85, 0), Milestone: m.id, Account: "PA-" + p.id,
	})
}

// pay is one scripted payment into or out of the wage account.
type pay struct {
	at      time.Time
	key     string
	amount  float64
	workers int
	period  string
}

// wagePlan returns a project's payroll, in time order, until its actual
// finish.
func (c *City) wagePlan(p *project) []pay {
	var out []pay
	var lastAt, settleAt time.Time
	if p.arrearsDays > 0 {
		lastAt = c.start.Add(-time.Duration(p.arrearsDays * float64(day))).Round(time.Second)
		settleAt = c.start.Add(time.Duration(p.settleDays * float64(day))).Round(time.Second)
	}
	for k := 1; ; k++ {
		r := c.keyed(tagWage, uint64(p.idx), uint64(k))
		at := p.pStart.Add(time.Duration(30*k-r.IntN(2))*day + 9*time.Hour + time.Duration(r.IntN(8*60))*time.Minute)
		if at.After(p.end) {
			break
		}
		if p.arrearsDays > 0 && !at.Before(lastAt.Add(-20*day)) && !at.After(settleAt.Add(20*day)) {
			continue
		}
		out = append(out, pay{
			at: at, key: "wages-" + strconv.Itoa(k), amount: round(p.payroll*uni(r, 0.9, 1.1), 0),
			workers: p.workers, period: at.Add(-20 * day).In(cst).Format("2006-01"),
		})
	}
	if p.arrearsDays > 0 {
		owed := math.Ceil((p.arrearsDays + p.settleDays) / 30)
		out = append(out,
			pay{at: lastAt, key: "wages-before-arrears", amount: p.payroll, workers: p.workers, period: lastAt.Add(-20 * day).In(cst).Format("2006-01")},
			pay{at: settleAt, key: "wages-settled", amount: round(p.payroll*owed, 0), workers: p.workers, period: settleAt.Add(-20 * day).In(cst).Format("2006-01")},
		)
		slices.SortStableFunc(out, func(a, b pay) int { return a.at.Compare(b.at) })
	}
	return out
}

func (c *City) wageEvent(p *project, w pay, at time.Time) *twin.Event {
	return c.scripted(p, w.key, twin.TypeWagesPaid, srcWageAccount, "", at, &twin.Payment{
		AmountCNY: w.amount, Account: "WA-" + p.id, Period: w.period, Workers: w.workers,
	})
}

// depositPlan returns a project's wage-account deposits until its actual
// finish.
func (c *City) depositPlan(p *project) []pay {
	var out []pay
	for k := 1; ; k++ {
		at := p.pStart.Add(time.Duration(5+90*(k-1))*day + 10*time.Hour)
		if at.After(p.end) {
			break
		}
		r := c.keyed(tagDeposit, uint64(p.idx), uint64(k))
		out = append(out, pay{at: at, key: "deposit-" + strconv.Itoa(k), amount: round(3*p.payroll*uni(r, 1, 1.1), -2)})
	}
	return out
}

func (c *City) depositEvent(p *project, d pay, at time.Time) *twin.Event {
	return c.scripted(p, d.key, twin.TypeWageAccountDeposited, srcWageAccount, "", at, &twin.Payment{AmountCNY: d.amount, Account: "WA-" + p.id})
}

// Steps of a hazard's rectification loop.
const (
	hsInspected = iota // the inspection that found it
	hsFound
	hsRectified
	hsAccepted   // acceptance.passed closes it
	hsPassed     // re-inspection passes and closes it
	hsFailed     // re-inspection fails and reopens it
	hsRectified2 // rectified again
	hsAccepted2  // and accepted
)

var stepNames = [...]string{"inspected", "found", "rectified", "accepted", "reinspected", "reinspected", "rectified-again", "accepted-again"}

// hazard is one scripted hazard with its rectification loop.
type hazard struct {
	k        int    // index in the project's hazard process; -1 overdue, -2 critical at Start
	id       string // hazard id, e.g. P-001-H3
	key      string // H3
	site     *site
	severity string
	category string
	desc     string
	ms       string    // the milestone under way when it was found
	found    time.Time // in office hours
	raw      time.Time // arrival time of the hazard process (found is moved into office hours)
	deadline time.Time // local midnight ending the deadline date
	steps    []hstep
}

type hstep struct {
	at   time.Time
	kind int
}

// Hazard categories with typical findings and whether they need a crane
// (1) or a pit (2).
var hazardKinds = []struct {
	category string
	needs    int
	findings []string
}{
	{"edge protection", 0, []string{"guard rail missing at a slab edge", "floor opening not covered"}},
	{"scaffolding", 0, []string{"scaffold ties missing", "scaffold boards incomplete at working level"}},
	{"temporary electricity", 0, []string{"distribution box without residual-current protection", "damaged cable lying in water"}},
	{"fire safety", 0, []string{"hot work without a permit", "no extinguisher at the welding area"}},
	{"formwork", 0, []string{"formwork props irregularly spaced", "shoring not inspected before the pour"}},
	{"dust control", 0, []string{"stockpile not covered", "wheel wash out of use"}},
	{"tower crane", 1, []string{"height limiter not working", "anchor bolts loose at the base"}},
	{"lifting operations", 1, []string{"sling worn beyond discard criteria", "no signaller during a blind lift"}},
	{"foundation pit", 2, []string{"spoil stockpiled at the pit crest", "crest drainage ditch blocked"}},
}

// nextHazard returns when hazard k is found, given when hazard k-1 was
// found (or the planned start for k = 0).
func (c *City) nextHazard(p *project, k int, prev time.Time) time.Time {
	r := c.keyed(tagHazardGap, uint64(p.idx), uint64(k))
	return prev.Add(time.Duration(expDays(r, 70/p.contractor.risk) * float64(day))).Round(time.Minute)
}

// eachHazard calls f with the project's hazards in the order they are
// found, specials included, until f returns false or the project ends.
func (c *City) eachHazard(p *project, f func(*hazard) bool) {
	var specials []*hazard
	if p.overdue {
		specials = append(specials, c.hazardSpec(p, -1, time.Time{}))
	}
	if p.critical {
		specials = append(specials, c.hazardSpec(p, -2, time.Time{}))
	}
	for k, at := 0, c.nextHazard(p, 0, p.pStart); !at.After(p.end); k, at = k+1, c.nextHazard(p, k+1, at) {
		h := c.hazardSpec(p, k, at)
		for len(specials) > 0 && specials[0].found.Before(h.found) {
			if !f(specials[0]) {
				return
			}
			specials = specials[1:]
		}
		if !f(h) {
			return
		}
	}
	for _, h := range specials {
		if !f(h) {
			return
		}
	}
}

// hazardSpec draws hazard k of a project, found at the given time (for the
// specials, k < 0, the time is drawn relative to Start).
func (c *City) hazardSpec(p *project, k int, found time.Time) *hazard {
	r := c.keyed(tagHazard, uint64(p.idx), uint64(int64(k)))
	h := &hazard{k: k, raw: found}
	switch k {
	case -1:
		h.key = "HX1"
		found = c.start.Add(-time.Duration(uni(r, 9, 20) * float64(day))).Round(time.Minute)
		h.severity = twin.SeverityGeneral
		if r.Float64() < 0.35 {
			h.severity = twin.SeverityMajor
		}
	case -2:
		h.key = "HC1"
		found = c.start.Add(-time.Duration(uni(r, 1, 20) * float64(time.Hour))).Round(time.Minute)
		h.severity = twin.SeverityCritical
	default:
		h.key = "H" + strconv.Itoa(k+1)
		found = officeHours(found, r.Float64())
		h.severity = [...]string{twin.SeverityGeneral, twin.SeverityMajor, twin.SeverityCritical}[pick(r, []float64{0.78, 0.19, 0.03})]
	}
	h.id = p.id + "-" + h.key
	h.found = found
	h.site = p.sites[r.IntN(len(p.sites))]
	var ok []int
	for i, hk := range hazardKinds {
		if hk.needs == 0 || hk.needs == 1 && len(h.site.cranes) > 0 || hk.needs == 2 && len(h.site.pits) > 0 {
			ok = append(ok, i)
		}
	}
	hk := hazardKinds[ok[r.IntN(len(ok))]]
	h.category = hk.category
	h.desc = hk.findings[r.IntN(len(hk.findings))]
	for _, m := range p.ms {
		if pct := p.percent(m, found); pct > 0 && pct < 100 {
			h.ms = m.id
			break
		}
	}
	days := map[string]int{twin.SeverityGeneral: 7, twin.SeverityMajor: 3, twin.SeverityCritical: 1}[h.severity]
	h.deadline = midnight(found).AddDate(0, 0, days+1)

	var rect time.Time
	switch {
	case k == -1:
		rect = c.start.Add(time.Duration(uni(r, 0.5, 8) * float64(day)))
	case k == -2:
		rect = c.start.Add(time.Duration(uni(r, 0.2, 0.8) * float64(h.deadline.Sub(c.start))))
	case r.Float64() < min(0.5, 0.1*p.contractor.risk):
		rect = h.deadline.Add(time.Duration(uni(r, 1, 20) * float64(day)))
	default:
		rect = found.Add(time.Duration(uni(r, 0.15, 0.85) * float64(h.deadline.Sub(found))))
	}
	rect = laterOf(rect.Round(time.Minute), found.Add(time.Hour))
	h.steps = []hstep{{found, hsInspected}, {found.Add(time.Minute), hsFound}, {rect, hsRectified}}
	closed := rect.Add(time.Duration(uni(r, 3, 48) * float64(time.Hour))).Round(time.Minute)
	switch u := r.Float64(); {
	case u < 0.55:
		h.steps = append(h.steps, hstep{closed, hsAccepted})
	case u < 0.9:
		h.steps = append(h.steps, hstep{closed, hsPassed})
	default:
		again := closed.Add(time.Duration(uni(r, 0.5, 2.5) * float64(day))).Round(time.Minute)
		acc := again.Add(time.Duration(uni(r, 3, 24) * float64(time.Hour))).Round(time.Minute)
		h.steps = append(h.steps, hstep{closed, hsFailed}, hstep{again, hsRectified2}, hstep{acc, hsAccepted2})
	}
	return h
}

// hazardEvent builds step b of a hazard's loop at time at.
func (c *City) hazardEvent(p *project, h *hazard, b int, at time.Time) *twin.Event {
	st := h.steps[b]
	key := h.key + "-" + stepNames[st.kind]
	var typ string
	var data twin.Data
	switch st.kind {
	case hsInspected:
		typ, data = twin.TypeInspectionCompleted, &twin.InspectionCompleted{Inspection: h.id + "-INS", Result: "fail", Findings: 1}
	case hsFound:
		typ, data = twin.TypeHazardFound, &twin.HazardFound{
			Hazard: h.id, Severity: h.severity, Category: h.category,
			Deadline: dateOf(h.deadline.Add(-time.Second)), Milestone: h.ms, Description: h.desc,
		}
	case hsRectified, hsRectified2:
		typ, data = twin.TypeHazardRectified, &twin.HazardRectified{Hazard: h.id}
	case hsAccepted, hsAccepted2:
		typ, data = twin.TypeAcceptancePassed, &twin.AcceptancePassed{Hazard: h.id}
	case hsPassed:
		typ, data = twin.TypeInspectionCompleted, &twin.InspectionCompleted{Inspection: h.id + "-RE1", Result: "pass", Hazard: h.id}
	case hsFailed:
		typ, data = twin.TypeInspectionCompleted, &twin.InspectionCompleted{
			Inspection: h.id + "-RE1", Result: "fail", Hazard: h.id, Findings: 1,
			Deadline: dateOf(st.at.Add(3 * day)),
		}
	}
	return c.scripted(p, key, typ, srcSupervision, h.site.id, at, data)
}

// nextChange returns when change order k is approved, given when k-1 was
// (or the planned start for k = 0).
func (c *City) nextChange(p *project, k int, prev time.Time) time.Time {
	r := c.keyed(tagChangeGap, uint64(p.idx), uint64(k))
	return prev.Add(time.Duration(expDays(r, 200) * float64(day))).Round(time.Minute)
}

var changeReasons = []string{"design change requested by the owner", "additional scope", "unforeseen ground conditions", "material price adjustment", "utility diversion"}

// changeEvent builds change order k, drawn as of its approval time due, sent
// at time at.
func (c *City) changeEvent(p *project, k int, due, at time.Time) *twin.Event {
	r := c.keyed(tagChange, uint64(p.idx), uint64(k))
	co := &twin.ChangeOrderApproved{
		ChangeOrder: fmt.Sprintf("%s-CO%d", p.id, k+1),
		AmountCNY:   round(p.budget*uni(r, 0.01, 0.06), -4),
		Days:        float64(r.IntN(46)),
		Reason:      changeReasons[r.IntN(len(changeReasons))],
	}
	for _, m := range p.ms {
		if pct := p.percent(m, due); pct > 0 && pct < 100 {
			co.Milestone = m.id
			break
		}
	}
	return c.scripted(p, "CO"+strconv.Itoa(k+1), twin.TypeChangeOrderApproved, srcFunds, "", at, co)
}
