package streams

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// A drill's events (twin.Event.Drill set) are kept in a namespace of their
// own: each worker applies them to forks of its twins keyed by (drill,
// project), made from the real twin when the drill first touches it (a new
// twin when the project does not exist), never to the real twins. The
// forks live in memory only: they are not written to the changelog (the
// real twin's entry stays as it was), not published to the store, and
// trigger no model run. What the engine sees of a drill is published to
// the store once committed (Store.Drills): the sites of the forks it
// touched with their levels, its alerts, its simulated time and when its
// events last came, so that screens show a drill whoever started it. A
// drill runs in simulated time, ahead of the wall
// clock: the rule pack's bound on events from the future does not apply to
// its events. A drill's alerts are produced to the alerts topic,
// carrying the drill's id; its outbound requests are dropped (never in the
// outbox). Events a fork rejects are counted, not dead-lettered. A city-wide
// drill event reaches the forks of every twin of the partition and is not
// remembered for twins registered later.
//
// The forks do not survive a restore of the partition (an aborted
// transaction, a rebalance, a restart): events of the drill applied after
// it fork the real twins again. A worker keeps the forks of at most
// EngineConfig.MaxDrills drills; the forks of the drill seen first are
// dropped when another one starts.

// drillSpace is a worker's drill namespace; only the worker's goroutine
// touches it.
type drillSpace struct {
	order []string                                // drill ids, in order of first sight
	twins map[string]map[string]*twin.ProjectTwin // drill -> project -> fork
	seen  map[string]*drillSeen                   // drill -> what changed since the last commit (for the store)
}

// drillSeen is what a worker applied of a drill since the last commit.
type drillSeen struct {
	events   int64           // drill records applied (a city-wide one by the city partition's worker only)
	from, to time.Time       // the earliest and latest event times applied
	ended    bool            // its last record (HeaderDrillEnd) was applied
	projects map[string]bool // forks changed
	alerts   []twin.Alert
}

// seenDrill returns the record of what changed in a drill since the last
// commit.
func (w *worker) seenDrill(drill string) *drillSeen {
	ds := &w.drills
	if ds.seen == nil {
		ds.seen = map[string]*drillSeen{}
	}
	s, ok := ds.seen[drill]
	if !ok {
		s = &drillSeen{projects: map[string]bool{}}
		ds.seen[drill] = s
	}
	return s
}

// noteDrillRecord records a drill record: its time, whether it is the
// drill's last, and (count) one more record applied.
func (w *worker) noteDrillRecord(r *kgo.Record, ev *twin.Event, count bool) {
	s := w.seenDrill(ev.Drill)
	if count {
		s.events++
	}
	if s.from.IsZero() || ev.Time.Before(s.from) {
		s.from = ev.Time
	}
	if ev.Time.After(s.to) {
		s.to = ev.Time
	}
	if hasHeader(r, HeaderDrillEnd) {
		s.ended = true
	}
}

// committedDrills hands what changed in the drills since the last commit,
// now that the commit made their alerts final: per drill, the sites of the
// forks changed with their levels.
func (w *worker) committedDrills() []drillBatch {
	ds := &w.drills
	out := make([]drillBatch, 0, len(ds.seen))
	for _, id := range sortedIDs(ds.seen) {
		s := ds.seen[id]
		b := drillBatch{id: id, events: s.events, from: s.from, to: s.to, ended: s.ended, alerts: s.alerts}
		forks := ds.twins[id]
		for _, pid := range sortedIDs(s.projects) {
			if p, ok := forks[pid]; ok {
				b.sites = append(b.sites, drillSites(p)...)
			}
		}
		out = append(out, b)
	}
	clear(ds.seen)
	return out
}

// drillSites returns the sites of a fork with their levels, by site id.
func drillSites(p *twin.ProjectTwin) []DrillSite {
	out := make([]DrillSite, 0, len(p.Sites))
	for _, id := range sortedIDs(p.Sites) {
		s := p.Sites[id]
		out = append(out, DrillSite{ID: s.ID, Project: p.ID, Lat: s.Lat, Lon: s.Lon, Level: siteLevel(p, s)})
	}
	return out
}

// siteLevel is the worst of a site's alarms, its project's alarms and
// risks that concern it (those of no site or of this one), as a drill's
// timeline counts it.
func siteLevel(p *twin.ProjectTwin, s *twin.SiteTwin) twin.Level {
	var lvl twin.Level
	for _, a := range s.Alarms {
		lvl = max(lvl, a.Level)
	}
	for _, a := range p.Alarms {
		if a.Site == "" || a.Site == s.ID {
			lvl = max(lvl, a.Level)
		}
	}
	for _, a := range p.Predictions.Risks {
		if a.Site == "" || a.Site == s.ID {
			lvl = max(lvl, a.Level)
		}
	}
	return lvl
}

// drillBatch is what a commit made final of one drill in one partition.
type drillBatch struct {
	id       string
	events   int64
	from, to time.Time
	ended    bool
	sites    []DrillSite
	alerts   []twin.Alert
}

// drillMetrics counts what the engine did with drill events.
type drillMetrics struct {
	applied  prometheus.Counter
	rejected prometheus.Counter
	dropped  prometheus.Counter // outbound requests of drills, never produced
	forks    prometheus.Gauge
}

