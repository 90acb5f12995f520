package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"slices"
	"time"

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
	// HeaderBroadcast marks a copy of a city-wide event that earlier
	// versions made for each partition; such copies are ignored (every
	// partition reads the city stream, see city.go).
	HeaderBroadcast = "sitetwin-broadcast"
	// HeaderStateVersion is the format version of a twin-state record.
	HeaderStateVersion = "sitetwin-state-version"
	// StateVersion is the twin-state format version this build writes:
	// twins as binary snapshots (twin.ProjectTwin.AppendSnapshot), the
	// partition record as JSON. Version 1 wrote twins as JSON; both are
	// read (twin.DecodeSnapshot tells them apart by their first bytes).
	StateVersion = "2"
	// HeaderDrillEnd marks the last record of a drill, as the process
	// that runs the drill produces it (Publisher.PublishLast); its value
	// is the drill's id. Once the engine has applied it, the store shows
	// the drill as ended (DrillView.Ended).
	HeaderDrillEnd = "sitetwin-drill-end"
)

// cityState is what a partition remembers of city-wide events, so that a
// twin registered later still learns of an active typhoon advisory or
// rainstorm signal: the latest event per kind, as received.
type cityState struct {
	Events map[string]json.RawMessage `json:"events"` // by "type" or "type/district"
	Order  []string                   `json:"order"`  // keys in order of arrival
}

// buffered is a fetched input record waiting to be applied, decoded once.
type buffered struct {
	rec  *kgo.Record
	ev   *twin.Event
	err  error
	at   int64 // merge key: event time (Unix ns); math.MinInt64 for records that change no twin here
	skip bool  // nothing to do here: a city-wide event read from the city stream instead, or a project event on the city stream
}

// worker owns the twins of one partition number. Only its goroutine touches
// them; the engine talks to it through jobs.
//
// The records of a partition number come from several topics (registry,
// sensor, payment ...), fetched independently. The worker applies them in a
// deterministic order: by event time, then topic, then offset, taking the
// next record only when every topic either has a fetched record waiting or
// has been read to its last stable offset. So the same committed input gives
// the same twins and the same alerts however fetches were cut, and however
// often the process restarted. Records fetched but still waiting when a
// transaction commits are written to the changelog with the twins.
type worker struct {
	e         *Engine
	partition int32
	twins     map[string]*twin.ProjectTwin
	// raw holds restored snapshots not decoded yet: a twin is decoded when
	// an event needs it, or by the warm-up in the background (so a restore
	// costs the reading of the changelog, not the decoding of every twin).
	raw  map[string][]byte
	city cityState

	buf    [][]buffered // per input topic, in offset order
	polled []int64      // per input topic: offset after the last record fetched (-1 unknown)
	end    []int64      // per input topic: the last stable offset known

	dirty map[string]bool // twins changed since the last checkpoint
	snap  []byte          // room for encoding a snapshot, kept between checkpoints
	// bases are the snapshots last written whole of the twins changed at
	// the last checkpoint (a checkpoint writes such a twin as a delta from
	// its base, see delta.go), baseBytes what they hold, and deltas the
	// twins whose delta record stands in the changelog.
	bases     map[string]*deltaBase
	baseBytes int
	deltas    map[string]bool
	delta     []byte          // room for encoding a delta
	meta      bool            // city state or waiting records changed since then
	touched   map[string]bool // twins changed since the store last got their views
	alerts    []twin.Alert    // alerts since the last commit (for the store)
	poisoned  *poisonInfo     // set when Apply panicked; the engine aborts and restores
	cur       int64           // offset of the record being applied

	drills drillSpace // forks of the twins in drills (drill.go)

	due      map[dueKey]int64 // expensive model runs asked for, with the offset that asked
	inflight map[dueKey]bool  // expensive model runs on the pool

	jobs chan func()
	done chan struct{}
	// warm-up: ends with the worker
	warmStop context.CancelFunc
	warmDone chan struct{}
}

// poisonInfo names a record whose application panicked.
type poisonInfo struct {
	source string
	msg    string
}

