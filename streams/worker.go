package streams

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// Record headers sitetwin reads and writes.
const (
	// HeaderError carries the reason a record was dead-lettered.
	HeaderError = "sitetwin-error"
	// HeaderSource names topic/partition@offset of the record a dead
	// letter or a forwarded record came from.
	HeaderSource = "sitetwin-source"
	// HeaderBroadcast marks a copy of a city-wide event made for one
	// partition; it is applied there and not copied again.
	HeaderBroadcast = "sitetwin-broadcast"
	// HeaderStateVersion is the format version of a twin-state record.
	HeaderStateVersion = "sitetwin-state-version"
	// StateVersion is the current twin-state format version.
	StateVersion = "1"
	// cityKey is the twin-state key of a partition's city-wide events. '~'
	// cannot occur in a project id.
	cityKey = "~city"
)

// cityState is what a partition remembers of city-wide events, so that a
// twin created later still learns of an active typhoon advisory or
// rainstorm signal: the latest event per kind, as received.
type cityState struct {
	Events map[string]json.RawMessage `json:"events"` // by "type" or "type/district"
	Order  []string                   `json:"order"`  // keys in order of arrival
}

// worker owns the twins of one partition number. Only its goroutine touches
// them; the engine talks to it through jobs.
type worker struct {
	e         *Engine
	partition int32
	twins     map[string]*twin.ProjectTwin
	city      cityState
	dirty     map[string]bool // changed since the last checkpoint
	cityDirty bool
	jobs      chan func()
	done      chan struct{}
}

func newWorker(e *Engine, p int32) *worker {
	return &worker{
		e: e, partition: p,
		twins: map[string]*twin.ProjectTwin{},
		city:  cityState{Events: map[string]json.RawMessage{}},
		dirty: map[string]bool{},
		jobs:  make(chan func(), 1),
		done:  make(chan struct{}),
	}
}

// run executes jobs until the job channel is closed.
func (w *worker) run() {
	defer close(w.done)
	for job := range w.jobs {
		job()
	}
}

// do runs fn on the worker's goroutine and waits for it.
func (w *worker) do(fn func()) {
	finished := make(chan struct{})
	w.jobs <- func() { fn(); close(finished) }
	<-finished
}

// stop ends the worker's goroutine and waits for it.
func (w *worker) stop() {
	close(w.jobs)
	<-w.done
}

// batchResult is what applying a batch produced for the store.
type batchResult struct {
	views  []*twin.ProjectView
	alerts []twin.Alert
}

// process applies records of this partition in order. It runs on the
// worker's goroutine.
func (w *worker) process(recs []*kgo.Record) batchResult {
	touched := map[string]bool{}
	var res batchResult
	for _, r := range recs {
		w.processOne(r, touched, &res)
	}
	for _, id := range sortedIDs(touched) {
		res.views = append(res.views, w.twins[id].View())
	}
	return res
}

func (w *worker) processOne(r *kgo.Record, touched map[string]bool, res *batchResult) {
	e, m := w.e, w.e.metrics
	ev, err := twin.Decode(r.Value)
	if err != nil {
		class := "invalid"
		if errors.Is(err, twin.ErrMalformed) {
			class = "malformed"
		}
		w.deadLetter(r, class, "decode: "+err.Error())
		return
	}
	if want := e.cfg.Topics.ForType(ev.Type); want != r.Topic {
		w.deadLetter(r, "wrong_topic", fmt.Sprintf("event type %s belongs on topic %s, not %s", ev.Type, want, r.Topic))
		return
	}
	if ev.Project == twin.CityWide {
		if !hasHeader(r, HeaderBroadcast) {
			w.broadcast(r)
		}
		w.applyCity(r, ev, touched, res)
		return
	}
	if owner := Partition(ev.Project, e.partitions); owner != w.partition {
		w.forward(r, ev.Project, owner)
		return
	}
	p := w.twinFor(ev.Project, touched, res)
	if err := w.apply(p, ev, res); err != nil {
		w.deadLetter(r, "rejected", err.Error())
		return
	}
	touched[p.ID] = true
	m.applied.WithLabelValues(r.Topic).Inc()
	e.counters.events.Add(1)
}

