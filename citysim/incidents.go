package citysim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Ground truth of the incident process.
//
// Incidents (incident.reported) happen at each site as a Poisson process in
// working time: a site's rate λ(t) is per working day, and a working day is
// 07:00-20:00 local time (incidents happen while people work; the rate
// accrues over those 13 hours and not at night). Work at a site runs from
// its project's planned start until its actual finish (Truth.ActualFinish);
// outside it λ = 0.
//
//	λ(t) = λ0 × exp( Σᵢ βᵢ × min(xᵢ(t), capᵢ) )
//
// with λ0 = IncidentBaseRate = 0.0004 per working day and the factors xᵢ of
// the site at t (IncidentCoefficients lists them with β and cap):
//
//	factor                 β     cap  x
//	open_general_hazards   0.20  5    general hazards at the site found and not yet rectified (the twin's "open")
//	open_major_hazards     0.60  5    major ones
//	open_critical_hazards  1.20  3    critical ones
//	overdue_hazards        0.50  5    open hazards at the site past their rectification deadline
//	sensor_alarms_7d       0.10  20   sensor-alarm episodes at the site in the last 7 days (see below)
//	crane_wind_exposure    3.00  —    0 without an installed tower crane; else the largest, over the site's
//	                                  cranes, of 2.45 m/s (Shenzhen's mean 10 m wind) × the site's exposure
//	                                  × (height/10)^α (GB 50009 power law of its terrain) × 1.45 (gust
//	                                  factor) / the crane's in-service limit: about 0.23-0.34
//	pit_trend              0.80  2    the largest, over the site's installed pits, of the pit's true
//	                                  displacement rate / its rate alarm value (2 mm/d)
//	contractor_risk_log    0.70  —    ln of the contractor's hidden risk (Truth.ContractorRisk, 0.6-2.8)
//	credit_deficit         0.15  —    (100 − the project's credit) / 10
//	incidents_90d          0.40  3    incidents at the site in the last 90 days
//
// The credit is the project's score as the Shenzhen rule pack derives it
// from the facts (initial 100; −1/−3/−6 per general/major/critical hazard
// found, −2 per hazard not rectified by its deadline, −5 per wage payment
// gap of more than 31 days, −5/−15/−30 per minor/serious/fatal incident,
// +0.5 per milestone accepted; within 0..100), computed here from the same
// facts the events carry, so that a twin of the project shows the same
// figure. The sensor-alarm episodes are the live city's: dust spikes, noisy
// nights, crane overloads (an overload reading is the overload, so their
// number grows with Rate), gusty spells that bring a crane's jib gust above
// 80% of its in-service limit, and pit surges (and the trending pits of
// Start); there are none before Start, so the history's incidents come from
// hazards, credit, cranes, contractors and earlier incidents alone. The
// twin observes these episodes through sampled readings, so its count of
// alarms in the last week is a noisy measure of this one.
//
// Rationale: open and overdue hazards are the hidden dangers the
// inspections found (a critical one is by definition a danger of a major
// accident); sensor alarms, a poor credit, a careless contractor and recent
// incidents mark a site run carelessly; cranes in strong wind and moving
// pits cause the crane and collapse accidents. With λ0 = 0.0004, a site at
// risk 1 with nothing open and no crane has about a 1.2% chance of an
// incident in a month, with a crane about 2.8%; the simulated city as a
// whole sees an incident in about 3% of its site-months (a careless
// contractor's site with open hazards several times that). The feedback
// through credit and recent incidents is kept weak (each incident raises
// the rate by half for 90 days, and its credit deduction by 8% (minor) to
// 57% (fatal) for good), so that incidents
// cluster without running away.
//
// Sampling is exact for the piecewise-constant λ (time rescaling): each
// site draws an Exp(1) budget per incident, and λ, re-evaluated at every
// change of a factor (and every hour of the live stream, for the pits'
// continuous settlement and the 7-day window), is integrated over working
// time until the budget is spent. Budgets and the incidents' details come
// from streams keyed by the project, the site and the incident's number, so
// the history does not depend on Start (Bootstrap ids stay the same).
//
// An incident's details, drawn when it happens:
//   - category by weights: fall 45, struck_by 15, electrical 6, fire 3,
//     other 8, collapse 5 (formwork or scaffold); with an installed crane,
//     crane 50 × crane_wind_exposure (about 12-17); with an installed pit,
//     collapse of the pit 10 × (1 + 2 × pit_trend). So at a site with
//     neither, falls are 55%, and cranes and pits raise the crane and
//     collapse shares (a crane incident names a crane, a pit collapse the
//     pit moving fastest).
//   - severity by category (minor/serious/fatal): fall 70/24/6, collapse
//     50/32/18, struck_by 78/19/3, crane 58/30/12, electrical 65/25/10,
//     fire 85/13/2, other 88/11/1 (roughly half of the deaths in MOHURD's
//     yearly reports on housing and municipal works are falls from
//     height, with collapses, struck-by and lifting accidents next; the
//     shares here are sitetwin's, not the reports').
//   - people hurt: minor 1 (85%), 2 (12%) or 0 (3%); serious 1 (70%), 2
//     (20%), 3 (10%); fatal 1 (75%), 2 (18%), 3 (7%).
//
// Incidents before Start are in the bootstrap history at the time they
// happen; after Start the process is evaluated every hour of event time and
// an incident is reported by the next live event (within about an hour, as
// Decree 493 asks), so its event time is up to an hour after it happened
// (Incident.Occurred and Incident.Reported). Both carry the id
// "sim-<seed>-<site>-INC<n>" (the n-th incident of the site) and the data
// incident "<site>-INC<n>".