func newDrillMetrics() *drillMetrics {
	return &drillMetrics{
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitetwin_drill_events_applied_total", Help: "Drill events applied to drill forks of twins (never to the real twins).",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitetwin_drill_events_rejected_total", Help: "Drill events a drill fork rejected (counted, not dead-lettered).",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sitetwin_drill_outbound_dropped_total", Help: "Outbound requests (filings, disbursements) decided in drills: never written to the outbox.",
		}),
		forks: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sitetwin_drill_twins", Help: "Drill forks of twins held in memory by this process.",
		}),
	}
}

func (m *drillMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.applied, m.rejected, m.dropped, m.forks}
}

// drillFork returns the fork of a project's twin in a drill, making it from
// the real twin (or a new twin) when the drill first touches the project.
func (w *worker) drillFork(drill, project string) (*twin.ProjectTwin, error) {
	ds := &w.drills
	if ds.twins == nil {
		ds.twins = map[string]map[string]*twin.ProjectTwin{}
	}
	forks, ok := ds.twins[drill]
	if !ok {
		for len(ds.order) >= w.e.cfg.MaxDrills {
			w.dropDrill(ds.order[0])
		}
		forks = map[string]*twin.ProjectTwin{}
		ds.twins[drill] = forks
		ds.order = append(ds.order, drill)
		w.e.log.Info("drill seen: its events go to forks of the twins", "drill", drill, "partition", w.partition)
	}
	w.seenDrill(drill).projects[project] = true
	if p, ok := forks[project]; ok {
		return p, nil
	}
	var fork *twin.ProjectTwin
	if real, ok := w.twin(project); ok {
		b, err := real.AppendSnapshot(nil)
		if err != nil {
			return nil, fmt.Errorf("fork twin %s for drill %s: %w", project, drill, err)
		}
		if fork, err = decodeTwin(project, b); err != nil {
			return nil, fmt.Errorf("fork twin %s for drill %s: %w", project, drill, err)
		}
	} else {
		fork = twin.NewProject(project, w.e.cfg.Rules)
	}
	forks[project] = fork
	w.e.drillm.forks.Inc()
	return fork, nil
}

// dropDrill forgets a drill's forks.
func (w *worker) dropDrill(drill string) {
	ds := &w.drills
	n := len(ds.twins[drill])
	delete(ds.twins, drill)
	ds.order = slices.DeleteFunc(ds.order, func(d string) bool { return d == drill })
	w.e.drillm.forks.Sub(float64(n))
	w.e.log.Info("drill forks dropped", "drill", drill, "partition", w.partition, "twins", n)
}

// forgetDrills drops every fork (the worker stops).
func (w *worker) forgetDrills() {
	for len(w.drills.order) > 0 {
		w.dropDrill(w.drills.order[0])
	}
}

// applyDrill applies a drill event of one project to the project's fork in
// the drill.
func (w *worker) applyDrill(r *kgo.Record, ev *twin.Event) {
	w.noteDrillRecord(r, ev, true)
	p, err := w.drillFork(ev.Drill, ev.Project)
	if err != nil {
		w.e.log.Warn("drill event not applied", "drill", ev.Drill, "event", ev.ID, "err", err)
		w.e.drillm.rejected.Inc()
		return
	}
	w.applyToFork(p, ev)
	w.e.metrics.appliedOn(r.Topic).Inc()
}

// applyDrillCity applies a city-wide drill event to the drill's forks of
// every twin of the partition.
func (w *worker) applyDrillCity(r *kgo.Record, ev *twin.Event) {
	// every partition reads the city stream: the city partition's worker
	// counts the record
	w.noteDrillRecord(r, ev, w.partition == w.e.cityPartition())
	for _, id := range w.allTwins() {
		p, err := w.drillFork(ev.Drill, id)
		if err != nil {
			w.e.log.Warn("drill event not applied", "drill", ev.Drill, "event", ev.ID, "project", id, "err", err)
			w.e.drillm.rejected.Inc()
			continue
		}
		w.applyToFork(p, ev)
	}
	w.e.metrics.appliedOn(r.Topic).Inc()
}

// applyToFork applies a drill event to a fork: its alerts go to the alerts
// topic (they carry the drill), its outbound requests nowhere.
func (w *worker) applyToFork(p *twin.ProjectTwin, ev *twin.Event) {
	m := w.e.drillm
	// a drill runs in simulated time, ahead of the wall clock: the bound
	// on events from the future (Rules.MaxFuture) does not apply to it
	sim := *ev
	sim.Received = time.Time{}
	eff, err := w.e.cfg.Apply(p, &sim, w.e.cfg.Rules)
	if err != nil {
		m.rejected.Inc()
		w.e.log.Debug("drill event rejected by its fork", "drill", ev.Drill, "event", ev.ID, "project", p.ID, "err", err)
		return
	}
	m.applied.Inc()
	w.e.counters.drillEvents.Add(1)
	for i := range eff.Alerts {
		a := &eff.Alerts[i]
		a.Drill = ev.Drill
		b, _ := json.Marshal(a)
		w.produce(&kgo.Record{Topic: w.e.cfg.Topics.Alerts(), Partition: w.partition, Key: []byte(a.Project), Value: b})
	}
	if len(eff.Alerts) > 0 {
		s := w.seenDrill(ev.Drill)
		s.alerts = append(s.alerts, eff.Alerts...)
	}
	m.dropped.Add(float64(len(eff.Outbound)))
}
