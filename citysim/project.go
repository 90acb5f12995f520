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

const day = 24 * time.Hour

// project is a generated project with its hidden state.
type project struct {
	idx        int
	id         string
	name       string
	address    string
	permit     string
	district   *district
	kind       string
	owner      unit
	contractor unit
	supervisor unit
	budget     float64

	registered    time.Time // event time of project.registered
	pStart        time.Time // local midnight of the planned start date
	plannedFinish time.Time // any instant on the planned finish date
	deadline      time.Time // any instant on the deadline date
	planEnd       time.Time // end of the baseline network (forward pass)
	end           time.Time // actual finish at the project's performance
	factor        float64   // the project's base speed relative to the plan
	speeds        []float64 // the speed of each speedStretch of planned work from pStart
	ms            []*milestone

	payroll     float64 // CNY per month
	workers     int
	arrearsDays float64 // > 0: last wages paid this many days before Start
	settleDays  float64 // arrears are settled this many days after Start
	overdue     bool    // has an overdue hazard at Start
	critical    bool    // has an open critical hazard at Start

	sites []*site

	inc  *incState   // the incident process, walked up to some time (incidents.go)
	incs []*incident // its incidents so far, in time order
}

// milestone is one milestone of the baseline with its planned dates (as the
// twin lays them out: a forward pass over likely durations from the planned
// start) and its actual dates at the project's performance.
type milestone struct {
	i                 int
	id, name          string
	opt, likely, pess float64
	deps              []string
	share             float64
	cost              float64 // relative cost weight
	ps, pf            time.Time
	as, af            time.Time
}

// site is a generated site with its sensors' hidden state.
type site struct {
	idx      int // in the city's list of sites
	num      int // in its project's list of sites
	p        *project
	id       string
	name     string
	source   string // event source of the site's gateway
	lat, lon float64
	terrain  string
	alpha    float64
	wind     float64 // multiplier of the city's 10 m wind (exposure)
	dust     float64 // multiplier of background PM10
	rain     float64 // multiplier of rainfall
	heat     float64 // urban heat island, °C
	noise    float64 // offset of daytime noise, dB(A)
	cranes   []*crane
	pits     []*pit

	// live state
	rainLast   time.Time
	rainCarry  float64
	dustFrom   time.Time
	dustUntil  time.Time
	dustLevel  float64
	noiseFrom  time.Time
	noiseUntil time.Time
	noiseLevel float64
	// alarms are the starts of the site's sensor-alarm episodes of the
	// live city (dust spikes, noisy nights, crane overloads, gusty spells
	// over its cranes), roughly in time order, pruned to the last 7 days;
	// pit episodes are kept by the pits (see incidents.go).
	alarms []time.Time
}

// crane is a tower crane.
type crane struct {
	id         string
	height     float64
	jib        float64
	inService  float64
	outService float64
	tilt       float64   // standing verticality deviation, ‰
	installed  time.Time // event time of its equipment.installed
}

// pit is a foundation pit and its displacement: a pure function of time.
//
// A normal pit has cumulative displacement c0 at Start − 24 h and moves at
// rate0 mm/d then, slowing with a 20-day time constant (the pit settles as
// the base slab goes in). A trending pit moves at rate0 (2.6-3.4 mm/d) for
// trendDays after Start − 24 h (2-4 days), then settles like a normal pit
// from 0.25 mm/d. After Start every pit may also surge (see surge): the
// surges add to this settlement. Readings add Gaussian survey noise of
// 0.08 mm.
type pit struct {
	id        string
	depth     float64
	alarmMM   float64
	alarmRate float64
	c0        float64
	rate0     float64
	trend     bool
	trendDays float64
	installed time.Time // event time of its equipment.installed
	site      *site
	num       int // in its site's list of pits

	// surges drawn so far (a memo of a pure function of the seed, see
	// pitSurges), and where the draw continues
	surges    []surge // every candidate drawn, accepted or not
	surgeUsed float64 // mm the accepted surges add in all
}

const pitTau = 20.0 // days

