package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/sitetwin/sitetwin/dashboard"
	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/scenarios"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// The drill runner is the dashboard's.
var _ dashboard.Drills = (*liveDrills)(nil)

// maxKeptDrills is how many drills the runner keeps for the API.
const maxKeptDrills = 10

// liveDrills runs live drills inside `sitetwin run`: each forks the
// committed state of the cluster, runs the scenario (scenarios.Run) and
// sends every event it applies, tagged with the drill's id, to the input
// topics, where the engine keeps them in its drill namespace. One drill
// runs at a time; its status, timeline and report are kept for the API.
type liveDrills struct {
	brokers []string
	rules   *twin.Rules
	models  *predict.Registry
	read    scenarios.ReadFunc
	speed   float64 // simulated seconds per wall second; 0: as fast as it goes
	log     *slog.Logger

	mu      sync.Mutex
	ctx     context.Context // the app's; nil until run
	closed  bool
	wg      sync.WaitGroup
	seq     int
	busy    bool
	drills  map[string]*liveDrill
	order   []string        // oldest first
	ids     map[string]bool // every drill started, kept or not
	watch   map[int]func(dashboard.DrillUpdate)
	watchID int
	wmu     sync.Mutex // held while watchers are called, so that stop waits for them
}

// liveDrill is one drill's state, guarded by liveDrills.mu.
type liveDrill struct {
	status dashboard.DrillStatus
	header scenarios.Timeline // without sites and steps
	sites  []scenarios.TimelineSite
	steps  []scenarios.Step
	res    *scenarios.Result
	report []byte
}

func newLiveDrills(brokers []string, rules *twin.Rules, models *predict.Registry, speed float64, log *slog.Logger) *liveDrills {
	return &liveDrills{brokers: brokers, rules: rules, models: models, read: scenarios.ReadExample, speed: speed, log: log,
		drills: map[string]*liveDrill{}, ids: map[string]bool{}, watch: map[int]func(dashboard.DrillUpdate){}}
}

// run lets drills start until ctx ends, then waits for the running one to
// stop. It returns nil.
func (l *liveDrills) run(ctx context.Context) error {
	l.mu.Lock()
	l.ctx = ctx
	l.mu.Unlock()
	<-ctx.Done()
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.wg.Wait()
	return nil
}

// liveDrillID names a live run of a scenario: its id and the wall-clock
// second it started, and a sequence number, so that no two runs share the
// engine's drill namespace or their events' ids.
func liveDrillID(scenario string, now time.Time, seq int) string {
	return fmt.Sprintf("%s@%s-%d", scenario, now.UTC().Format("20060102T150405"), seq)
}

// Start implements dashboard.Drills.
func (l *liveDrills) Start(ctx context.Context, body []byte) (dashboard.DrillStatus, error) {
	s, err := scenarios.Parse(body, l.read)
	if err != nil {
		var fe *scenarios.FieldError
		if !errors.As(err, &fe) { // not JSON, or not a scenario's shape
			err = &scenarios.FieldError{Field: "body", Rule: err.Error()}
		}
		return dashboard.DrillStatus{}, err
	}
	l.mu.Lock()
	switch {
	case l.ctx == nil || l.closed:
		l.mu.Unlock()
		return dashboard.DrillStatus{}, errors.New("the drill runner is not running")
	case l.busy:
		l.mu.Unlock()
		return dashboard.DrillStatus{}, dashboard.ErrDrillBusy
	}
	l.busy = true
	runCtx := l.ctx
	l.mu.Unlock()
	started := false
	defer func() {
		if !started {
			l.mu.Lock()
			l.busy = false
			l.mu.Unlock()
		}
	}()
	d, info, err := streams.ReadDump(ctx, l.brokers, streams.DefaultTopics())
	if err != nil {
		return dashboard.DrillStatus{}, fmt.Errorf("fork the live city: %w", err)
	}
	twins, err := scenarios.ForkSnapshots(d.Twins)
	if err != nil {
		return dashboard.DrillStatus{}, fmt.Errorf("fork the live city: %w", err)
	}
	if err := s.Check(twins); err != nil {
		return dashboard.DrillStatus{}, err
	}
	pub, err := streams.NewPublisher(l.brokers, streams.DefaultTopics(), "sitetwin-drill")
	if err != nil {
		return dashboard.DrillStatus{}, err
	}
	now := time.Now().UTC()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		pub.Close()
		return dashboard.DrillStatus{}, errors.New("the drill runner is stopping")
	}
	l.seq++
	scenario := s.ID
	s.ID = liveDrillID(s.ID, now, l.seq)
	ld := &liveDrill{status: dashboard.DrillStatus{
		ID: s.ID, Scenario: scenario, Name: s.Name, Kind: s.Kind, State: dashboard.DrillRunning,
		Source: dashboard.DrillSourceAPI, Started: now, Link: dashboard.DrillLinks(s.ID),
	}}
	l.drills[s.ID] = ld
	l.ids[s.ID] = true
	l.order = append(l.order, s.ID)
	l.trim()
	l.wg.Add(1)
	started = true
	st := ld.status
	l.mu.Unlock()
	l.log.Info("live drill started", "drill", s.ID, "kind", s.Kind, "twins", len(twins), "waiting", info.Waiting)
	go l.drive(runCtx, s, twins, pub, ld)
	return st, nil
}