// IncidentBaseRate is λ0, the incident rate of a site with every factor at
// zero, per working day (07:00-20:00 local).
const IncidentBaseRate = 0.0004

// coefficients of the incident process, in the order of Factors.x.
var coefficients = [...]Coefficient{
	{"open_general_hazards", 0.20, 5, "general hazards at the site found and not yet rectified"},
	{"open_major_hazards", 0.60, 5, "major hazards at the site found and not yet rectified"},
	{"open_critical_hazards", 1.20, 3, "critical hazards at the site found and not yet rectified"},
	{"overdue_hazards", 0.50, 5, "open hazards at the site past their rectification deadline"},
	{"sensor_alarms_7d", 0.10, 20, "sensor-alarm episodes at the site in the last 7 days"},
	{"crane_wind_exposure", 3.00, 0, "largest typical jib gust / in-service limit of the site's installed cranes (0 without)"},
	{"pit_trend", 0.80, 2, "largest true displacement rate / rate alarm value of the site's installed pits"},
	{"contractor_risk_log", 0.70, 0, "ln of the contractor's hidden risk"},
	{"credit_deficit", 0.15, 0, "(100 − the project's credit) / 10"},
	{"incidents_90d", 0.40, 3, "incidents at the site in the last 90 days"},
}

// Constants of the factors.
const (
	meanWind10m     = 2.45 // m/s, the mean of climateWind
	exposureGust    = 1.45 // gust factor of the crane wind exposure
	alarmWindow     = 7 * day
	incidentWindow  = 90 * day
	liveIncidentGap = time.Hour // how often the live process is evaluated at the latest
	workFrom        = 7.0       // local hour the working day begins
	workHours       = 13.0      // and its length
)

// Pit surges (after Start): each pit surges as a renewal process with a
// mean gap of 150 days / contractor risk, the first gap counted from Start
// and each later one from 20 days after the previous surge ends (the pit is
// shored up); a surge moves the pit at 1.8-3.0 mm/d for 1-2.5 days (above
// the 1.6 mm/d that warns on the 2 mm/d rate alarm). A surge is left out if
// the pit's settlement and the surges before it would take it past 27 mm
// (below the 30 mm cumulative alarm: the pit is not allowed to fail).
const (
	surgeMeanDays = 150.0
	surgeRestDays = 20.0
	surgeCapMM    = 27.0
)

// surge is a candidate surge of a pit; from and to are days after
// Start − 24 h, rate in mm/d; ok when it happens.
type surge struct {
	from, to, rate float64
	ok             bool
}