// displacement returns the cumulative displacement, mm, dt days after
// Start − 24 h.
func (pt *pit) displacement(dt float64) float64 {
	if !pt.trend {
		return pt.c0 + pt.rate0*pitTau*(1-math.Exp(-dt/pitTau))
	}
	if dt <= pt.trendDays {
		return pt.c0 + pt.rate0*dt
	}
	return pt.c0 + pt.rate0*pt.trendDays + 0.25*pitTau*(1-math.Exp(-(dt-pt.trendDays)/pitTau))
}

// settled returns where the settlement (without surges) ends, mm.
func (pt *pit) settled() float64 {
	if !pt.trend {
		return pt.c0 + pt.rate0*pitTau
	}
	return pt.c0 + pt.rate0*pt.trendDays + 0.25*pitTau
}

// rateAt returns the true rate, mm/d, dt days after Start − 24 h.
func (pt *pit) rateAt(dt float64) float64 {
	if !pt.trend {
		return pt.rate0 * math.Exp(-dt/pitTau)
	}
	if dt <= pt.trendDays {
		return pt.rate0
	}
	return 0.25 * math.Exp(-(dt-pt.trendDays)/pitTau)
}

// Project kinds with their share of projects and what they are called.
var kinds = []struct {
	kind   string
	weight float64
	civil  bool // civil works (roads, pipes, stations) rather than buildings
	nouns  []string
}{
	{"housing", 35, false, []string{"Talent Housing", "Affordable Housing Estate", "Residential Towers", "Urban Renewal Housing"}},
	{"municipal", 12, true, []string{"Road Upgrade", "Drainage Works", "Park and Plaza", "Utility Tunnel"}},
	{"transport", 12, true, []string{"Metro Station", "Interchange", "Bus Depot", "Expressway Connector"}},
	{"water", 8, true, []string{"Water Treatment Plant", "River Regulation", "Pumping Station", "Reservoir Upgrade"}},
	{"school", 14, false, []string{"Primary School", "Nine-year School", "Secondary School", "Kindergarten and School"}},
	{"hospital", 7, false, []string{"People's Hospital Extension", "Community Hospital", "Maternity and Child Hospital"}},
	{"industrial", 12, false, []string{"Industrial Park", "Logistics Hub", "Innovation Centre", "Data Centre"}},
}

// stage is a step of a construction programme: its name, relative duration
// and relative cost.
type stage struct {
	name       string
	dur, cost  float64
	structural bool
}

var buildingStages = []stage{
	{"site preparation and hoarding", 0.5, 0.3, false},
	{"foundation piling", 1.2, 1.0, true},
	{"excavation and retaining works", 1.0, 0.9, true},
	{"basement structure", 1.4, 1.4, true},
	{"main structure to roof", 2.5, 2.6, true},
	{"facade and envelope", 1.5, 1.3, false},
	{"MEP rough-in", 1.3, 1.2, false},
	{"interior fit-out", 1.6, 1.4, false},
	{"MEP commissioning", 0.8, 0.5, false},
	{"external works and landscaping", 0.7, 0.4, false},
	{"fire and special inspections", 0.4, 0.1, false},
	{"completion acceptance", 0.3, 0.1, false},
}

var civilStages = []stage{
	{"traffic diversion and site preparation", 0.5, 0.3, false},
	{"utility relocation", 0.9, 0.6, false},
	{"foundation and piling", 1.2, 1.0, true},
	{"excavation and support", 1.2, 1.0, true},
	{"main structure", 2.2, 2.4, true},
	{"drainage and pipework", 1.0, 0.8, false},
	{"electromechanical systems", 1.1, 1.0, false},
	{"paving and finishing works", 0.9, 0.6, false},
	{"landscaping and reinstatement", 0.6, 0.3, false},
	{"testing and commissioning", 0.6, 0.3, false},
	{"completion acceptance", 0.3, 0.1, false},
}