// twinFor returns the twin of a project, creating it (and telling it the
// active city-wide events) when it is new.
func (w *worker) twinFor(id string, touched map[string]bool, res *batchResult) *twin.ProjectTwin {
	if p, ok := w.twins[id]; ok {
		return p
	}
	p := twin.NewProject(id, w.e.cfg.Rules)
	w.twins[id] = p
	w.dirty[id] = true
	touched[id] = true
	for _, k := range w.city.Order {
		raw := w.city.Events[k]
		ev, err := twin.Decode(raw)
		if err != nil {
			// stored only after it decoded once; a changed build that no
			// longer accepts it is worth a log line, not a crash
			w.e.log.Warn("city event no longer decodes", "key", k, "err", err)
			continue
		}
		if err := w.apply(p, ev, res); err != nil {
			w.e.log.Warn("city event rejected by new twin", "project", id, "key", k, "err", err)
		}
	}
	return p
}

func (w *worker) apply(p *twin.ProjectTwin, ev *twin.Event, res *batchResult) error {
	eff, err := twin.Apply(p, ev, w.e.cfg.Rules)
	if err != nil {
		return err
	}
	m := w.e.metrics
	if eff.Duplicate {
		m.duplicates.Inc()
		return nil
	}
	w.dirty[p.ID] = true
	if eff.Late {
		m.late.Inc()
	}
	for i := range eff.Alerts {
		a := &eff.Alerts[i]
		b, _ := json.Marshal(a)
		w.produce(&kgo.Record{Topic: w.e.cfg.Topics.Alerts(), Partition: w.partition, Key: []byte(a.Project), Value: b})
		m.alerts.WithLabelValues(a.Change).Inc()
	}
	res.alerts = append(res.alerts, eff.Alerts...)
	for i := range eff.Outbound {
		o := &eff.Outbound[i]
		b, _ := json.Marshal(o)
		w.produce(&kgo.Record{Topic: w.e.cfg.Topics.Outbox(), Partition: w.partition, Key: []byte(o.Key), Value: b})
	}
	return nil
}

// applyCity applies a city-wide event to every twin of the partition and
// remembers it for twins created later.
func (w *worker) applyCity(r *kgo.Record, ev *twin.Event, touched map[string]bool, res *batchResult) {
	key := ev.Type
	if d, ok := ev.Data.(*twin.RainfallWarning); ok && d.District != "" {
		key += "/" + d.District
	}
	if _, ok := w.city.Events[key]; !ok {
		w.city.Order = append(w.city.Order, key)
	} else {
		i := slices.Index(w.city.Order, key)
		w.city.Order = append(slices.Delete(w.city.Order, i, i+1), key)
	}
	w.city.Events[key] = slices.Clone(r.Value)
	w.cityDirty = true
	for _, id := range sortedIDs(w.twins) {
		p := w.twins[id]
		if err := w.apply(p, ev, res); err != nil {
			w.e.log.Warn("city event rejected", "project", id, "event", ev.ID, "err", err)
			continue
		}
		touched[id] = true
	}
	w.e.metrics.applied.WithLabelValues(r.Topic).Inc()
	w.e.counters.events.Add(1)
}

// broadcast copies a city-wide record to every other partition of its topic.
func (w *worker) broadcast(r *kgo.Record) {
	for q := int32(0); q < w.e.partitions; q++ {
		if q == w.partition {
			continue
		}
		c := copyRecord(r, r.Topic, q, r.Key)
		c.Headers = append(c.Headers, kgo.RecordHeader{Key: HeaderBroadcast, Value: []byte(strconv.Itoa(int(w.partition)))})
		w.produce(c)
		w.e.metrics.forwarded.Inc()
	}
}