func newWorker(e *Engine, p int32) *worker {
	n := len(e.inputs) + 1 // the input topics and the city stream
	w := &worker{
		e: e, partition: p,
		twins:    map[string]*twin.ProjectTwin{},
		raw:      map[string][]byte{},
		city:     cityState{Events: map[string]json.RawMessage{}},
		buf:      make([][]buffered, n),
		polled:   make([]int64, n),
		end:      make([]int64, n),
		dirty:    map[string]bool{},
		bases:    map[string]*deltaBase{},
		deltas:   map[string]bool{},
		touched:  map[string]bool{},
		due:      map[dueKey]int64{},
		inflight: map[dueKey]bool{},
		jobs:     make(chan func(), 1),
		done:     make(chan struct{}),
	}
	for i := range w.polled {
		w.polled[i], w.end[i] = -1, -1
	}
	return w
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

// stop ends the worker's goroutine (and its warm-up) and waits for them.
func (w *worker) stop() {
	if w.warmStop != nil {
		w.warmStop()
		<-w.warmDone
	}
	close(w.jobs)
	<-w.done
	w.e.warming.Add(-int64(len(w.raw)))
	w.forgetDrills()
}

// twin returns the twin of a project, decoding its restored snapshot if
// that has not happened yet.
func (w *worker) twin(id string) (*twin.ProjectTwin, bool) {
	if p, ok := w.twins[id]; ok {
		return p, true
	}
	b, ok := w.raw[id]
	if !ok {
		return nil, false
	}
	p, err := decodeTwin(id, b)
	if err != nil {
		// cannot happen for a snapshot this engine wrote; stopping is
		// better than applying events to a twin that is not the real one
		w.e.fail(fmt.Errorf("partition %d: %w", w.partition, err))
		return nil, false
	}
	w.install(p)
	return p, true
}

// install makes a decoded snapshot the live twin.
func (w *worker) install(p *twin.ProjectTwin) {
	w.twins[p.ID] = p
	delete(w.raw, p.ID)
	w.e.warming.Add(-1)
}

// allTwins decodes every restored snapshot and returns the twins' ids.
func (w *worker) allTwins() []string {
	for _, id := range sortedIDs(w.raw) {
		w.twin(id)
	}
	return sortedIDs(w.twins)
}

// decodeTwin decodes a twin's changelog snapshot, binary or JSON.
func decodeTwin(id string, b []byte) (*twin.ProjectTwin, error) {
	p, err := twin.DecodeSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("%w: twin %s: %v", errBadSnapshot, id, err)
	}
	return p, nil
}

