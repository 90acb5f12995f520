package scenarios

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// Output formats.
const (
	TimelineFormat = "sitetwin-drill-timeline/1"
	PlanFormat     = "sitetwin-drill-plan/1"
)

// GaleMS is the 10-minute mean wind at 10 m from which a site secures its
// scaffolds and hoardings and moves its workers: 17.2 m/s, the lower bound
// of force 8 (gale) of the Beaufort scale as China's GB/T 28591-2012 Wind
// force scale tabulates it (force 8 is what Shenzhen's yellow typhoon
// signal forecasts).
const GaleMS = 17.2

// DefaultSecureLead is the lead time of the plan's actions when the rule
// pack has none (weather.secure_lead).
const DefaultSecureLead = 6 * time.Hour

// Options configure Run. The zero value means every default.
type Options struct {
	// Rules is the rule pack the twins run under (nil: twin.DefaultRules).
	Rules *twin.Rules
	// Models holds the prediction models; the drill uses "typhoon" (per
	// crane forecasts at each advisory) and "delay" (P(on time) of the
	// projects the drill stops) when present. nil: predict.NewRegistry.
	Models *predict.Registry
	// Progress, when set, is called after each step with the steps done
	// and the total. It must not block for long.
	Progress func(done, total int)
	// Emit, when set, receives every event the drill applies, tagged with
	// the drill id, in order (for a live drill that also sends them to the
	// engine). It must not keep or change the event.
	Emit func(*twin.Event)
	// OnStart, when set, is called once the hazard is laid over the fork,
	// before the first step, with the timeline to come (its sites, start,
	// end and step; no steps yet) and the typhoon's track (empty for
	// other kinds). It must not change them.
	OnStart func(tl *Timeline, track []LatLon)
	// OnStep, when set, is called after each step (after Progress) with
	// its index and the step, whose arrays are indexed like the timeline's
	// sites. The step is not changed afterwards: the callee may keep it,
	// but must not change it. It must not block for long.
	OnStep func(k int, st *Step)
}

// Result is what a drill produced.
type Result struct {
	Timeline *Timeline `json:"timeline"`
	Plan     *Plan     `json:"plan"`
	// Track is the typhoon's best track as laid over the drill (empty for
	// other kinds), for maps.
	Track []LatLon `json:"track,omitempty"`
}

// Timeline is the drill step by step. The per-site arrays of each step are
// in the order of Sites.
type Timeline struct {
	Format string         `json:"format"`
	Drill  string         `json:"drill"`
	Name   string         `json:"name"`
	Kind   string         `json:"kind"`
	Start  time.Time      `json:"start"`
	End    time.Time      `json:"end"`
	Step   twin.Duration  `json:"step"`
	Seed   uint64         `json:"seed"`
	Sites  []TimelineSite `json:"sites"`
	Steps  []Step         `json:"steps"`
}

// TimelineSite is a site of the city, as the timeline's arrays index them.
type TimelineSite struct {
	ID       string  `json:"id"`
	Project  string  `json:"project"`
	District string  `json:"district,omitempty"`
	Lat      float64 `json:"lat"`
	Lon      float64 `json:"lon"`
	Cranes   int     `json:"cranes"`
	Pits     int     `json:"pits"`
	// Worst is the worst level the site reached in the drill.
	Worst twin.Level `json:"worst_level"`
}

// Step is the state at the end of one time step.
type Step struct {
	Time time.Time `json:"time"`
	// GroundMS is each site's 3-second gust at 10 m, JibMS the highest
	// 3-second gust at the jib of its cranes (0 without cranes), as the
	// storm brings them (m/s, 0.1).
	GroundMS []float64 `json:"ground_ms"`
	JibMS    []float64 `json:"jib_ms"`
	// RainMM is each site's rainfall in the step (rainstorms only).
	RainMM []float64 `json:"rain_mm,omitempty"`
	// Level is each site's risk level: 0 ok, 1 warn, 2 stop: the worst of
	// the site's alarms, its project's alarms and the project's risks.
	Level []int8 `json:"level"`
	// StopOrders counts the sites under a stop-work order: a planned
	// crane stop in force, a site alarm at stop (a sensor rule, an
	// incident) or a weather signal at stop.
	StopOrders int `json:"stop_orders"`
	// Alerts are the alarms and risks that changed level in the step.
	Alerts []twin.Alert `json:"alerts"`
	// ActionsDue are the plan's actions whose deadline falls in the step.
	ActionsDue []ActionRef `json:"actions_due"`
	// Dispatch are the teams sent, arriving and done in the step.
	Dispatch []DispatchEvent `json:"dispatch"`
}

