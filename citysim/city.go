package citysim

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// DefaultProjects is the number of projects of a City whose Config leaves
// Projects at 0.
const DefaultProjects = 300

// MaxProjects is the largest number of projects a City may have.
const MaxProjects = 100000

// Config says which city to simulate. The same Config always gives the same
// city and the same events.
type Config struct {
	// Projects is the number of projects; 0 means DefaultProjects (300).
	// At most MaxProjects.
	Projects int
	// Seed selects the city: every random choice derives from it.
	Seed int64
	// Start is the simulated "now": the bootstrap history ends here and the
	// live stream starts here. Required; between 1980 and 2190.
	Start time.Time
	// Rate is the number of live events per second of event time; 0 means
	// no live stream (Next returns nil).
	Rate float64
}

// ConfigError says which field of a Config is wrong and why. New returns
// all of them, joined.
type ConfigError struct {
	Field string // "Projects", "Start" or "Rate"
	Rule  string // what the field must be
}

// Error says which field is wrong and what it must be.
func (e *ConfigError) Error() string { return "citysim: " + e.Field + " " + e.Rule }

// City is a simulated district: the projects generated from a Config, their
// history up to Start and a live stream of events after it. A City is not
// safe for concurrent use; Bootstrap and Projects may be called at any time
// and do not disturb the live stream.
type City struct {
	cfg       Config
	seed      uint64
	start     time.Time
	idPrefix  string // "sim-<seed>-"
	livePre   string // "sim-<seed>-live-<start unix>-"
	projects  []*project
	sites     []*site
	slots     []slot
	maxRisk   float64
	contracts []unit
	owners    []unit
	supers    []unit

	live liveState
}

// New validates the Config and generates the city. Errors are
// *ConfigError values, joined.
func New(cfg Config) (*City, error) {
	var errs []error
	if cfg.Projects < 0 || cfg.Projects > MaxProjects {
		errs = append(errs, &ConfigError{"Projects", fmt.Sprintf("must be between 0 (meaning %d) and %d, is %d", DefaultProjects, MaxProjects, cfg.Projects)})
	}
	if math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0) || cfg.Rate < 0 {
		errs = append(errs, &ConfigError{"Rate", fmt.Sprintf("must be a finite number of events per second, 0 or more, is %g", cfg.Rate)})
	}
	switch {
	case cfg.Start.IsZero():
		errs = append(errs, &ConfigError{"Start", "is required: the simulated now, where the history ends and the live stream begins"})
	case cfg.Start.Year() < 1980 || cfg.Start.Year() > 2190:
		errs = append(errs, &ConfigError{"Start", fmt.Sprintf("must be between 1980 and 2190 (events must stay within 1970..2200), is %s", cfg.Start.Format(time.RFC3339))})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Projects == 0 {
		cfg.Projects = DefaultProjects
	}
	c := &City{
		cfg:   cfg,
		seed:  uint64(cfg.Seed),
		start: cfg.Start.Round(0).UTC(),
	}
	seedText := strconv.FormatInt(cfg.Seed, 10)
	c.idPrefix = "sim-" + seedText + "-"
	c.livePre = "sim-" + seedText + "-live-" + strconv.FormatInt(c.start.Unix(), 10) + "-"
	c.generate()
	c.initIncidents()
	c.startLive()
	return c, nil
}

// Start returns the simulated now, in UTC.
func (c *City) Start() time.Time { return c.start }

// Project is one generated project: what its registry events say, plus the
// ground truth that no event carries.
type Project struct {
	ID            string
	Name          string
	District      string
	Kind          string
	Owner         string // unit id
	Contractor    string // unit id
	Supervisor    string // unit id
	BudgetCNY     float64
	PlannedStart  time.Time // local midnight (Asia/Shanghai) of the planned start date
	PlannedFinish time.Time // local midnight of the planned finish date
	Deadline      time.Time // local midnight of the deadline date
	Sites         []Site
	Milestones    []twin.MilestonePlan
	Truth         Truth
}