// genProject draws project i. Everything is drawn from the project's own
// stream and placed relative to Start, so a project does not depend on the
// others, and the same project is drawn for any Start.
func (c *City) genProject(i, width int) *project {
	r := c.keyed(tagProject, uint64(i), 0)
	p := &project{idx: i, id: "P-" + fmt.Sprintf("%0*d", width, i+1)}
	dw := make([]float64, len(districts))
	for j := range districts {
		dw[j] = districts[j].weight
	}
	p.district = &districts[pick(r, dw)]
	kw := make([]float64, len(kinds))
	for j := range kinds {
		kw[j] = kinds[j].weight
	}
	k := kinds[pick(r, kw)]
	p.kind = k.kind
	area := p.district.areas[r.IntN(len(p.district.areas))]
	p.name = fmt.Sprintf("%s %s", area, k.nouns[r.IntN(len(k.nouns))])
	if r.Float64() < 0.4 {
		p.name += fmt.Sprintf(" Phase %d", 2+r.IntN(3))
	}
	p.address = fmt.Sprintf("%s, %s District, Shenzhen", area, p.district.name)
	p.contractor = c.contracts[r.IntN(len(c.contracts))]
	p.owner = c.owners[r.IntN(len(c.owners))]
	p.supervisor = c.supers[r.IntN(len(c.supers))]
	// Budget: log-uniform between 50 million and 5 billion CNY.
	p.budget = round(math.Exp(uni(r, math.Log(5e7), math.Log(5e9))), -4)

	// Schedule: planned start 1-18 months before Start; the baseline runs
	// well past Start; a minority of projects (12% × contractor risk) run
	// at 0.65-0.85 of the planned speed, the rest at 0.95-1.12.
	elapsedDays := uni(r, 30, 548)
	p.pStart = midnight(c.start.Add(-time.Duration(elapsedDays * float64(day))))
	elapsed := c.start.Sub(p.pStart).Hours() / 24
	total := max(1.2*elapsed+45, uni(r, 300, 1100))
	if r.Float64() < min(0.5, 0.12*p.contractor.risk) {
		p.factor = round(uni(r, 0.65, 0.85), 3)
	} else {
		p.factor = round(uni(r, 0.95, 1.12), 3)
	}
	stages := buildingStages
	if k.civil {
		stages = civilStages
	}
	p.ms = c.genPlan(i, stages, total)
	p.speeds = c.genSpeeds(i, p.factor, total)
	p.layout()
	p.plannedFinish = p.planEnd.Add(-time.Second)
	p.deadline = p.plannedFinish.Add(time.Duration(r.IntN(91)) * day)
	p.registered = p.pStart.Add(-time.Duration(20+r.IntN(56))*day + time.Duration(9*60+r.IntN(8*60))*time.Minute)
	p.permit = "440300" + p.registered.In(cst).Format("20060102") + fmt.Sprintf("%04d", (i+1)%10000)

	// Payroll: 18-25% of the budget is labour, spread over the planned
	// months; a worker earns 7,500-9,500 CNY a month.
	months := p.planEnd.Sub(p.pStart).Hours() / 24 / 30
	p.payroll = round(p.budget*uni(r, 0.18, 0.25)/months, -2)
	p.workers = max(20, int(p.payroll/uni(r, 7500, 9500)))
	// Wage arrears (3.5% × risk of projects at least 90 days old): the
	// last payroll was 33-50 days before Start; it is settled 2-25 days
	// after Start.
	if elapsed >= 90 && r.Float64() < min(0.3, 0.035*p.contractor.risk) {
		p.arrearsDays = uni(r, 33, 50)
		p.settleDays = uni(r, 2, 25)
	}
	// The situation at Start: 3% × risk of projects have an overdue
	// hazard, 1.5% × risk a critical hazard found in the last 20 hours.
	p.overdue = r.Float64() < min(0.2, 0.03*p.contractor.risk)
	p.critical = r.Float64() < min(0.1, 0.015*p.contractor.risk)

	c.genSites(p, r, k.civil)
	c.installPlan(p)
	return p
}