// ActionRef points at an action of the plan.
type ActionRef struct {
	Site      string `json:"site"`
	Kind      string `json:"kind"`
	Equipment string `json:"equipment,omitempty"`
}

// world is the fork the drill runs on, with its sites indexed.
type world struct {
	twins    []*twin.ProjectTwin
	byID     map[string]*twin.ProjectTwin
	index    map[string]int // project id -> index in twins
	sites    []TimelineSite
	siteIdx  map[string]int
	terrain  []string
	cranes   []predict.Crane
	craneOf  []int // site index of each crane
	pits     [][]string
	lat, lon float64 // centre
}

func newWorld(twins []*twin.ProjectTwin) *world {
	w := &world{twins: twins, byID: map[string]*twin.ProjectTwin{}, index: map[string]int{}, siteIdx: map[string]int{}}
	for j, p := range twins {
		w.byID[p.ID] = p
		w.index[p.ID] = j
		for _, sid := range sortedKeys(p.Sites) {
			s := p.Sites[sid]
			if !s.Registered {
				continue
			}
			i := len(w.sites)
			w.siteIdx[sid] = i
			ts := TimelineSite{ID: sid, Project: p.ID, District: p.Info.District, Lat: s.Lat, Lon: s.Lon}
			var pits []string
			for _, c := range predict.CranesOfSite(s) {
				w.cranes = append(w.cranes, c)
				w.craneOf = append(w.craneOf, i)
				ts.Cranes++
			}
			for _, eid := range sortedKeys(s.Equipment) {
				if s.Equipment[eid].Kind == twin.KindFoundationPit {
					pits = append(pits, eid)
				}
			}
			ts.Pits = len(pits)
			w.sites = append(w.sites, ts)
			w.terrain = append(w.terrain, s.Terrain)
			w.pits = append(w.pits, pits)
		}
	}
	w.lat, w.lon = centre(twins)
	return w
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// hazard is what a scenario lays over the city, computed before the
// drill's clock runs: the events to apply, the winds and rain at each site
// per step, the plan made ahead from forecasts, and the incidents.
type hazard struct {
	events    []*twin.Event
	ground    [][]float64 // [step][site]
	jib       [][]float64 // [step][site]
	rain      [][]float64 // [step][site], rainstorms only
	forecasts map[string][]*twin.Prediction
	actions   []*Action
	incidents []*Incident
	track     []LatLon
	// lift is when each site's stop order is lifted (zero: none)
	lift   []time.Time
	bySite map[string][]*Action
}

// Run forks the twins (Fork: the live twins are only read), checks the
// scenario against the fork, lays its hazard over the fork in simulated
// time, step by step, with twin.Apply under the rule pack and the
// prediction models, and returns the timeline, the plan and the dispatch.
// It reads no clock and is deterministic: the same scenario, twins, rules
// and seed give the same result. It returns ctx.Err() when ctx ends.
func Run(ctx context.Context, s *Scenario, live []*twin.ProjectTwin, opt Options) (*Result, error) {
	if opt.Rules == nil {
		opt.Rules = twin.DefaultRules()
	}
	if opt.Models == nil {
		opt.Models = predict.NewRegistry(opt.Rules)
	}
	twins, err := Fork(live)
	if err != nil {
		return nil, err
	}
	if err := s.Check(twins); err != nil {
		return nil, err
	}
	w := newWorld(twins)
	start := s.Start.UTC()
	if start.IsZero() {
		start = ForkInstant(twins).Truncate(time.Minute).Add(time.Minute)
	}
	step := s.Step.D()
	n := int(s.Duration.D() / step)
	end := start.Add(time.Duration(n) * step)
	lead := opt.Rules.Weather.SecureLead.D()
	if lead <= 0 {
		lead = DefaultSecureLead
	}
	d := &drill{s: s, w: w, opt: opt, start: start, end: end, step: step, n: n, lead: lead}
	h, err := d.hazard(ctx)
	if err != nil {
		return nil, fmt.Errorf("drill %s: %w", s.ID, err)
	}
	d.h = h
	if err := d.dispatch(); err != nil {
		return nil, fmt.Errorf("drill %s: %w", s.ID, err)
	}
	tl, err := d.run(ctx)
	if err != nil {
		return nil, err
	}
	plan, err := d.plan(ctx)
	if err != nil {
		return nil, err
	}
	return &Result{Timeline: tl, Plan: plan, Track: h.track}, nil
}

// drill is one run.
type drill struct {
	s                *Scenario
	w                *world
	opt              Options
	start, end       time.Time
	step, lead       time.Duration
	n                int
	h                *hazard
	reactive         []*Action
	reactiveKeys     map[string]bool // site/rule/equipment of the reactive actions
	delayMemo        map[string]delayResult
	tl               *Timeline
	stopped          [][]bool // [step][site]: under a stop-work order
	dispatched       *Dispatch
	delayBefore      map[string]float64
	alertsRaised     int
	eventsApplied    int
	eventsRejected   int
	firstRejectError error
}

func (d *drill) timeline() *Timeline { return d.tl }

func (d *drill) stepTime(k int) time.Time { return d.start.Add(time.Duration(k+1) * d.step) }

// hazard builds the scenario's hazard.
func (d *drill) hazard(ctx context.Context) (*hazard, error) {
	h := &hazard{forecasts: map[string][]*twin.Prediction{}}
	nSites := len(d.w.sites)
	h.ground, h.jib = make([][]float64, d.n), make([][]float64, d.n)
	for k := range d.n {
		h.ground[k], h.jib[k] = make([]float64, nSites), make([]float64, nSites)
	}
	h.lift = make([]time.Time, nSites)
	var err error
	switch d.s.Kind {
	case KindTyphoon:
		err = d.typhoon(ctx, h)
	case KindRainstorm:
		err = d.rainstorm(h)
	case KindCraneCollapse, KindPitCollapse, KindFire:
		err = d.incident(h)
	}
	if err != nil {
		return nil, err
	}
	for _, e := range d.s.events {
		c := *e
		c.Time = d.start.Add(e.Time.Sub(eventEpoch))
		c.ID = d.s.ID + "-" + e.ID
		h.events = append(h.events, &c)
		if in, ok := c.Data.(*twin.IncidentReported); ok && c.Site != "" {
			i, ok := d.w.siteIdx[c.Site]
			if !ok {
				continue
			}
			h.incidents = append(h.incidents, d.newIncident(in.Incident, i, c.Time, in.Category, in.Injuries, in.Equipment, "injected event "+e.ID))
		}
	}
	for _, e := range h.events {
		e.Drill = d.s.ID
	}
	slices.SortStableFunc(h.events, func(a, b *twin.Event) int { return a.Time.Compare(b.Time) })
	slices.SortStableFunc(h.incidents, func(a, b *Incident) int {
		return cmp.Or(a.Time.Compare(b.Time), strings.Compare(a.ID, b.ID))
	})
	return h, nil
}

// run applies the hazard's events step by step and records the timeline.
func (d *drill) run(ctx context.Context) (*Timeline, error) {
	tl := &Timeline{Format: TimelineFormat, Drill: d.s.ID, Name: d.s.Name, Kind: d.s.Kind, Start: d.start, End: d.end,
		Step: twin.Duration(d.step), Seed: d.s.Seed, Sites: d.w.sites, Steps: make([]Step, 0, d.n)}
	ev := d.h.events
	due := map[int][]ActionRef{}
	for _, a := range d.h.actions {
		if k := d.stepOf(a.Due); k >= 0 {
			due[k] = append(due[k], a.ref())
		}
	}
	disp := map[int][]DispatchEvent{}
	for _, de := range d.dispatched.events() {
		if k := d.stepOf(de.Time); k >= 0 {
			disp[k] = append(disp[k], de)
		}
	}
	planned := map[string]bool{} // site/equipment with a planned action
	for _, a := range d.h.actions {
		planned[a.Site+"/"+a.Equipment] = true
		planned[a.Site+"/"] = true
	}
	d.delayBefore = d.delay(ctx, nil)
	if d.opt.OnStart != nil {
		d.opt.OnStart(tl, d.h.track)
	}
	for k := range d.n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		t := d.stepTime(k)
		st := Step{Time: t, GroundMS: d.h.ground[k], JibMS: d.h.jib[k], Alerts: []twin.Alert{}, ActionsDue: due[k], Dispatch: disp[k]}
		if d.h.rain != nil {
			st.RainMM = d.h.rain[k]
		}
		n := 0
		for n < len(ev) && ev[n].Time.Before(t) {
			n++
		}
		applied, err := d.applyAll(ev[:n])
		if err != nil {
			return nil, err
		}
		ev = ev[n:]
		for _, alerts := range applied {
			for i := range alerts {
				al := &alerts[i]
				al.Drill = d.s.ID
				if al.Level == twin.LevelStop && (al.Change == twin.ChangeRaised || al.Change == twin.ChangeEscalated) && al.Site != "" {
					if a := d.reactiveAction(al, planned); a != nil {
						if kk := d.stepOf(a.Due); kk >= 0 {
							due[kk] = append(due[kk], a.ref())
						}
						if kk := d.stepOf(a.Due); kk == k {
							st.ActionsDue = append(st.ActionsDue, a.ref())
						}
					}
				}
			}
			d.alertsRaised += len(alerts)
			st.Alerts = append(st.Alerts, alerts...)
		}
		if st.ActionsDue == nil {
			st.ActionsDue = []ActionRef{}
		}
		if st.Dispatch == nil {
			st.Dispatch = []DispatchEvent{}
		}
		st.Level = make([]int8, len(d.w.sites))
		stopped := make([]bool, len(d.w.sites))
		d.stopped = append(d.stopped, stopped)
		for i := range d.w.sites {
			ts := &tl.Sites[i]
			p := d.w.byID[ts.Project]
			lvl, work := siteLevel(p, p.Sites[ts.ID])
			st.Level[i] = int8(lvl)
			ts.Worst = max(ts.Worst, lvl)
			if work == twin.LevelStop || d.ordered(i, t) {
				stopped[i] = true
				st.StopOrders++
			}
		}
		tl.Steps = append(tl.Steps, st)
		d.tl = tl
		if d.opt.Progress != nil {
			d.opt.Progress(k+1, d.n)
		}
		if d.opt.OnStep != nil {
			d.opt.OnStep(k, &tl.Steps[len(tl.Steps)-1])
		}
	}
	return tl, nil
}