// Truth is the hidden state the simulator drew for a project, for training
// and scoring prediction models.
type Truth struct {
	// Performance is the average speed of the work relative to the plan
	// over the whole project: the planned duration over the actual one.
	// The speed varies from one 60-day stretch of planned work to the next
	// around the project's base speed (see speedSigma), so SPI(t) wanders
	// around it and the past does not simply extrapolate.
	Performance float64
	// SPIAtStart is the earned-schedule SPI(t) at Start: the planned time
	// whose work is done by Start over the time elapsed since the planned
	// start (0 when the project has not started by Start).
	SPIAtStart float64
	// ContractorRisk multiplies the contractor's hazard, incident and
	// arrears rates (about 0.6 for a careful contractor, up to 2.8 for a
	// careless one).
	ContractorRisk float64
	// ActualFinish is when the work will finish.
	ActualFinish time.Time
	// FinalDeadline is when the deadline passes as a twin of the project
	// holds it at the actual finish: the end of the deadline date (local
	// midnight after it) plus the extensions of the change orders approved
	// by then. OnTime says whether ActualFinish is not after it.
	FinalDeadline time.Time
	OnTime        bool
	// LastWagesPaid is the last wages.paid at or before Start (zero if
	// none); WageArrears says whether it is more than a month before Start.
	LastWagesPaid time.Time
	WageArrears   bool
}

// Site is one site of a project.
type Site struct {
	ID      string
	Name    string
	Lat     float64
	Lon     float64
	Terrain string // GB 50009 category: B, C or D
	// CraneWindExposure is the site's crane wind exposure, a factor of its
	// incident rate (see Factors): its cranes' largest typical jib gust over
	// their in-service limit, 0 without cranes.
	CraneWindExposure float64
	Cranes            []Crane
	Pits              []Pit
}

// Crane is a tower crane.
type Crane struct {
	ID                  string
	HeightM             float64
	JibLengthM          float64
	InServiceLimitMS    float64
	OutOfServiceLimitMS float64
}

// Pit is a monitored foundation pit.
type Pit struct {
	ID                string
	DepthM            float64
	AlarmCumulativeMM float64
	AlarmRateMMPerDay float64
	// RateMMPerDay is the true displacement rate at Start (ground truth);
	// Trending marks the pits drawn to move fast enough to raise the rate
	// alarm.
	RateMMPerDay float64
	Trending     bool
}

// Projects returns the generated projects, in id order. The result is a
// copy: changing it changes nothing in the City.
func (c *City) Projects() []Project {
	out := make([]Project, len(c.projects))
	for i, p := range c.projects {
		out[i] = c.describe(p)
	}
	return out
}

func (c *City) describe(p *project) Project {
	d := Project{
		ID: p.id, Name: p.name, District: p.district.name, Kind: p.kind,
		Owner: p.owner.id, Contractor: p.contractor.id, Supervisor: p.supervisor.id,
		BudgetCNY: p.budget, PlannedStart: p.pStart,
		PlannedFinish: midnight(p.plannedFinish), Deadline: midnight(p.deadline),
		Milestones: p.planData(),
		Truth: Truth{
			Performance: round(float64(p.planEnd.Sub(p.pStart))/float64(p.end.Sub(p.pStart)), 4), SPIAtStart: p.spiAt(c.start), ContractorRisk: p.contractor.risk, ActualFinish: p.end,
		},
	}
	for _, w := range c.wagePlan(p) {
		if w.at.After(c.start) {
			break
		}
		d.Truth.LastWagesPaid = w.at
	}
	d.Truth.WageArrears = p.arrearsDays > 0
	d.Truth.FinalDeadline = midnight(p.deadline).Add(day)
	for k, at := 0, c.nextChange(p, 0, p.pStart); !at.After(p.end); k, at = k+1, c.nextChange(p, k+1, at) {
		co := c.changeEvent(p, k, at, at).Data.(*twin.ChangeOrderApproved)
		d.Truth.FinalDeadline = d.Truth.FinalDeadline.Add(time.Duration(co.Days * float64(day)))
	}
	d.Truth.OnTime = !p.end.After(d.Truth.FinalDeadline)
	for _, s := range p.sites {
		sd := Site{ID: s.id, Name: s.name, Lat: s.lat, Lon: s.lon, Terrain: s.terrain, CraneWindExposure: round(siteExposure(s, p.end), 4)}
		for _, cr := range s.cranes {
			sd.Cranes = append(sd.Cranes, Crane{ID: cr.id, HeightM: cr.height, JibLengthM: cr.jib, InServiceLimitMS: cr.inService, OutOfServiceLimitMS: cr.outService})
		}
		for _, pt := range s.pits {
			sd.Pits = append(sd.Pits, Pit{
				ID: pt.id, DepthM: pt.depth, AlarmCumulativeMM: pt.alarmMM, AlarmRateMMPerDay: pt.alarmRate,
				RateMMPerDay: round(pt.rateAt(1), 3), Trending: pt.trend,
			})
		}
		d.Sites = append(d.Sites, sd)
	}
	return d
}