// forward re-produces a record to the partition that owns its project,
// keyed by the project id.
func (w *worker) forward(r *kgo.Record, project string, owner int32) {
	c := copyRecord(r, r.Topic, owner, []byte(project))
	c.Headers = append(c.Headers, kgo.RecordHeader{Key: HeaderSource, Value: []byte(source(r))})
	w.produce(c)
	w.e.metrics.forwarded.Inc()
}

// deadLetter writes a record, unchanged, to the dead-letter topic with the
// reason and its origin in headers.
func (w *worker) deadLetter(r *kgo.Record, class, reason string) {
	c := copyRecord(r, w.e.cfg.Topics.DeadLetter(), w.partition, r.Key)
	c.Headers = append(c.Headers,
		kgo.RecordHeader{Key: HeaderError, Value: []byte(reason)},
		kgo.RecordHeader{Key: HeaderSource, Value: []byte(source(r))},
	)
	w.produce(c)
	w.e.metrics.deadLettered.WithLabelValues(class).Inc()
	w.e.logDeadLetter(r, reason)
}

// produce writes an output record. Outputs use the engine's output context,
// not the poll loop's: a stop must not cancel records already decided on;
// the final checkpoint flushes them.
func (w *worker) produce(r *kgo.Record) {
	w.e.client.Produce(w.e.outCtx, r, w.e.promise)
}

// checkpoint produces snapshots of the twins changed since the last one.
// It runs on the worker's goroutine; the engine flushes and commits.
func (w *worker) checkpoint() {
	for _, id := range sortedIDs(w.dirty) {
		p, ok := w.twins[id]
		if !ok {
			continue
		}
		b, err := json.Marshal(p)
		if err != nil {
			w.e.log.Error("snapshot twin", "project", id, "err", err)
			continue
		}
		w.produce(w.stateRecord(id, b))
	}
	if w.cityDirty {
		b, _ := json.Marshal(w.city)
		w.produce(w.stateRecord(cityKey, b))
	}
	clear(w.dirty)
	w.cityDirty = false
}

func (w *worker) stateRecord(key string, value []byte) *kgo.Record {
	return &kgo.Record{
		Topic: w.e.cfg.Topics.State(), Partition: w.partition, Key: []byte(key), Value: value,
		Headers: []kgo.RecordHeader{{Key: HeaderStateVersion, Value: []byte(StateVersion)}},
	}
}

// errBadSnapshot is wrapped by restore when a changelog record does not
// decode: retrying cannot help.
var errBadSnapshot = errors.New("bad twin snapshot")

// restore loads one twin-state record; a record with no value deletes.
func (w *worker) restore(r *kgo.Record) error {
	key := string(r.Key)
	if key == cityKey {
		var c cityState
		if err := json.Unmarshal(r.Value, &c); err != nil {
			return fmt.Errorf("%w: city state of partition %d at %s: %v", errBadSnapshot, w.partition, source(r), err)
		}
		if c.Events == nil {
			c.Events = map[string]json.RawMessage{}
		}
		w.city = c
		return nil
	}
	if r.Value == nil {
		delete(w.twins, key)
		return nil
	}
	var p twin.ProjectTwin
	if err := json.Unmarshal(r.Value, &p); err != nil {
		return fmt.Errorf("%w: twin %s at %s: %v", errBadSnapshot, key, source(r), err)
	}
	w.twins[key] = &p
	return nil
}

func copyRecord(r *kgo.Record, topic string, partition int32, key []byte) *kgo.Record {
	return &kgo.Record{
		Topic: topic, Partition: partition, Key: key, Value: r.Value,
		Headers: slices.Clone(r.Headers), Timestamp: r.Timestamp,
	}
}

func source(r *kgo.Record) string {
	return fmt.Sprintf("%s/%d@%d", r.Topic, r.Partition, r.Offset)
}

func hasHeader(r *kgo.Record, key string) bool {
	for _, h := range r.Headers {
		if h.Key == key {
			return true
		}
	}
	return false
}

func sortedIDs[V any](m map[string]V) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