// stepOf returns the step whose interval (start+k·step, start+(k+1)·step]
// holds t, or -1 outside the drill (a time at the start is in step 0).
func (d *drill) stepOf(t time.Time) int {
	if t.Before(d.start) || t.After(d.end) {
		return -1
	}
	k := int((t.Sub(d.start) - 1) / d.step)
	return max(0, min(k, d.n-1))
}

// ordered reports whether a planned stop is in force at site i at t.
func (d *drill) ordered(i int, t time.Time) bool {
	lift := d.h.lift[i]
	if lift.IsZero() || !t.Before(lift) {
		return false
	}
	for _, a := range d.h.sitePlans(d.w.sites[i].ID) {
		if a.Kind == ActionStopCrane && !t.Before(a.Done) {
			return true
		}
	}
	return false
}

// applied is what applying one event to one twin gave.
type applied struct {
	tried  bool         // Apply was called
	err    error        // Apply rejected the event
	alerts []twin.Alert // of Apply
	pred   []twin.Alert // of the advisory's prediction for the twin
	fatal  error        // recording the prediction failed
}

// applyAll applies the events of one step to the fork and returns the
// alerts of each event in the order applying them one by one gives: a
// city-wide event's twins in id order, then an advisory's predictions in
// forecast order (which is twin order). Each twin's events (its own and
// the city-wide ones) are applied in order, twins in parallel on a pool of
// goroutines; each writes to slots of its own, so the result does not
// depend on scheduling. Emit hears of the events first, in order.
func (d *drill) applyAll(evs []*twin.Event) ([][]twin.Alert, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	if d.opt.Emit != nil {
		for _, e := range evs {
			d.opt.Emit(e)
		}
	}
	tw := d.w.twins
	// per event a slot per twin: every twin for a city-wide event or an
	// advisory with forecasts, else the event's own twin
	slots := make([][]applied, len(evs))
	own := map[int][]int{} // twin index -> indices of the events it takes part in, in order
	var wide []int         // events every twin takes part in
	for j, e := range evs {
		if e.Project == twin.CityWide || len(d.h.forecasts[e.ID]) > 0 {
			slots[j] = make([]applied, len(tw))
			wide = append(wide, j)
			continue
		}
		slots[j] = make([]applied, 1)
		if i, ok := d.w.index[e.Project]; ok {
			own[i] = append(own[i], j)
		}
	}
	var work []int // twin indices with something to do
	if len(wide) > 0 {
		work = make([]int, len(tw))
		for i := range tw {
			work[i] = i
		}
	} else {
		for i := range own {
			work = append(work, i)
		}
		slices.Sort(work)
	}
	r := d.opt.Rules
	parallel(len(work), func(k int) {
		i := work[k]
		p := tw[i]
		js := own[i]
		if len(wide) > 0 {
			js = mergeSorted(js, wide)
		}
		for _, j := range js {
			e := evs[j]
			slot := &slots[j][0]
			if len(slots[j]) > 1 {
				slot = &slots[j][i]
			}
			if e.Project == p.ID || e.Project == twin.CityWide && p.Registered {
				slot.tried = true
				eff, err := twin.Apply(p, e, r)
				if err != nil {
					slot.err = err
				} else {
					slot.alerts = eff.Alerts
				}
			}
			for _, pr := range d.h.forecasts[e.ID] {
				if pr.Project != p.ID {
					continue
				}
				as, err := twin.RecordPrediction(p, pr, r)
				if err != nil {
					slot.fatal = err
					break
				}
				slot.pred = append(slot.pred, as...)
			}
		}
	})

	out := make([][]twin.Alert, len(evs))
	for j, e := range evs {
		var alerts, pred []twin.Alert
		for _, sl := range slots[j] {
			if sl.tried {
				if sl.err != nil {
					d.eventsRejected++
					if d.firstRejectError == nil {
						d.firstRejectError = fmt.Errorf("%s: %w", e.ID, sl.err)
					}
				} else {
					d.eventsApplied++
					alerts = append(alerts, sl.alerts...)
				}
			}
		}
		for _, sl := range slots[j] {
			if sl.fatal != nil {
				name := e.ID
				if adv, ok := e.Data.(*twin.TyphoonAdvisory); ok {
					name = adv.Name
				}
				return nil, fmt.Errorf("drill %s: advisory %s: %w", d.s.ID, name, sl.fatal)
			}
			pred = append(pred, sl.pred...)
		}
		out[j] = append(alerts, pred...)
	}
	return out, nil
}