// pitSurges returns the pit's surge candidates, drawn at least up to the
// first one that starts at or after dt.
func (c *City) pitSurges(pt *pit, dt float64) []surge {
	for len(pt.surges) == 0 || pt.surges[len(pt.surges)-1].from < dt {
		k := len(pt.surges)
		base := 1.0 // Start
		if k > 0 {
			base = pt.surges[k-1].to + surgeRestDays
		}
		s := pt.site
		r := c.keyed(tagPitSurge, uint64(s.p.idx), uint64(s.num)<<40|uint64(pt.num)<<32|uint64(k))
		from := base + r.ExpFloat64()*surgeMeanDays/s.p.contractor.risk
		sg := surge{from: from, to: from + uni(r, 1, 2.5), rate: round(uni(r, 1.8, 3.0), 2)}
		if add := sg.rate * (sg.to - sg.from); pt.settled()+pt.surgeUsed+add <= surgeCapMM {
			sg.ok = true
			pt.surgeUsed += add
		}
		pt.surges = append(pt.surges, sg)
	}
	return pt.surges
}

// surgeAt returns the pit's surge rate (mm/d) and the displacement its
// surges have added (mm), dt days after Start − 24 h.
func (c *City) surgeAt(pt *pit, dt float64) (rate, added float64) {
	for _, sg := range c.pitSurges(pt, dt) {
		if !sg.ok || sg.from >= dt {
			continue
		}
		if dt < sg.to {
			rate += sg.rate
		}
		added += sg.rate * (min(dt, sg.to) - sg.from)
	}
	return rate, added
}

// pitDays returns t as days after Start − 24 h, the pits' time origin.
func (c *City) pitDays(t time.Time) float64 {
	return t.Sub(c.start.Add(-24*time.Hour)).Hours() / 24
}

// pitRatio returns the pit's true displacement rate over its rate alarm
// value at t (0 before it is installed). Before Start − 24 h a pit settles
// at its rate0 (a trending pit at 0.25 mm/d).
func (c *City) pitRatio(pt *pit, t time.Time) float64 {
	if t.Before(pt.installed) {
		return 0
	}
	dt := c.pitDays(t)
	var rate float64
	switch {
	case dt < 0 && pt.trend:
		rate = 0.25
	case dt < 0:
		rate = pt.rate0
	default:
		sr, _ := c.surgeAt(pt, dt)
		rate = pt.rateAt(dt) + sr
	}
	return rate / pt.alarmRate
}

// craneExposure returns a crane's wind exposure: its typical jib gust over
// its in-service limit.
func craneExposure(s *site, cr *crane) float64 {
	return meanWind10m * s.wind * math.Pow(cr.height/10, s.alpha) * exposureGust / cr.inService
}

// siteExposure returns the largest exposure of the site's cranes installed
// at t (0 without).
func siteExposure(s *site, t time.Time) float64 {
	var e float64
	for _, cr := range s.cranes {
		if !t.Before(cr.installed) {
			e = max(e, craneExposure(s, cr))
		}
	}
	return e
}

// noteAlarm records the start of a sensor-alarm episode at a site.
func (s *site) noteAlarm(at time.Time) {
	cut := at.Add(-alarmWindow)
	n := 0
	for n < len(s.alarms) && !s.alarms[n].After(cut) {
		n++
	}
	s.alarms = append(s.alarms[n:], at)
}

// alarmEpisodes counts the site's sensor-alarm episodes in (t − 7 days, t]:
// those noted by the live processes and the surges (and trends) of its
// installed pits.
func (c *City) alarmEpisodes(s *site, t time.Time) int {
	cut := t.Add(-alarmWindow)
	in := func(x time.Time) bool { return x.After(cut) && !x.After(t) }
	n := 0
	for _, at := range s.alarms {
		if in(at) {
			n++
		}
	}
	origin := c.start.Add(-24 * time.Hour)
	for _, pt := range s.pits {
		if t.Before(pt.installed) {
			continue
		}
		if pt.trend && in(origin) {
			n++
		}
		for _, sg := range c.pitSurges(pt, c.pitDays(t)) {
			if at := origin.Add(time.Duration(sg.from * float64(day))); sg.ok && in(at) {
				n++
			}
		}
	}
	return n
}

// workClock returns t as working days since the epoch: the local day
// number plus the fraction of that day's working hours (07:00-20:00) gone
// by at t.
func workClock(t time.Time) float64 {
	ls := float64(t.Unix()+8*3600) + float64(t.Nanosecond())/1e9
	d := math.Floor(ls / 86400)
	f := (ls - d*86400 - workFrom*3600) / (workHours * 3600)
	return d + min(1, max(0, f))
}

