package main

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sitetwin/sitetwin/dashboard"
	"github.com/sitetwin/sitetwin/scenarios"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// The dashboard's drills: the runner's and those the engine saw.
var _ dashboard.Drills = (*cityDrills)(nil)

// defaultDrillIdle is how long the events of a drill seen by the engine
// may stop before the dashboard shows it as done (a drill run from a
// shell that was interrupted before its last event, or whose last event
// is lost).
const defaultDrillIdle = 2 * time.Minute

// cityDrills is what the dashboard shows of live drills: those this
// process runs (POST /api/drills; the runner's, in full) and those the
// engine has applied events of that another process started (`sitetwin
// drill run --live`; what the engine knows of them).
type cityDrills struct {
	runner *liveDrills
	engine *engineDrills
}

// Start implements dashboard.Drills: the runner starts the drill.
func (c *cityDrills) Start(ctx context.Context, scenario []byte) (dashboard.DrillStatus, error) {
	return c.runner.Start(ctx, scenario)
}

// Drill implements dashboard.Drills.
func (c *cityDrills) Drill(id string) (dashboard.DrillStatus, bool) {
	if st, ok := c.runner.Drill(id); ok {
		return st, true
	}
	return c.engine.drill(id)
}

// List implements dashboard.Drills: the drills of both, newest first.
func (c *cityDrills) List() []dashboard.DrillStatus {
	out := append(c.runner.List(), c.engine.list()...)
	slices.SortStableFunc(out, func(a, b dashboard.DrillStatus) int { return b.Started.Compare(a.Started) })
	return out
}

// Timeline implements dashboard.Drills.
func (c *cityDrills) Timeline(id string) (*scenarios.Timeline, bool) {
	if tl, ok := c.runner.Timeline(id); ok {
		return tl, true
	}
	return c.engine.timeline(id)
}

// Report implements dashboard.Drills: only the runner's drills have one.
func (c *cityDrills) Report(id string) ([]byte, bool) { return c.runner.Report(id) }

// Watch implements dashboard.Drills.
func (c *cityDrills) Watch(fn func(dashboard.DrillUpdate)) (stop func()) {
	s1, s2 := c.runner.Watch(fn), c.engine.watchUpdates(fn)
	return func() { s1(); s2() }
}

// engineDrills presents the drills the engine has seen (streams.Store
// Drills) that the runner does not know, as drills of source engine: the
// layer is the sites of the drill's forks, the timeline one step (the
// latest levels, the drill's alerts), each commit that changed the drill a
// step of the feed. Such a drill is done once its last event (with the
// end marker) is applied, or when its events stopped for idle.
type engineDrills struct {
	store *streams.Store
	own   func(id string) bool // the runner's drills, shown by the runner
	idle  time.Duration
	now   func() time.Time

	mu      sync.Mutex
	sent    map[string]*sentDrill
	watch   map[int]func(dashboard.DrillUpdate)
	watchID int
	wmu     sync.Mutex // held while updates are made and watchers called: in order, and stop waits for them
}

// sentDrill is what the watchers were told of a drill.
type sentDrill struct {
	sites  int                   // sites of the layer sent
	alerts int                   // the drill's alerts counted
	steps  int                   // steps sent: the next one's index
	status dashboard.DrillStatus // the status sent
}

func newEngineDrills(store *streams.Store, own func(string) bool, idle time.Duration) *engineDrills {
	return &engineDrills{store: store, own: own, idle: cmp.Or(idle, defaultDrillIdle), now: time.Now,
		sent: map[string]*sentDrill{}, watch: map[int]func(dashboard.DrillUpdate){}}
}

// run tells the watchers of the drills whose events changed, and of
// those whose events stopped for idle, until ctx ends. It returns nil.
func (e *engineDrills) run(ctx context.Context) error {
	stop := e.store.WatchDrills(e.changed)
	defer stop()
	t := time.NewTicker(min(time.Second, e.idle/4))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			e.expire()
		}
	}
}

// status is a drill's status as the engine saw it.
func (e *engineDrills) status(v *streams.DrillView, now time.Time) dashboard.DrillStatus {
	scenario, _, _ := strings.Cut(v.ID, "@")
	st := dashboard.DrillStatus{
		ID: v.ID, Scenario: scenario, Name: scenario, State: dashboard.DrillRunning, Source: dashboard.DrillSourceEngine,
		Start: v.From, End: v.To, SimTime: v.To, Started: v.FirstSeen, LastSeen: v.LastSeen,
		Sites: len(v.Sites), Events: int(v.Events), Alerts: v.AlertsTotal, Link: dashboard.EngineDrillLinks(v.ID),
	}
	switch {
	case v.Ended:
		st.State, st.Finished, st.Ended = dashboard.DrillDone, v.LastSeen, "its last event came"
	case now.Sub(v.LastSeen) >= e.idle:
		st.State, st.Finished, st.Ended = dashboard.DrillDone, v.LastSeen, idleEnd(e.idle)
	}
	return st
}

func (e *engineDrills) list() []dashboard.DrillStatus {
	now := e.now()
	var out []dashboard.DrillStatus
	for _, v := range e.store.Drills() {
		if !e.own(v.ID) {
			out = append(out, e.status(&v, now))
		}
	}
	return out
}