// trim forgets the oldest finished drills beyond maxKeptDrills. The caller
// holds l.mu.
func (l *liveDrills) trim() {
	for i := 0; len(l.order) > maxKeptDrills && i < len(l.order); {
		id := l.order[i]
		if l.drills[id].status.State == dashboard.DrillRunning {
			i++
			continue
		}
		delete(l.drills, id)
		l.order = slices.Delete(l.order, i, i+1)
	}
}

// drive runs one drill to its end.
func (l *liveDrills) drive(ctx context.Context, s *scenarios.Scenario, twins []*twin.ProjectTwin, pub *streams.Publisher, ld *liveDrill) {
	defer l.wg.Done()
	defer pub.Close()
	began := time.Now()
	var emitErr error
	em := &drillEmitter{pub: pub}
	opt := scenarios.Options{Rules: l.rules, Models: l.models,
		Emit: func(e *twin.Event) {
			if err := em.emit(ctx, e); err != nil && emitErr == nil {
				emitErr = err
			}
			l.mu.Lock()
			ld.status.Events++
			l.mu.Unlock()
		},
		OnStart: func(tl *scenarios.Timeline, track []scenarios.LatLon) {
			l.mu.Lock()
			ld.header = *tl
			ld.header.Sites, ld.header.Steps = nil, nil
			ld.sites = slices.Clone(tl.Sites)
			ld.status.Start, ld.status.End, ld.status.Steps, ld.status.Sites = tl.Start, tl.End, int(tl.End.Sub(tl.Start)/tl.Step.D()), len(tl.Sites)
			st := ld.status
			l.mu.Unlock()
			l.notify(dashboard.DrillUpdate{Status: st, Sites: ld.sites, Track: track})
		},
		OnStep: func(k int, step *scenarios.Step) {
			l.mu.Lock()
			ld.steps = append(ld.steps, *step)
			ld.status.StepsDone, ld.status.SimTime = k+1, step.Time
			ld.status.Alerts += len(step.Alerts)
			st := ld.status
			l.mu.Unlock()
			l.notify(dashboard.DrillUpdate{Status: st, Step: step, Index: k})
			if l.speed > 0 {
				wait := time.Until(began.Add(time.Duration(float64(step.Time.Sub(st.Start)) / l.speed)))
				if wait > 0 {
					t := time.NewTimer(wait)
					select {
					case <-t.C:
					case <-ctx.Done():
						t.Stop()
					}
				}
			}
		},
	}
	res, err := scenarios.Run(ctx, s, twins, opt)
	if err == nil {
		err = emitErr
	}
	// the last event goes with the end marker, even when the drill
	// failed: the engine shows it as ended either way
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	if eerr := em.end(fctx); eerr != nil && err == nil {
		err = eerr
	}
	if ferr := pub.Flush(fctx); ferr != nil && err == nil {
		err = fmt.Errorf("send the drill's events: %w", ferr)
	}
	cancel()
	l.mu.Lock()
	ld.status.Finished = time.Now().UTC()
	if err != nil {
		ld.status.State, ld.status.Error = dashboard.DrillFailed, err.Error()
	} else {
		ld.status.State = dashboard.DrillDone
		ld.res = res
		k := res.Plan.KPIs
		ld.status.KPIs = &k
	}
	l.busy = false
	st := ld.status
	l.mu.Unlock()
	if err != nil {
		l.log.Error("live drill failed", "drill", s.ID, "err", err)
	} else {
		l.log.Info("live drill done", "drill", s.ID, "steps", st.StepsDone, "events", st.Events, "took", time.Since(began).Round(time.Millisecond))
	}
	l.notify(dashboard.DrillUpdate{Status: st})
}