// Bootstrap returns the history of every project up to Start, sorted by
// event time (all times are at or before Start): registrations, sites,
// equipment and baselines first, then progress, milestone completions and
// acceptances, disbursements, the wage account and payroll, hazards with
// their rectification, change orders, the incidents of the incident
// process (see incidents.go), and the last 24 hours of foundation pit
// monitoring. Routine inspections that found nothing are left out.
//
// Event ids do not depend on Start: a City with another Start (a restart)
// sends the same ids for the same items, and the engine drops the copies.
// Each call builds new events.
func (c *City) Bootstrap() []*twin.Event {
	// Each project's history is in time order; the city's is sorted by
	// time, then project, then position in the project's history (the
	// order a stable sort would give, with a faster sort).
	type keyed struct {
		ns   int64
		p, i int32
		e    *twin.Event
	}
	var all []keyed
	for pi, p := range c.projects {
		for i, e := range c.history(p) {
			all = append(all, keyed{e.Time.UnixNano(), int32(pi), int32(i), e})
		}
	}
	slices.SortFunc(all, func(a, b keyed) int {
		if a.ns != b.ns {
			return cmp.Compare(a.ns, b.ns)
		}
		if a.p != b.p {
			return cmp.Compare(a.p, b.p)
		}
		return cmp.Compare(a.i, b.i)
	})
	out := make([]*twin.Event, len(all))
	for i, k := range all {
		out[i] = k.e
	}
	return out
}

// SplitRegistry splits a bootstrap into its registry events (projects,
// sites, equipment, plans) and the rest, each in its order. A runtime that
// merges its topics by event time merges only what is in the log: producing
// and flushing the registry first keeps a payment or a reading from
// landing before its project's registration, which would dead-letter it.
func SplitRegistry(evs []*twin.Event) (registry, rest []*twin.Event) {
	for _, e := range evs {
		if twin.StreamOf(e.Type) == twin.StreamRegistry {
			registry = append(registry, e)
		} else {
			rest = append(rest, e)
		}
	}
	return registry, rest
}

// unit is an owner, contractor or supervisor.
type unit struct {
	id   string
	risk float64 // contractors only: multiplier of hazard and incident rates
}

// generate draws the units and the projects.
func (c *City) generate() {
	r := c.keyed(tagCity, 0, 0)
	n := c.cfg.Projects
	mk := func(prefix string, count int, risky bool) []unit {
		units := make([]unit, count)
		w := max(3, len(strconv.Itoa(count)))
		for i := range units {
			units[i].id = fmt.Sprintf("%s-%0*d", prefix, w, i+1)
			units[i].risk = 1
			if risky {
				units[i].risk = contractorRisk(r)
			}
		}
		return units
	}
	c.contracts = mk("CON", max(4, n/6), true)
	c.owners = mk("OWN", max(3, n/10), false)
	c.supers = mk("SUP", max(3, n/12), false)
	for _, u := range c.contracts {
		c.maxRisk = max(c.maxRisk, u.risk)
	}
	width := max(3, len(strconv.Itoa(n)))
	c.projects = make([]*project, n)
	for i := range c.projects {
		p := c.genProject(i, width)
		c.projects[i] = p
		for _, s := range p.sites {
			s.idx = len(c.sites)
			c.sites = append(c.sites, s)
		}
	}
	c.pickTrendingPits(r)
	c.buildSlots()
}

// contractorRisk draws how careless a contractor is: 65% are careful
// (0.6-1.0), 25% average (1.0-1.6), 10% careless (1.8-2.8). The risk
// multiplies the contractor's hazard rate, its chance of rectifying late,
// of running behind, of wage arrears, and its sites' dust, night-noise and
// overload incident rates.
func contractorRisk(r *rand.Rand) float64 {
	switch u := r.Float64(); {
	case u < 0.65:
		return round(uni(r, 0.6, 1.0), 2)
	case u < 0.9:
		return round(uni(r, 1.0, 1.6), 2)
	default:
		return round(uni(r, 1.8, 2.8), 2)
	}
}

// pickTrendingPits draws the pits that move fast (about 3 mm/d) in the day
// before Start: one in a city with fewer than 40 pits, otherwise two.
func (c *City) pickTrendingPits(r *rand.Rand) {
	var pits []*pit
	for _, s := range c.sites {
		pits = append(pits, s.pits...)
	}
	if len(pits) == 0 {
		return
	}
	n := 1
	if len(pits) >= 40 {
		n = 2
	}
	for _, i := range r.Perm(len(pits))[:n] {
		pt := pits[i]
		pt.trend = true
		pt.rate0 = round(uni(r, 2.6, 3.4), 2)
		pt.c0 = round(uni(r, 4, 9), 2)
		pt.trendDays = 1 + uni(r, 1, 3)
	}
}