// fromWorkClock is the inverse of workClock: the first instant at which
// the working clock reads w.
func fromWorkClock(w float64) time.Time {
	d := math.Floor(w)
	f := w - d
	ls := d*86400 + workFrom*3600 + f*workHours*3600
	if f == 0 {
		ls = (d-1)*86400 + (workFrom+workHours)*3600 // the end of the day before
	}
	sec := math.Floor(ls)
	return time.Unix(int64(sec)-8*3600, int64((ls-sec)*1e9)).UTC()
}

// Kinds of the facts the incident process steps through.
const (
	fStep        = iota // only a boundary: equipment installed, a pit begins to trend
	fCredit             // the credit changes by delta (acceptance, wage arrears)
	fOpen               // a hazard is found (delta: its deduction) or reopened
	fClose              // a hazard is rectified
	fOverdue            // an open hazard passes its deadline (delta: its deduction)
	fOverdueEnd         // an overdue hazard is rectified
	fIncidentOut        // an incident leaves the 90-day window
)

// fact is a change of a factor of a project's sites at a time.
type fact struct {
	at    time.Time
	kind  uint8
	site  int8
	sev   int8 // hazard severity: 0 general, 1 major, 2 critical
	delta float64
}

// incState is a project's incident process, walked up to w.
type incState struct {
	w      time.Time
	credit float64 // sum of the credit changes up to w
	facts  []fact  // the changes after w, in time order
	hazK   int     // the next regular hazard to draw
	hazRaw time.Time
	hazEnd bool
	sites  []siteInc
}

// siteInc is the incident state of one site.
type siteInc struct {
	open    [3]int
	overdue int
	recent  int     // incidents in the last 90 days
	budget  float64 // what is left of the Exp(1) budget of the next incident
	k       int     // incidents so far
}

// incident is one incident the process produced.
type incident struct {
	site      *site
	n         int // 1 for the site's first
	at        time.Time
	reported  time.Time // zero until sent
	live      bool      // happened after Start
	severity  string
	category  string
	equipment string
	injuries  int
	desc      string
	rate      float64
	factors   Factors
}

func (in *incident) key() string { return in.site.id + "-INC" + strconv.Itoa(in.n) }

// creditRule is the Shenzhen pack's credit rule, which the process
// mirrors.
var creditRule = twin.DefaultRules().Credit

// hazardSeverities indexes siteInc.open.
var hazardSeverities = [3]string{twin.SeverityGeneral, twin.SeverityMajor, twin.SeverityCritical}

// initIncidents sets up every project's incident process and walks it up
// to Start: the history's incidents.
func (c *City) initIncidents() {
	for _, p := range c.projects {
		st := &incState{w: p.pStart, sites: make([]siteInc, len(p.sites))}
		p.inc = st
		for j := range st.sites {
			st.sites[j].budget = c.incidentBudget(p, j, 0)
		}
		if p.overdue {
			c.hazardFacts(p, c.hazardSpec(p, -1, time.Time{}))
		}
		if p.critical {
			c.hazardFacts(p, c.hazardSpec(p, -2, time.Time{}))
		}
		st.hazRaw = c.nextHazard(p, 0, p.pStart)
		for _, m := range p.ms {
			if creditRule.Acceptance != 0 {
				c.addFact(p, fact{at: c.milestoneSteps(p, m)[1], kind: fCredit, delta: creditRule.Acceptance})
			}
		}
		c.arrearsFacts(p)
		for j, s := range p.sites {
			for _, cr := range s.cranes {
				c.addFact(p, fact{at: cr.installed, kind: fStep, site: int8(j)})
			}
			for _, pt := range s.pits {
				c.addFact(p, fact{at: pt.installed, kind: fStep, site: int8(j)})
				if pt.trend {
					c.addFact(p, fact{at: c.start.Add(-24 * time.Hour), kind: fStep, site: int8(j)})
				}
			}
		}
		c.walk(p, c.start, 0)
		for _, in := range p.incs {
			in.reported = in.at
		}
	}
}