// warm decodes the restored snapshots in the background, a chunk at a
// time, and installs them on the worker's goroutine (unless an event
// needed one first), publishing their views, until all are done or the
// worker stops.
func (w *worker) warm(ids []string) {
	ctx, cancel := context.WithCancel(context.Background())
	w.warmStop, w.warmDone = cancel, make(chan struct{})
	raw := make(map[string][]byte, len(ids))
	for _, id := range ids {
		raw[id] = w.raw[id] // read before the worker runs; the bytes are never modified
	}
	go func() {
		defer close(w.warmDone)
		const chunk = 256
		for len(ids) > 0 && ctx.Err() == nil {
			n := min(chunk, len(ids))
			decoded := make([]*twin.ProjectTwin, 0, n)
			for _, id := range ids[:n] {
				p, err := decodeTwin(id, raw[id])
				if err != nil {
					w.e.fail(fmt.Errorf("partition %d: %w", w.partition, err))
					return
				}
				decoded = append(decoded, p)
			}
			ids = ids[n:]
			job := func() {
				var views []*twin.ProjectView
				for _, p := range decoded {
					if _, pending := w.raw[p.ID]; pending {
						w.install(p)
						views = append(views, p.View())
					}
				}
				w.e.store.publish(views, nil)
			}
			select {
			case w.jobs <- job:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// fetched is what one poll brought for one input topic of a partition.
type fetched struct {
	topic int // index in Engine.inputs
	recs  []*kgo.Record
	lso   int64 // last stable offset reported by the fetch; -1 when none
}

// receive buffers fetched records (control records only move the position)
// and learns the topics' stable offsets.
func (w *worker) receive(fs []fetched) {
	for _, f := range fs {
		for _, r := range f.recs {
			if r.Offset < w.polled[f.topic] {
				continue // read before (the city feed restarts at the lowest position any worker needs)
			}
			w.polled[f.topic] = r.Offset + 1
			if r.Attrs.IsControl() {
				continue
			}
			w.buf[f.topic] = append(w.buf[f.topic], w.decode(r, f.topic == w.e.cityIdx()))
			w.meta = true
		}
		if f.lso > w.end[f.topic] {
			w.end[f.topic] = f.lso
		}
	}
}

// learnEnds raises the known stable offsets (from the engine's probe).
func (w *worker) learnEnds(ends []int64) {
	for i, e := range ends {
		if e > w.end[i] {
			w.end[i] = e
		}
	}
}

// decode decodes a record once and computes its merge key. A record of the
// city stream matters here only if it is a city-wide event; a city-wide
// event fetched from an input topic is read from the city stream instead
// (or, keyed so that it is not on the city partition, forwarded there).
func (w *worker) decode(r *kgo.Record, city bool) buffered {
	b := buffered{rec: r, at: math.MinInt64}
	b.ev, b.err = twin.Decode(r.Value)
	if b.err != nil {
		b.skip = city // the city partition's owner dead-letters it
		return b
	}
	b.ev.Received = r.Timestamp
	cityWide := b.ev.Project == twin.CityWide
	switch {
	case city:
		// anything else on the city partition is its owner's business
		b.skip = !cityWide || hasHeader(r, HeaderBroadcast) || w.e.cfg.Topics.ForType(b.ev.Type) != r.Topic
		if !b.skip {
			b.at = b.ev.Time.UnixNano()
		}
		return b
	case cityWide:
		// read from the city stream (or forwarded to the city partition);
		// copies made by earlier versions are ignored
		b.skip = r.Partition == w.e.cityPartition() && w.e.cfg.Topics.ForType(b.ev.Type) == r.Topic || hasHeader(r, HeaderBroadcast)
		return b
	}
	if w.e.cfg.Topics.ForType(b.ev.Type) == r.Topic && Partition(b.ev.Project, w.e.partitions) == w.partition {
		b.at = b.ev.Time.UnixNano()
	}
	return b
}

// buffered returns the number of records waiting.
func (w *worker) waiting() int {
	n := 0
	for _, b := range w.buf {
		n += len(b)
	}
	return n
}

// drain applies waiting records in merge order until a topic with nothing
// waiting may still hold an earlier record (it has not been read to its
// stable offset), or nothing waits, or a record poisoned the worker.
func (w *worker) drain() {
	for w.poisoned == nil {
		best := -1
		for i, b := range w.buf {
			if len(b) == 0 {
				if w.polled[i] < w.end[i] {
					return // records of this topic are still to come; they may be earlier
				}
				continue
			}
			if best < 0 || before(b[0], w.buf[best][0], i, best) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		next := w.buf[best][0]
		w.buf[best] = w.buf[best][1:]
		w.meta = true
		w.processOne(next)
	}
}

// before orders the heads of two topics: event time, then topic index (the
// order of twin.Streams: registry first), then offset.
func before(a, b buffered, ai, bi int) bool {
	if a.at != b.at {
		return a.at < b.at
	}
	if ai != bi {
		return ai < bi
	}
	return a.rec.Offset < b.rec.Offset
}

// processOne applies one record, or dead-letters or forwards it. A panic in
// Apply poisons the worker: the twin may be half changed, so the engine
// aborts the transaction, restores the partitions and dead-letters this
// record when it comes again.
func (w *worker) processOne(b buffered) {
	e, m, r := w.e, w.e.metrics, b.rec
	if b.skip {
		return
	}
	w.cur = r.Offset
	if msg, ok := e.poisonReason(r); ok {
		w.deadLetter(r, "panic", "applying this record panicked, so it was not applied: "+msg)
		return
	}
	if b.err != nil {
		class := "invalid"
		if errors.Is(b.err, twin.ErrMalformed) {
			class = "malformed"
		}
		w.deadLetter(r, class, "decode: "+b.err.Error())
		return
	}
	ev := b.ev
	if want := e.cfg.Topics.ForType(ev.Type); want != r.Topic {
		w.deadLetter(r, "wrong_topic", fmt.Sprintf("event type %s belongs on topic %s, not %s", ev.Type, want, r.Topic))
		return
	}
	defer func() {
		if v := recover(); v != nil {
			w.poisoned = &poisonInfo{source: source(r), msg: fmt.Sprintf("%v", v)}
			e.log.Error("apply panicked; the transaction will be aborted and the record dead-lettered",
				"source", source(r), "panic", v, "stack", string(debug.Stack()))
		}
	}()
	if ev.Project == twin.CityWide {
		if r.Partition == e.cityPartition() && r.Topic == e.cfg.Topics.Input(twin.StreamWeather) && b.at != math.MinInt64 {
			w.applyCity(r, ev) // from the city stream
			return
		}
		w.forward(r, twin.CityWide, e.cityPartition())
		return
	}
	if owner := Partition(ev.Project, e.partitions); owner != w.partition {
		w.forward(r, ev.Project, owner)
		return
	}
	if ev.Drill != "" {
		w.applyDrill(r, ev) // never to the real twin (drill.go)
		return
	}
	p, known := w.twin(ev.Project)
	if !known {
		p = twin.NewProject(ev.Project, e.cfg.Rules)
	}
	if err := w.apply(p, ev); err != nil {
		w.deadLetter(r, "rejected", err.Error())
		return
	}
	if !known {
		// a new twin (its registration): it learns the active city-wide events
		w.twins[p.ID] = p
		w.applyStoredCity(p)
	}
	m.appliedOn(r.Topic).Inc()
	e.counters.events.Add(1)
	if e.cfg.Applied != nil {
		e.cfg.Applied(r, time.Now())
	}
}

// apply applies an event to a twin and produces its outputs.
func (w *worker) apply(p *twin.ProjectTwin, ev *twin.Event) error {
	eff, err := w.e.cfg.Apply(p, ev, w.e.cfg.Rules)
	if err != nil {
		return err
	}
	// Even a duplicate changes the twin: it counts it (Duplicates). The
	// checkpoint that commits the record as consumed must hold the twin,
	// or the count of a twin whose only records in a checkpoint are
	// duplicates stays in memory alone: the changelog (and a dump of it)
	// lacks it, and a restart, which does not read the record again,
	// loses it.
	w.dirty[p.ID] = true
	w.touched[p.ID] = true
	m := w.e.metrics
	if eff.Duplicate {
		m.duplicates.Inc()
		return nil
	}
	if eff.Late {
		m.late.Inc()
	}
	defer w.trigger(p, ev, eff)
	for i := range eff.Alerts {
		a := &eff.Alerts[i]
		b, _ := json.Marshal(a)
		w.produce(&kgo.Record{Topic: w.e.cfg.Topics.Alerts(), Partition: w.partition, Key: []byte(a.Project), Value: b})
	}
	w.alerts = append(w.alerts, eff.Alerts...)
	for i := range eff.Outbound {
		o := &eff.Outbound[i]
		b, _ := json.Marshal(o)
		w.produce(&kgo.Record{Topic: w.e.cfg.Topics.Outbox(), Partition: w.partition, Key: []byte(o.Key), Value: b})
	}
	return nil
}

// applyCity applies a city-wide event to every twin of the partition and
// remembers it for twins registered later.
func (w *worker) applyCity(r *kgo.Record, ev *twin.Event) {
	if ev.Drill != "" {
		w.applyDrillCity(r, ev) // neither the real twins nor the city state (drill.go)
		return
	}
	key := twin.CityKey(ev)
	if i := slices.Index(w.city.Order, key); i >= 0 {
		w.city.Order = slices.Delete(w.city.Order, i, i+1)
	}
	w.city.Order = append(w.city.Order, key)
	w.city.Events[key] = slices.Clone(r.Value)
	w.meta = true
	for _, id := range w.allTwins() {
		if err := w.apply(w.twins[id], ev); err != nil {
			w.e.log.Warn("city event rejected", "project", id, "event", ev.ID, "err", err)
		}
	}
	w.e.metrics.appliedOn(r.Topic).Inc()
	w.e.counters.events.Add(1)
	if w.e.cfg.Applied != nil {
		w.e.cfg.Applied(r, time.Now())
	}
}

// applyStoredCity tells a newly registered twin the active city-wide events.
func (w *worker) applyStoredCity(p *twin.ProjectTwin) {
	for _, k := range w.city.Order {
		ev, err := twin.Decode(w.city.Events[k])
		if err != nil {
			// stored only after it decoded once; a build that no longer
			// accepts it is worth a log line, not a crash
			w.e.log.Warn("stored city event no longer decodes", "key", k, "err", err)
			continue
		}
		if err := w.apply(p, ev); err != nil {
			w.e.log.Warn("stored city event rejected by a new twin", "project", p.ID, "key", k, "err", err)
		}
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

// produce writes an output record in the open transaction.
func (w *worker) produce(r *kgo.Record) { w.e.produce(r) }

// maxBaseBytes bounds the bases a worker keeps for deltas; twins past it
// are written whole.
const maxBaseBytes = 64 << 20

// checkpoint produces the snapshots of the twins changed since the last
// checkpoint, and the partition record, into the open transaction. A twin
// that also changed at the last checkpoint is written as a delta from its
// base when the delta is at most half its snapshot (delta.go).
func (w *worker) checkpoint() {
	for _, id := range sortedIDs(w.dirty) {
		p, ok := w.twins[id]
		if !ok {
			continue
		}
		var err error
		w.snap, err = p.AppendSnapshot(w.snap[:0])
		if err != nil {
			// A twin that cannot be written cannot be checkpointed: the
			// engine must not commit past it.
			w.e.produceFailed(fmt.Errorf("snapshot twin %s: %w", id, err))
			continue
		}
		if base := w.bases[id]; base != nil {
			w.delta = base.appendDelta(w.delta[:0], w.snap)
			if len(w.delta) <= len(w.snap)/2 {
				w.produce(w.stateRecord(id+deltaSuffix, bytes.Clone(w.delta)))
				w.deltas[id] = true
				continue
			}
			w.baseBytes -= base.size()
			delete(w.bases, id)
		}
		full := bytes.Clone(w.snap)
		w.produce(w.stateRecord(id, full))
		if w.deltas[id] {
			// the delta was taken from the base this one replaces
			w.produce(w.stateRecord(id+deltaSuffix, nil))
			delete(w.deltas, id)
		}
		if w.baseBytes+len(full) <= maxBaseBytes {
			b := newDeltaBase(full)
			w.bases[id] = b
			w.baseBytes += b.size()
		}
	}
	// a twin that did not change since the last checkpoint gives its base
	// back: it is written whole when it changes again
	for id, b := range w.bases {
		if !w.dirty[id] {
			w.baseBytes -= b.size()
			delete(w.bases, id)
		}
	}
	if w.meta {
		// The waiting records of a topic are the last ones fetched from it
		// (drain takes them from the front): their offsets say which.
		meta := partitionRecord{Version: 1, City: w.city}
		for i, b := range w.buf[:w.e.cityIdx()] {
			if len(b) > 0 {
				meta.Waiting = append(meta.Waiting, waitingRange{Topic: w.e.inputs[i], From: b[0].rec.Offset, To: w.polled[i], Records: len(b)})
			}
		}
		// the city stream resumes at its first record not yet applied
		next := w.polled[w.e.cityIdx()]
		if b := w.buf[w.e.cityIdx()]; len(b) > 0 {
			next = b[0].rec.Offset
		}
		meta.CityNext = &next
		b, _ := json.Marshal(meta)
		w.produce(w.stateRecord(partitionKey, b))
	}
	clear(w.dirty)
	w.meta = false
}

// committed hands the views of the twins changed since the store last got
// their views and the alerts raised since the last commit, now that the
// commit made them final.
func (w *worker) committed() batchResult {
	res := batchResult{views: w.takeViews(), alerts: w.alerts, drills: w.committedDrills()}
	w.alerts = nil
	return res
}

// takeViews returns the views of the twins changed since the store last
// got their views (at a commit, or sooner with ViewInterval), in order of
// id.
func (w *worker) takeViews() []*twin.ProjectView {
	var views []*twin.ProjectView
	for _, id := range sortedIDs(w.touched) {
		if p, ok := w.twins[id]; ok {
			views = append(views, p.View())
		}
	}
	clear(w.touched)
	return views
}

func (w *worker) stateRecord(key string, value []byte) *kgo.Record {
	return &kgo.Record{
		Topic: w.e.cfg.Topics.State(), Partition: w.partition, Key: []byte(key), Value: value,
		Headers: []kgo.RecordHeader{{Key: HeaderStateVersion, Value: []byte(StateVersion)}},
	}
}

// load fills a new worker from its changelog partition: its twins, its
// partition record and the waiting records that record names, read again
// from their topics (its positions are set by the caller).
func (w *worker) load(cp *ChangelogPartition, meta *partitionRecord, waiting map[string][]*kgo.Record) error {
	for id, b := range cp.Twins {
		w.raw[id] = b
	}
	for id := range cp.Deltas {
		w.deltas[id] = true
	}
	w.e.warming.Add(int64(len(w.raw)))
	w.city = meta.City
	for _, s := range meta.Pending {
		i := w.e.inputIndex(s.Topic)
		if i < 0 {
			return fmt.Errorf("%w: partition %d waits on a record of unknown topic %s", errBadSnapshot, w.partition, s.Topic)
		}
		w.buf[i] = append(w.buf[i], w.decode(s.record(), false))
	}
	for _, r := range meta.Waiting {
		i := w.e.inputIndex(r.Topic)
		if i < 0 {
			return fmt.Errorf("%w: partition %d waits on records of unknown topic %s", errBadSnapshot, w.partition, r.Topic)
		}
		for _, rec := range waiting[r.Topic] {
			w.buf[i] = append(w.buf[i], w.decode(rec, false))
		}
	}
	return nil
}

// batchResult is what a commit made final, for the store.
type batchResult struct {
	views  []*twin.ProjectView
	alerts []twin.Alert
	drills []drillBatch // what changed in drills (drill.go)
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