// installPlan draws when each pit (1-10 days after the planned start) and
// each tower crane (3-25 days after) is installed, in office hours.
func (c *City) installPlan(p *project) {
	for j, s := range p.sites {
		r := c.keyed(tagSite, uint64(p.idx), uint64(j))
		for _, pt := range s.pits {
			pt.installed = officeHours(p.pStart.Add(time.Duration(uni(r, 1, 10)*float64(day))), r.Float64())
		}
		for _, cr := range s.cranes {
			cr.installed = officeHours(p.pStart.Add(time.Duration(uni(r, 3, 25)*float64(day))), r.Float64())
		}
	}
}

// genPlan draws a baseline of 5 to 12 milestones from a programme of
// stages: the first and last stage and an ordered choice of the others.
// Each milestone depends on the one before (70%) or the one before that (a
// parallel branch), sometimes also on an earlier one; the last depends on
// every milestone nothing else depends on. Likely durations are scaled so
// the critical path is the project's planned length; optimistic is 70-90%
// and pessimistic 120-180% of likely; budget shares follow the stages'
// costs and sum to 1.
func (c *City) genPlan(i int, stages []stage, total float64) []*milestone {
	r := c.keyed(tagPlan, uint64(i), 0)
	n := min(5+r.IntN(8), len(stages))
	middle := r.Perm(len(stages) - 2)[:n-2]
	slices.Sort(middle)
	chosen := make([]stage, 0, n)
	chosen = append(chosen, stages[0])
	for _, j := range middle {
		chosen = append(chosen, stages[j+1])
	}
	chosen = append(chosen, stages[len(stages)-1])

	ms := make([]*milestone, n)
	for j := range ms {
		st := chosen[j]
		ms[j] = &milestone{i: j, id: "M" + strconv.Itoa(j+1), name: st.name, cost: st.cost * uni(r, 0.7, 1.3)}
		ms[j].likely = st.dur * uni(r, 0.7, 1.3)
	}
	dependedOn := make([]bool, n)
	for j := 1; j < n; j++ {
		m := ms[j]
		if j == n-1 {
			for k := 0; k < n-1; k++ {
				if !dependedOn[k] {
					m.deps = append(m.deps, ms[k].id)
				}
			}
			break
		}
		prev := j - 1
		if j >= 2 && r.Float64() < 0.3 {
			prev = j - 2
		}
		m.deps = append(m.deps, ms[prev].id)
		dependedOn[prev] = true
		if j >= 3 && r.Float64() < 0.25 {
			if k := r.IntN(j - 1); k != prev {
				m.deps = append(m.deps, ms[k].id)
				dependedOn[k] = true
			}
		}
	}
	// Scale the weights so that the longest path is the planned length,
	// in whole days.
	longest := criticalLength(ms, func(m *milestone) float64 { return m.likely })
	scale := total / longest
	var costSum float64
	for _, m := range ms {
		m.likely = max(3, math.Round(m.likely*scale))
		m.opt = math.Round(m.likely * uni(r, 0.7, 0.9))
		m.pess = math.Round(m.likely * uni(r, 1.2, 1.8))
		costSum += m.cost
	}
	var shareSum float64
	for j, m := range ms {
		if j == n-1 {
			m.share = round(1-shareSum, 4)
			break
		}
		m.share = max(0.005, round(m.cost/costSum, 4))
		shareSum += m.share
	}
	return ms
}

// criticalLength returns the length of the longest dependency path.
func criticalLength(ms []*milestone, dur func(*milestone) float64) float64 {
	finish := make(map[string]float64, len(ms))
	var longest float64
	for _, m := range ms { // dependencies always come earlier in the list
		var es float64
		for _, d := range m.deps {
			es = max(es, finish[d])
		}
		finish[m.id] = es + dur(m)
		longest = max(longest, finish[m.id])
	}
	return longest
}

// layout computes the planned dates exactly as twin lays out a baseline (a
// forward pass over likely durations from the planned start) and the
// actual dates at the project's performance.
func (p *project) layout() {
	finish := make(map[string]time.Time, len(p.ms))
	for _, m := range p.ms {
		es := p.pStart
		for _, d := range m.deps {
			if f := finish[d]; f.After(es) {
				es = f
			}
		}
		m.ps = es
		m.pf = es.Add(time.Duration(m.likely * float64(day)))
		finish[m.id] = m.pf
		if m.pf.After(p.planEnd) {
			p.planEnd = m.pf
		}
	}
	for _, m := range p.ms {
		m.as = p.actual(m.ps)
		m.af = p.actual(m.pf)
	}
	p.end = p.actual(p.planEnd)
}