func (e *engineDrills) drill(id string) (dashboard.DrillStatus, bool) {
	v, ok := e.store.Drill(id)
	if !ok || e.own(id) {
		return dashboard.DrillStatus{}, false
	}
	st := e.status(&v, e.now())
	st.Affected = make([]dashboard.DrillSiteLevel, len(v.Sites))
	for i, s := range v.Sites {
		st.Affected[i] = dashboard.DrillSiteLevel{ID: s.ID, Project: s.Project, Lat: s.Lat, Lon: s.Lon, Level: s.Level}
	}
	st.RecentAlerts = make([]twin.Alert, len(v.Alerts))
	for i, a := range v.Alerts {
		st.RecentAlerts[len(v.Alerts)-1-i] = a
	}
	return st, true
}

// timelineSites is a drill's layer.
func timelineSites(v *streams.DrillView) []scenarios.TimelineSite {
	out := make([]scenarios.TimelineSite, len(v.Sites))
	for i, s := range v.Sites {
		out[i] = scenarios.TimelineSite{ID: s.ID, Project: s.Project, Lat: s.Lat, Lon: s.Lon, Worst: s.Level}
	}
	return out
}

// step is the drill's latest state as a step of its timeline, with the
// alerts given.
func step(v *streams.DrillView, alerts []twin.Alert) *scenarios.Step {
	st := &scenarios.Step{Time: v.To, GroundMS: []float64{}, JibMS: []float64{}, Level: make([]int8, len(v.Sites)),
		Alerts: alerts, ActionsDue: []scenarios.ActionRef{}, Dispatch: []scenarios.DispatchEvent{}}
	if st.Alerts == nil {
		st.Alerts = []twin.Alert{}
	}
	for i, s := range v.Sites {
		st.Level[i] = int8(s.Level)
		if s.Level == twin.LevelStop {
			st.StopOrders++
		}
	}
	return st
}

// timeline is what the engine knows of a drill as a timeline: its sites
// and one step, the latest, with the drill's latest alerts.
func (e *engineDrills) timeline(id string) (*scenarios.Timeline, bool) {
	v, ok := e.store.Drill(id)
	if !ok || e.own(id) {
		return nil, false
	}
	scenario, _, _ := strings.Cut(v.ID, "@")
	return &scenarios.Timeline{Format: scenarios.TimelineFormat, Drill: v.ID, Name: scenario, Start: v.From, End: v.To,
		Sites: timelineSites(&v), Steps: []scenarios.Step{*step(&v, v.Alerts)}}, true
}

// watchUpdates registers fn like dashboard.Drills.Watch.
func (e *engineDrills) watchUpdates(fn func(dashboard.DrillUpdate)) (stop func()) {
	e.mu.Lock()
	e.watchID++
	id := e.watchID
	e.watch[id] = fn
	e.mu.Unlock()
	return func() {
		e.wmu.Lock()
		defer e.wmu.Unlock()
		e.mu.Lock()
		delete(e.watch, id)
		e.mu.Unlock()
	}
}

// changed is the store's watcher: each drill that changed is a step of
// its feed (with a new layer when it touched more sites). It is called on
// the engine's goroutine and only encodes and queues.
func (e *engineDrills) changed(ids []string) {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	now := e.now()
	for _, id := range ids {
		if e.own(id) {
			continue
		}
		v, ok := e.store.Drill(id)
		if !ok {
			continue
		}
		st := e.status(&v, now)
		e.mu.Lock()
		s, ok := e.sent[id]
		if !ok {
			s = &sentDrill{}
			e.sent[id] = s
			for known := range e.sent { // forget drills the store no longer keeps
				if _, kept := e.store.Drill(known); !kept {
					delete(e.sent, known)
				}
			}
		}
		u := dashboard.DrillUpdate{Status: st, Index: s.steps}
		if !ok || len(v.Sites) != s.sites {
			u.Sites = timelineSites(&v)
		}
		fresh := max(0, min(v.AlertsTotal-s.alerts, len(v.Alerts)))
		u.Step = step(&v, slices.Clone(v.Alerts[len(v.Alerts)-fresh:]))
		s.sites, s.alerts, s.status = len(v.Sites), v.AlertsTotal, st
		s.steps++
		e.mu.Unlock()
		e.notify(u)
	}
}

// expire tells the watchers of the drills told running whose events
// stopped for idle that they are done.
func (e *engineDrills) expire() {
	e.wmu.Lock()
	defer e.wmu.Unlock()
	now := e.now()
	e.mu.Lock()
	var done []dashboard.DrillStatus
	for _, id := range slices.Sorted(maps.Keys(e.sent)) {
		s := e.sent[id]
		if s.status.State == dashboard.DrillRunning && now.Sub(s.status.LastSeen) >= e.idle {
			s.status.State, s.status.Finished, s.status.Ended = dashboard.DrillDone, s.status.LastSeen, idleEnd(e.idle)
			done = append(done, s.status)
		}
	}
	e.mu.Unlock()
	for _, st := range done {
		e.notify(dashboard.DrillUpdate{Status: st})
	}
}

// idleEnd says why a drill whose events stopped is done.
func idleEnd(idle time.Duration) string { return "its events stopped for " + idle.String() }

// notify tells the watchers, in order of registration. The caller holds
// e.wmu, so that updates of a drill reach them in order.
func (e *engineDrills) notify(u dashboard.DrillUpdate) {
	e.mu.Lock()
	ids := make([]int, 0, len(e.watch))
	for id := range e.watch {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fns := make([]func(dashboard.DrillUpdate), 0, len(ids))
	for _, id := range ids {
		fns = append(fns, e.watch[id])
	}
	e.mu.Unlock()
	for _, fn := range fns {
		fn(u)
	}
}