// incidentBudget draws the Exp(1) budget of a site's k-th incident.
func (c *City) incidentBudget(p *project, j, k int) float64 {
	return c.keyed(tagIncidentGap, uint64(p.idx), uint64(j)<<32|uint64(k)).ExpFloat64()
}

// addFact inserts a fact, after those at the same time.
func (c *City) addFact(p *project, f fact) {
	fs := p.inc.facts
	i, _ := slices.BinarySearchFunc(fs, f.at, func(x fact, t time.Time) int {
		if x.at.After(t) {
			return 1
		}
		return -1
	})
	p.inc.facts = slices.Insert(fs, i, f)
}

// hazardFacts adds the changes a hazard makes, as the twin sees them: open
// from its hazard.found until rectified (and again from a failed
// re-inspection until rectified again), overdue from its deadline if it is
// rectified after it.
func (c *City) hazardFacts(p *project, h *hazard) {
	j := int8(h.site.num)
	sev := int8(slices.Index(hazardSeverities[:], h.severity))
	for _, stp := range h.steps {
		switch stp.kind {
		case hsFound:
			c.addFact(p, fact{at: stp.at, kind: fOpen, site: j, sev: sev, delta: -creditRule.HazardFound[h.severity]})
		case hsRectified:
			if stp.at.After(h.deadline) {
				// overdue once the clock is after the deadline, as the twin has it
				c.addFact(p, fact{at: h.deadline.Add(time.Nanosecond), kind: fOverdue, site: j, delta: -creditRule.Overdue})
				c.addFact(p, fact{at: stp.at, kind: fOverdueEnd, site: j})
			}
			c.addFact(p, fact{at: stp.at, kind: fClose, site: j, sev: sev})
		case hsFailed:
			c.addFact(p, fact{at: stp.at, kind: fOpen, site: j, sev: sev})
		case hsRectified2:
			c.addFact(p, fact{at: stp.at, kind: fClose, site: j, sev: sev})
		}
	}
}

// drawHazards adds the facts of the regular hazards that arrive up to t
// (a hazard is found in office hours of its arrival's date, so within a day
// of it).
func (c *City) drawHazards(p *project, t time.Time) {
	st := p.inc
	for !st.hazEnd && !st.hazRaw.After(t) {
		if st.hazRaw.After(p.end) {
			st.hazEnd = true
			return
		}
		c.hazardFacts(p, c.hazardSpec(p, st.hazK, st.hazRaw))
		st.hazK++
		st.hazRaw = c.nextHazard(p, st.hazK, st.hazRaw)
	}
}

// arrearsFacts adds a credit deduction for every gap of more than 31 whole
// days between wage payments (counted from the planned start), from the
// moment the gap passes 31 days, as the twin's credit rule counts them.
// Only a project in arrears has such gaps: regular payroll comes every 30
// days, 0-1 day early, within office hours.
func (c *City) arrearsFacts(p *project) {
	if p.arrearsDays <= 0 || creditRule.WageArrears == 0 {
		return
	}
	lateAt := func(from time.Time) time.Time { return from.Add(32 * day) }
	prev := p.pStart
	for _, w := range c.wagePlan(p) {
		if !w.at.Before(lateAt(prev)) {
			c.addFact(p, fact{at: lateAt(prev), kind: fCredit, delta: -creditRule.WageArrears})
		}
		prev = laterOf(prev, w.at)
	}
	if lateAt(prev).Before(p.end) {
		c.addFact(p, fact{at: lateAt(prev), kind: fCredit, delta: -creditRule.WageArrears})
	}
}

// factors returns the factors of site j of a project at the state walked
// to t.
func (c *City) factors(p *project, j int, t time.Time) Factors {
	st := p.inc
	si := &st.sites[j]
	s := p.sites[j]
	f := Factors{
		OpenGeneral: si.open[0], OpenMajor: si.open[1], OpenCritical: si.open[2], Overdue: si.overdue,
		SensorAlarms7d:    c.alarmEpisodes(s, t),
		CraneWindExposure: round(siteExposure(s, t), 4),
		ContractorRisk:    p.contractor.risk,
		Credit:            math.Max(0, math.Min(creditRule.Initial, creditRule.Initial+st.credit)),
		Incidents90d:      si.recent,
	}
	for _, pt := range s.pits {
		f.PitTrend = max(f.PitTrend, c.pitRatio(pt, t))
	}
	f.PitTrend = round(f.PitTrend, 4)
	return f
}