// mergeSorted merges two ascending lists of distinct indices.
func mergeSorted(a, b []int) []int {
	out := make([]int, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0] < b[0] {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// parallel calls fn(0..n-1) on GOMAXPROCS goroutines and waits; each index
// once. Callers write results to slots of their own per index, so the
// result is the same however the calls are scheduled.
func parallel(n int, fn func(k int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for k := range n {
			fn(k)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				fn(k)
			}
		})
	}
	wg.Wait()
}

// siteLevel is the worst of a site's alarms, its project's alarms and the
// project's risks (a site-level risk only for its site); work is the worst
// of the alarms that stop work at the site: its own (sensor rules,
// incidents) and its project's weather signals. A project's wage or
// schedule alarm, or a risk, stops no work.
func siteLevel(p *twin.ProjectTwin, s *twin.SiteTwin) (lvl, work twin.Level) {
	for _, a := range s.Alarms {
		work = max(work, a.Level)
	}
	lvl = work
	for _, a := range p.Alarms {
		if a.Site == "" || a.Site == s.ID {
			lvl = max(lvl, a.Level)
			if a.Rule == "rainstorm" || a.Rule == "typhoon" {
				work = max(work, a.Level)
			}
		}
	}
	for _, a := range p.Predictions.Risks {
		if a.Site == "" || a.Site == s.ID {
			lvl = max(lvl, a.Level)
		}
	}
	return lvl, work
}