// drillEmitter sends a drill's events to the input topics, holding back
// the latest one so that the drill's last event goes with the end marker
// (streams.HeaderDrillEnd): the engine then shows the drill as ended
// without waiting for its events to stop for a while.
type drillEmitter struct {
	pub  *streams.Publisher
	held *twin.Event
}

// emit sends the event held back, if any, and holds back (a copy of) e.
// The drill never changes an event it has applied, so a shallow copy
// keeps it.
func (d *drillEmitter) emit(ctx context.Context, e *twin.Event) error {
	var err error
	if d.held != nil {
		err = d.pub.Publish(ctx, d.held)
	}
	c := *e
	d.held = &c
	return err
}

// end sends the event held back with the end marker. Flush the publisher
// afterwards.
func (d *drillEmitter) end(ctx context.Context) error {
	if d.held == nil {
		return nil
	}
	e := d.held
	d.held = nil
	return d.pub.PublishLast(ctx, e)
}

// notify tells the watchers.
func (l *liveDrills) notify(u dashboard.DrillUpdate) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.mu.Lock()
	ids := make([]int, 0, len(l.watch))
	for id := range l.watch {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	fns := make([]func(dashboard.DrillUpdate), 0, len(ids))
	for _, id := range ids {
		fns = append(fns, l.watch[id])
	}
	l.mu.Unlock()
	for _, fn := range fns {
		fn(u)
	}
}

// Watch implements dashboard.Drills.
func (l *liveDrills) Watch(fn func(dashboard.DrillUpdate)) (stop func()) {
	l.mu.Lock()
	l.watchID++
	id := l.watchID
	l.watch[id] = fn
	l.mu.Unlock()
	return func() {
		l.wmu.Lock()
		defer l.wmu.Unlock()
		l.mu.Lock()
		delete(l.watch, id)
		l.mu.Unlock()
	}
}

// started reports whether this runner started the drill (the engine's
// view of it is not shown apart).
func (l *liveDrills) started(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ids[id]
}

// Drill implements dashboard.Drills.
func (l *liveDrills) Drill(id string) (dashboard.DrillStatus, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ld, ok := l.drills[id]
	if !ok {
		return dashboard.DrillStatus{}, false
	}
	st := ld.status
	if ld.res != nil {
		st.Plan = ld.res.Plan
	}
	return st, true
}

// List implements dashboard.Drills.
func (l *liveDrills) List() []dashboard.DrillStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]dashboard.DrillStatus, 0, len(l.order))
	for i := len(l.order) - 1; i >= 0; i-- {
		out = append(out, l.drills[l.order[i]].status)
	}
	return out
}

// Timeline implements dashboard.Drills.
func (l *liveDrills) Timeline(id string) (*scenarios.Timeline, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ld, ok := l.drills[id]
	if !ok {
		return nil, false
	}
	if ld.res != nil {
		return ld.res.Timeline, true
	}
	tl := ld.header
	tl.Format = scenarios.TimelineFormat
	tl.Sites = ld.sites
	tl.Steps = ld.steps[:len(ld.steps):len(ld.steps)]
	if tl.Steps == nil {
		tl.Steps = []scenarios.Step{}
	}
	return &tl, true
}

// Report implements dashboard.Drills.
func (l *liveDrills) Report(id string) ([]byte, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ld, ok := l.drills[id]
	if !ok || ld.res == nil {
		return nil, false
	}
	if ld.report == nil {
		b, err := scenarios.Report(ld.res)
		if err != nil {
			l.log.Error("drill report", "drill", id, "err", err)
			return nil, false
		}
		ld.report = b
	}
	return ld.report, true
}