// walk runs a project's incident process up to t (at most its actual
// finish), re-evaluating λ at every fact and at least every step (0: only
// at facts).
func (c *City) walk(p *project, t time.Time, step time.Duration) {
	st := p.inc
	t = earlierOf(t, p.end)
	if !t.After(st.w) {
		return
	}
	c.drawHazards(p, t.Add(day))
	rates := make([]float64, len(p.sites))
	fs := make([]Factors, len(p.sites))
	for st.w.Before(t) {
		next := t
		if step > 0 {
			next = earlierOf(next, st.w.Add(step))
		}
		if len(st.facts) > 0 && st.facts[0].at.Before(next) {
			next = laterOf(st.facts[0].at, st.w)
		}
		w0 := workClock(st.w)
		best, end := -1, next
		for j := range p.sites {
			fs[j] = c.factors(p, j, st.w)
			rates[j] = fs[j].Rate()
			at := st.w
			if b := st.sites[j].budget; b > 0 {
				at = laterOf(st.w, fromWorkClock(w0+b/rates[j]))
			}
			if at.Before(end) || best < 0 && at.Equal(end) && st.sites[j].budget <= 0 {
				best, end = j, at
			}
		}
		dw := workClock(end) - w0
		for j := range st.sites {
			st.sites[j].budget -= rates[j] * dw
		}
		st.w = end
		if best >= 0 {
			c.occur(p, best, end, fs[best], rates[best])
		}
		for len(st.facts) > 0 && !st.facts[0].at.After(st.w) {
			c.apply(p, st.facts[0])
			st.facts = st.facts[1:]
		}
	}
}

// apply applies a fact to the process's state.
func (c *City) apply(p *project, f fact) {
	st := p.inc
	st.credit += f.delta
	si := &st.sites[f.site]
	switch f.kind {
	case fOpen:
		si.open[f.sev]++
	case fClose:
		si.open[f.sev]--
	case fOverdue:
		si.overdue++
	case fOverdueEnd:
		si.overdue--
	case fIncidentOut:
		si.recent--
	}
}

// Incident categories by base weight (see the ground truth above).
var incidentWeights = []struct {
	category string
	weight   float64
}{
	{twin.IncidentFall, 45}, {twin.IncidentStruckBy, 15}, {twin.IncidentElectrical, 6},
	{twin.IncidentFire, 3}, {twin.IncidentOther, 8}, {twin.IncidentCollapse, 5},
}

// severityShares holds, per category, the shares of minor, serious and
// fatal incidents.
var severityShares = map[string][]float64{
	twin.IncidentFall:       {0.70, 0.24, 0.06},
	twin.IncidentCollapse:   {0.50, 0.32, 0.18},
	twin.IncidentStruckBy:   {0.78, 0.19, 0.03},
	twin.IncidentCrane:      {0.58, 0.30, 0.12},
	twin.IncidentElectrical: {0.65, 0.25, 0.10},
	twin.IncidentFire:       {0.85, 0.13, 0.02},
	twin.IncidentOther:      {0.88, 0.11, 0.01},
}

// incidentText holds what happened, per category (a crane's or pit's id
// takes the %s).
var incidentText = map[string][]string{
	twin.IncidentFall:       {"worker fell from an unprotected slab edge", "fall through an uncovered floor opening", "fall from the scaffold while moving boards", "fall from a mobile platform during facade work"},
	twin.IncidentStruckBy:   {"struck by rebar falling from the floor above", "struck by a reversing excavator", "struck by formwork panels blown over"},
	twin.IncidentElectrical: {"electric shock from a damaged cable at the distribution box", "shock while moving a welding set in the rain"},
	twin.IncidentFire:       {"fire at the welding area spread to insulation boards", "fire in the site office electrics"},
	twin.IncidentOther:      {"hand injury at the rebar cutting machine", "worker collapsed with heat stroke", "eye injury from grinding without goggles"},
	twin.IncidentCollapse:   {"formwork collapsed during the concrete pour", "scaffold bay collapsed under stacked materials"},
}