// Speed of the work: a project's base speed (factor) varies from one
// stretch of planned work to the next, so that what it has done so far
// tells much, but not all, of what it will do (the earned-schedule
// extrapolation IEAC(t) is not exact). Each stretch's speed is the base ×
// exp(σz − σ²/2) with z standard normal (mean the base), within [0.4, 1.6].
// σ = 0.2 and 60-day stretches are sitetwin defaults, in the range of the
// period-to-period SPI(t) variation reported for building projects (Lipke,
// "Earned Schedule", 2009); no published table.
const (
	speedStretch = 60 * day
	speedSigma   = 0.2
)

// genSpeeds draws the speed of each stretch of a plan of total days.
func (c *City) genSpeeds(i int, factor, total float64) []float64 {
	r := c.keyed(tagSpeed, uint64(i), 0)
	n := int(total*float64(day)/float64(speedStretch)) + 2
	out := make([]float64, n)
	for k := range out {
		out[k] = round(min(1.6, max(0.4, factor*math.Exp(speedSigma*r.NormFloat64()-speedSigma*speedSigma/2))), 4)
	}
	return out
}

// speed returns the speed of stretch k (the base speed past the drawn
// ones).
func (p *project) speed(k int) float64 {
	if k < len(p.speeds) {
		return p.speeds[k]
	}
	return p.factor
}

// actual returns when the work planned for planned time t actually happens.
func (p *project) actual(t time.Time) time.Time {
	planned := t.Sub(p.pStart)
	if planned <= 0 {
		return p.pStart.Add(time.Duration(float64(planned) / p.factor)).Round(time.Second)
	}
	var at float64 // actual time since pStart, ns
	for k := 0; planned > 0; k++ {
		seg := min(planned, speedStretch)
		at += float64(seg) / p.speed(k)
		planned -= seg
	}
	return p.pStart.Add(time.Duration(at)).Round(time.Second)
}

// effective returns the planned time whose work is done at actual time t
// (the inverse of actual).
func (p *project) effective(t time.Time) time.Time {
	elapsed := t.Sub(p.pStart)
	if elapsed <= 0 {
		return p.pStart.Add(time.Duration(float64(elapsed) * p.factor))
	}
	var planned time.Duration
	for k := 0; ; k++ {
		span := time.Duration(float64(speedStretch) / p.speed(k)) // actual time of stretch k
		if elapsed <= span {
			return p.pStart.Add(planned + time.Duration(float64(elapsed)*p.speed(k)))
		}
		planned += speedStretch
		elapsed -= span
	}
}

// spiAt is the true SPI(t) at t: planned time done over time elapsed.
func (p *project) spiAt(t time.Time) float64 {
	if !t.After(p.pStart) {
		return 0
	}
	return round(float64(p.effective(t).Sub(p.pStart))/float64(t.Sub(p.pStart)), 4)
}

// percent returns a milestone's true percent complete at t.
func (p *project) percent(m *milestone, t time.Time) float64 {
	eff := p.effective(t)
	switch {
	case !eff.After(m.ps):
		return 0
	case !eff.Before(m.pf):
		return 100
	}
	return 100 * float64(eff.Sub(m.ps)) / float64(m.pf.Sub(m.ps))
}

// planData returns the baseline as plan.baselined carries it.
func (p *project) planData() []twin.MilestonePlan {
	out := make([]twin.MilestonePlan, len(p.ms))
	for i, m := range p.ms {
		out[i] = twin.MilestonePlan{
			ID: m.id, Name: m.name, OptimisticDays: m.opt, LikelyDays: m.likely, PessimisticDays: m.pess,
			DependsOn: slices.Clone(m.deps), BudgetShare: m.share,
		}
	}
	return out
}