// delay runs the delay model on the projects (nil: every project with
// cranes or pits) and returns P(on time) by project.
func (d *drill) delay(ctx context.Context, only map[string]bool) map[string]float64 {
	m, ok := d.opt.Models.Get("delay")
	if !ok {
		return nil
	}
	var todo []*twin.ProjectTwin
	if only == nil {
		only = d.touchedProjects()
	}
	for _, p := range d.w.twins {
		if only[p.ID] {
			todo = append(todo, p)
		}
	}
	// The built-in model reads only a view's id, info, milestones and
	// schedule (and its clock without a status date), with a fixed seed:
	// a project the drill left unchanged there gets the figure of the
	// earlier pass again instead of a new Monte Carlo run.
	_, builtin := m.(*predict.DelayModel)
	vals := make([]float64, len(todo))
	has := make([]bool, len(todo))
	keys := make([]string, len(todo))
	// the projects in parallel, each result in its own slot
	parallel(len(todo), func(k int) {
		v := todo[k].View()
		if builtin {
			keys[k] = delayKey(v)
			if r, ok := d.delayMemo[keys[k]]; ok && keys[k] != "" {
				vals[k], has[k] = r.v, r.ok
				return
			}
		}
		pr, err := m.Predict(ctx, v)
		if err != nil || pr == nil {
			return
		}
		vals[k], has[k] = pr.Values["p_on_time"]
	})
	out := map[string]float64{}
	if builtin && d.delayMemo == nil {
		d.delayMemo = map[string]delayResult{}
	}
	for k, p := range todo {
		if has[k] {
			out[p.ID] = vals[k]
		}
		if builtin && keys[k] != "" && ctx.Err() == nil {
			d.delayMemo[keys[k]] = delayResult{vals[k], has[k]}
		}
	}
	return out
}

// delayResult is a delay model figure, memoised by delayKey.
type delayResult struct {
	v  float64
	ok bool
}

// delayKey encodes what the built-in delay model reads of a view.
func delayKey(v *twin.ProjectView) string {
	k := struct {
		ID         string
		Info       twin.ProjectInfo
		Milestones any
		Schedule   any
		Clock      time.Time
	}{ID: v.ID, Info: v.Info, Milestones: v.Milestones, Schedule: v.Schedule}
	if v.Schedule.StatusDate.IsZero() {
		k.Clock = v.Clock
	}
	b, err := json.Marshal(k)
	if err != nil {
		return "" // never memoised
	}
	return string(b)
}

// touchedProjects returns the projects the plan asks anything of.
func (d *drill) touchedProjects() map[string]bool {
	out := map[string]bool{}
	for _, a := range d.h.actions {
		out[a.Project] = true
	}
	for _, in := range d.h.incidents {
		out[in.Project] = true
	}
	return out
}

func round1(x float64) float64 { return math.Round(x*10) / 10 }