// occur records an incident at site j at time at, with the factors and
// rate it happened under, and draws what it was.
func (c *City) occur(p *project, j int, at time.Time, f Factors, rate float64) {
	st := p.inc
	si := &st.sites[j]
	s := p.sites[j]
	r := c.keyed(tagIncident, uint64(p.idx), uint64(j)<<32|uint64(si.k))
	si.k++
	si.budget = c.incidentBudget(p, j, si.k)
	in := &incident{site: s, n: si.k, at: at.Truncate(time.Second), rate: rate, factors: f}

	// category
	names := make([]string, 0, 8)
	weights := make([]float64, 0, 8)
	for _, w := range incidentWeights {
		names, weights = append(names, w.category), append(weights, w.weight)
	}
	var cranes []*crane
	for _, cr := range s.cranes {
		if !at.Before(cr.installed) {
			cranes = append(cranes, cr)
		}
	}
	var moving *pit
	var fastest float64
	for _, pt := range s.pits {
		if x := c.pitRatio(pt, at); !at.Before(pt.installed) && (moving == nil || x > fastest) {
			moving, fastest = pt, x
		}
	}
	if len(cranes) > 0 {
		names, weights = append(names, twin.IncidentCrane), append(weights, 50*f.CraneWindExposure)
	}
	if moving != nil {
		names, weights = append(names, "pit"), append(weights, 10*(1+2*min(f.PitTrend, 2)))
	}
	switch cat := names[pick(r, weights)]; cat {
	case twin.IncidentCrane:
		cr := cranes[r.IntN(len(cranes))]
		in.category, in.equipment = cat, cr.id
		in.desc = fmt.Sprintf([]string{"load dropped from the sling during a lift by crane %s", "crane %s jib struck the hoarding in a gust", "rigger caught between the load and the structure under crane %s"}[r.IntN(3)], cr.id)
	case "pit":
		in.category, in.equipment = twin.IncidentCollapse, moving.id
		in.desc = fmt.Sprintf([]string{"partial collapse of the side wall of pit %s", "soil slid into pit %s where workers were trimming the base"}[r.IntN(2)], moving.id)
	default:
		in.category = cat
		texts := incidentText[cat]
		in.desc = texts[r.IntN(len(texts))]
	}
	sevs := twin.IncidentSeverities()
	in.severity = sevs[pick(r, severityShares[in.category])]
	in.injuries = injuries(r, in.severity)

	p.incs = append(p.incs, in)
	si.recent++
	st.credit -= creditRule.Incident[in.severity]
	c.addFact(p, fact{at: at.Add(incidentWindow), kind: fIncidentOut, site: int8(j)})
}

// injuries draws how many people an incident hurt.
func injuries(r *rand.Rand, severity string) int {
	switch severity {
	case twin.IncidentMinor:
		return [...]int{1, 2, 0}[pick(r, []float64{0.85, 0.12, 0.03})]
	case twin.IncidentSerious:
		return 1 + pick(r, []float64{0.7, 0.2, 0.1})
	}
	return 1 + pick(r, []float64{0.75, 0.18, 0.07})
}

// incidentEvent builds the incident.reported of an incident, sent at t.
func (c *City) incidentEvent(in *incident, t time.Time) *twin.Event {
	s := in.site
	return &twin.Event{
		ID: c.idPrefix + in.key(), Type: twin.TypeIncidentReported, Source: srcSafety, Time: t,
		Project: s.p.id, Site: s.id,
		Data: &twin.IncidentReported{
			Incident: in.key(), Severity: in.severity, Category: in.category, Equipment: in.equipment,
			Injuries: in.injuries, Description: in.desc,
		},
	}
}

// advanceIncidents walks every project's incident process to t and queues
// the incidents it finds for the live stream.
func (c *City) advanceIncidents(t time.Time) {
	l := &c.live
	if t.Before(l.incNext) {
		return
	}
	for _, p := range c.projects {
		n := len(p.incs)
		c.walk(p, t, liveIncidentGap)
		for i := n; i < len(p.incs); i++ {
			p.incs[i].live = true
			c.push(entry{at: p.incs[i].at, fam: famIncident, p: int32(p.idx), a: int32(i)})
		}
	}
	hours := t.Sub(c.start)/liveIncidentGap + 1
	l.incNext = c.start.Add(hours * liveIncidentGap)
}