// genSites draws 1 to 4 sites (50/30/15/5%) around a point scattered from
// the district centre (Gaussian, the district's spread); sites of a project
// lie within about 1 km of it (3 km for civil works). Terrain follows the
// district (D in the dense core, B at the edges), and a site far from the
// centre of an outer district is B. Most sites (85%, 60% for civil works)
// have 1-3 tower cranes, taller in the core; 60% have a foundation pit, a
// tenth of those two.
func (c *City) genSites(p *project, r *rand.Rand, civil bool) {
	d := p.district
	const kmLat, kmLon = 110.57, 102.8 // km per degree at 22.6°N
	ax, ay := r.NormFloat64()*d.spreadKm, r.NormFloat64()*d.spreadKm
	n := 1 + pick(r, []float64{0.5, 0.3, 0.15, 0.05})
	spread := 0.6
	if civil {
		spread = 1.8
	}
	names := []string{"main plot", "north plot", "south plot", "east plot"}
	if civil {
		names = []string{"main works area", "section 2", "section 3", "section 4"}
	}
	for j := range n {
		s := &site{p: p, num: j, id: fmt.Sprintf("%s-S%d", p.id, j+1), name: fmt.Sprintf("%s %s", p.name, names[j])}
		x, y := ax, ay
		if j > 0 {
			x += r.NormFloat64() * spread
			y += r.NormFloat64() * spread
		}
		s.lat = round(min(22.86, max(d.southLat, d.lat+y/kmLat)), 5)
		s.lon = min(114.52, d.lon+x/kmLon)
		if d.westLon > 0 {
			s.lon = max(d.westLon, s.lon)
		}
		s.lon = round(s.lon, 5)
		s.terrain = [3]string{"D", "C", "B"}[pick(r, d.terrain[:])]
		if s.terrain == "C" && d.terrain[2] > 0 && math.Hypot(x, y) > 1.8*d.spreadKm {
			s.terrain = "B"
		}
		s.alpha = terrainAlpha[s.terrain]
		s.wind = map[string]float64{"B": 1.15, "C": 0.9, "D": 0.75}[s.terrain] * uni(r, 0.9, 1.1)
		s.dust = d.dust * uni(r, 0.85, 1.1)
		s.rain = uni(r, 0.7, 1.3)
		s.heat = map[string]float64{"B": 0, "C": 0.4, "D": 0.8}[s.terrain]
		s.noise = uni(r, -1, 1)
		s.source = "citysim/iot-" + s.id
		pc := 0.85
		if civil {
			pc = 0.6
		}
		if r.Float64() < pc {
			hLo, hHi := 50.0, 180.0
			switch s.terrain {
			case "D":
				hLo, hHi = 80, 220
			case "B":
				hLo, hHi = 40, 120
			}
			for k := range 1 + pick(r, []float64{0.45, 0.35, 0.2}) {
				s.cranes = append(s.cranes, &crane{
					id: fmt.Sprintf("%s-TC%d", s.id, k+1), height: math.Round(uni(r, hLo, hHi)),
					jib: math.Round(uni(r, 40, 80)), inService: 20, outService: 42,
					tilt: round(uni(r, -1.2, 1.2), 2),
				})
			}
		}
		if r.Float64() < 0.6 {
			np := 1
			if r.Float64() < 0.1 {
				np = 2
			}
			for k := range np {
				s.pits = append(s.pits, &pit{
					site: s, num: k,
					id: fmt.Sprintf("%s-PIT%d", s.id, k+1), depth: round(uni(r, 6, 25), 1),
					alarmMM: 30, alarmRate: 2,
					c0: round(uni(r, 3, 16), 2), rate0: round(uni(r, 0.1, 0.5), 2),
				})
			}
		}
		p.sites = append(p.sites, s)
	}
}

// midnight returns local midnight at the start of t's local date, in UTC.
func midnight(t time.Time) time.Time {
	y, m, d := t.In(cst).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, cst).UTC()
}

// dateOf returns t's local date as a twin.When.
func dateOf(t time.Time) twin.When {
	y, m, d := t.In(cst).Date()
	return twin.DateWhen(y, m, d)
}
