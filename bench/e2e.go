package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// The e2e scenario: the simulated city's bootstrap is produced and applied
// first (not timed), then N live events of its default mix, encoded as
// CloudEvent JSON beforehand, are produced (at --rate, or as fast as the
// producer can) while the engine consumes, applies and checkpoints them.
// It reports the events/s sustained from the first live produce until the
// engine has applied the last one, and the latency from each record's
// produce (its Kafka timestamp, set by the producer, in milliseconds) to
// its application and to the commit of its checkpoint (when its effects
// become visible: the store, read-committed consumers).

// liveRate is the simulated city's rate of live events per second of event
// time, as in the apply and decode scenarios (sitetwin run's default); the
// produce rate is --rate.
const liveRate = 100

// e2eFlags are the flags e2e and compare share.
type e2eFlags struct {
	events, projects, partitions int
	rate                         float64
	broker                       string
	results                      string
}

func (f *e2eFlags) register(fs interface {
	IntVar(*int, string, int, string)
	Float64Var(*float64, string, float64, string)
	StringVar(*string, string, string, string)
}, events int) {
	fs.IntVar(&f.events, "events", events, "live events produced after the bootstrap")
	fs.IntVar(&f.projects, "projects", 300, "projects of the simulated city")
	fs.IntVar(&f.partitions, "partitions", 6, "partitions of the topics")
	fs.Float64Var(&f.rate, "rate", 0, "live events per second the producer aims at (0: as fast as it can)")
	fs.StringVar(&f.broker, "broker", "inproc", "inproc: the embedded broker in this process; process: `sitetwin broker` as a separate OS process")
	fs.StringVar(&f.results, "results", "bench/RESULTS.md", "append the figures to this file (empty: do not)")
}

func (f *e2eFlags) check() error {
	switch {
	case f.events < 1 || f.projects < 1 || f.projects > citysim.MaxProjects:
		return fmt.Errorf("--events must be at least 1 and --projects from 1 to %d", citysim.MaxProjects)
	case f.partitions < 1 || f.partitions > 1000:
		return errors.New("--partitions must be from 1 to 1000")
	case f.rate < 0:
		return errors.New("--rate must not be negative")
	case f.broker != "inproc" && f.broker != "process":
		return fmt.Errorf("--broker must be inproc or process, not %q", f.broker)
	}
	return nil
}

// setUp encodes the workload the flags ask for and starts the broker;
// stop stops the broker.
func (f *e2eFlags) setUp(ctx context.Context, out io.Writer) (w *workload, addr string, stop func(), err error) {
	w, err = newWorkload(f.projects, f.events, int32(f.partitions))
	if err != nil {
		return nil, "", nil, err
	}
	fmt.Fprintf(out, "%d bootstrap and %d live events of %d projects encoded (%.0f MB)\n", len(w.boot), len(w.live), f.projects, float64(w.bytes)/1e6)
	addr, stop, err = startBenchBroker(ctx, f.broker, f.partitions, out)
	if err != nil {
		return nil, "", nil, err
	}
	return w, addr, stop, nil
}

func (f *e2eFlags) rateText() string {
	if f.rate == 0 {
		return "as fast as the producer can"
	}
	return fmt.Sprintf("%.0f events/s", f.rate)
}

func e2eScenario(ctx context.Context, args []string, out io.Writer) error {
	fs := flagSet("e2e")
	var f e2eFlags
	f.register(fs, 1000000)
	exactlyOnce := fs.Bool("exactly-once", true, "the engine commits each checkpoint in a Kafka transaction (false: flush outputs, then commit offsets)")
	views := fs.Duration("view-every", 0, "the engine hands its store the changed twins' views this often, before their checkpoint commits (0: at each commit)")
	checkpoint := fs.Duration("checkpoint", 0, "the engine's checkpoint interval (0: its default, "+streams.DefaultCheckpointInterval.String()+")")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the live phase to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	if *views < 0 || *checkpoint < 0 {
		return errors.New("--view-every and --checkpoint must not be negative")
	}
	w, addr, stop, err := f.setUp(ctx, out)
	if err != nil {
		return err
	}
	defer stop()
	mode := modeName(*exactlyOnce)
	fmt.Fprintf(out, "sitetwin, %s, broker %s at %s, producing %s ...\n", mode, f.broker, addr, f.rateText())
	load := loadAverage()
	run := engineRun{exactlyOnce: *exactlyOnce, views: *views, checkpoint: *checkpoint, profile: *profile}
	r, err := runSitetwin(ctx, addr, w, run, "e2e-"+shortMode(*exactlyOnce), f.rate, out)
	if err != nil {
		return err
	}
	var sb strings.Builder
	every := "checkpoint every " + streams.DefaultCheckpointInterval.String() + " (the default)"
	if *checkpoint > 0 {
		every = "checkpoint every " + checkpoint.String()
	}
	fmt.Fprintf(&sb, "Broker: %s. Produce rate: %s. %d projects, %d partitions, %s, models off. Load average at the start: %s.\n\n",
		brokerText(f.broker), f.rateText(), f.projects, f.partitions, every, load)
	e2eTable(&sb, []e2eResult{r})
	if l := r.applied[phaseLive]; len(l) > 0 {
		fmt.Fprintf(&sb, "\nProduce → applied by quantile: p50 %s, p90 %s, p95 %s, p99 %s, p99.9 %s.\n",
			msText(quantile(l, 0.5)), msText(quantile(l, 0.9)), msText(quantile(l, 0.95)), msText(quantile(l, 0.99)), msText(quantile(l, 0.999)))
	}
	fmt.Fprint(&sb, e2eNotes)
	fmt.Fprintf(out, "\n%s", sb.String())
	command := fmt.Sprintf("go run ./bench e2e --events %d --projects %d --partitions %d --rate %g --broker %s --exactly-once=%v", f.events, f.projects, f.partitions, f.rate, f.broker, *exactlyOnce)
	if *views > 0 {
		command += fmt.Sprintf(" --view-every %s", *views)
	}
	if *checkpoint > 0 {
		command += fmt.Sprintf(" --checkpoint %s", *checkpoint)
	}
	return appendResults(f.results, "e2e ("+mode+")", command, sb.String())
}

const e2eNotes = "\nLatency is from the producer's record timestamp (taken at the produce call, kept in milliseconds, so up to 1 ms is added) " +
	"to the worker's application of the record, and to the commit of its checkpoint (when the store and read-committed consumers see its effects). " +
	"Events/s: live events over the time from the first live produce to the application of the last. " +
	"Producer, engine and broker share the machine, a shared one on which other work was running, so the figures vary from run to run.\n"

// loadAverage returns the machine's load averages (1, 5, 15 minutes): on
// a shared machine, what else was running.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func modeName(exactlyOnce bool) string {
	if exactlyOnce {
		return "exactly-once"
	}
	return "at-least-once"
}

func shortMode(exactlyOnce bool) string {
	if exactlyOnce {
		return "eos"
	}
	return "alo"
}

func brokerText(kind string) string {
	if kind == "process" {
		return "`sitetwin broker` as a separate process (in memory)"
	}
	return "embedded (kfake) in the bench process"
}

// e2eTable writes the results as a markdown table.
func e2eTable(w io.Writer, rs []e2eResult) {
	fmt.Fprintf(w, "| contender | live events | events/s sustained | produced events/s | produce → applied p50 | p99 | max | produce → committed p50 | p99 | checkpoints (aborted) | wait per checkpoint: encode + commit + publish |\n")
	fmt.Fprintf(w, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rs {
		a, c := r.applied[phaseLive], r.committed[phaseLive]
		wait := "–"
		if n := r.commits + r.aborts; n > 0 && r.encode+r.commit > 0 {
			wait = msText(r.encode/time.Duration(n)) + " + " + msText(r.commit/time.Duration(n))
			if r.commits > 0 {
				wait += " + " + msText(r.publish/time.Duration(r.commits))
			}
		}
		fmt.Fprintf(w, "| %s | %d | **%.0f** | %.0f | %s | **%s** | %s | %s | %s | %d (%d) | %s |\n", r.name, r.events, r.eventsPerS(),
			float64(r.events)/r.produceTook.Seconds(), msText(quantile(a, 0.5)), msText(quantile(a, 0.99)), msText(quantile(a, 1)),
			msText(quantile(c, 0.5)), msText(quantile(c, 0.99)), r.commits, r.aborts, wait)
	}
}

func msText(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + " ms"
}

// quantile returns the q-quantile of sorted durations (0 when there are none).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// workload is the simulated city's events, encoded, with their place.
type workload struct {
	boot, live []encoded
	bytes      int64
	partitions int32
}

// encoded is one event as a record: the index of its stream (its input
// topic, in the order of twin.Streams), its partition, key and value.
type encoded struct {
	stream    int
	partition int32
	key       []byte
	value     []byte
	city      bool // a city-wide event: every partition applies it
}

// newWorkload encodes the simulated city's bootstrap, registry events
// first (the engine dead-letters events of a project not registered yet,
// and merges its topics over what is in the log only), and its first n
// live events. Every event is keyed by its project and placed on the
// partition Kafka's default partitioner gives that key.
func newWorkload(projects, n int, partitions int32) (*workload, error) {
	city, err := citysim.New(citysim.Config{Projects: projects, Seed: 1, Start: benchStart, Rate: liveRate})
	if err != nil {
		return nil, err
	}
	w := &workload{partitions: partitions}
	enc := func(e *twin.Event) (encoded, error) {
		b, err := twin.Encode(e)
		if err != nil {
			return encoded{}, fmt.Errorf("encode %s: %w", e.ID, err)
		}
		i := slices.Index(twin.Streams(), twin.StreamOf(e.Type))
		if i < 0 {
			return encoded{}, fmt.Errorf("event %s: no stream for type %q", e.ID, e.Type)
		}
		w.bytes += int64(len(b))
		return encoded{stream: i, partition: streams.Partition(e.Project, partitions), key: []byte(e.Project), value: b, city: e.Project == twin.CityWide}, nil
	}
	boot := city.Bootstrap()
	registry, rest := citysim.SplitRegistry(boot)
	for _, e := range append(registry, rest...) {
		r, err := enc(e)
		if err != nil {
			return nil, err
		}
		w.boot = append(w.boot, r)
	}
	w.live = make([]encoded, 0, n)
	for range n {
		e := city.Next()
		if e == nil {
			return nil, errors.New("the simulated city stopped before the requested events")
		}
		r, err := enc(e)
		if err != nil {
			return nil, err
		}
		w.live = append(w.live, r)
	}
	return w, nil
}

// registryCount returns how many bootstrap events lead it (the registry's).
func (w *workload) registryCount() int {
	reg := slices.Index(twin.Streams(), twin.StreamRegistry)
	n := 0
	for n < len(w.boot) && w.boot[n].stream == reg {
		n++
	}
	return n
}

// applications returns how many times the engine applies the records: a
// city-wide one once per partition.
func applications(recs []encoded, partitions int32) int64 {
	var n int64
	for _, r := range recs {
		if r.city {
			n += int64(partitions)
		} else {
			n++
		}
	}
	return n
}

// producer produces workload records to the input topics of a prefix.
type producer struct {
	cl     *kgo.Client
	topics []string // by stream index
	failed atomic.Pointer[error]
}

func newProducer(addr string, topics streams.Topics) (*producer, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ClientID("bench-producer"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return &producer{cl: cl, topics: topics.Inputs()}, nil
}

func (p *producer) close() { p.cl.Close() }

// produce produces the records, paced at rate per second (0: as fast as
// the client takes them), and waits until all are acknowledged. It returns
// when it began. Each record's timestamp is taken by the client at its
// produce call.
func (p *producer) produce(ctx context.Context, recs []encoded, rate float64) (time.Time, error) {
	chunk := max(1, int(rate/1000)) // pace about every millisecond
	start := time.Now()
	for i, r := range recs {
		if rate > 0 && i%chunk == 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d) // pacing the producer, not waiting for a result
			}
		}
		p.cl.Produce(ctx, &kgo.Record{Topic: p.topics[r.stream], Partition: r.partition, Key: r.key, Value: r.value}, p.promise)
	}
	if err := p.cl.Flush(ctx); err != nil {
		return start, fmt.Errorf("producer flush: %w", err)
	}
	if err := p.failed.Load(); err != nil {
		return start, fmt.Errorf("produce: %w", *err)
	}
	return start, nil
}

func (p *producer) promise(_ *kgo.Record, err error) {
	if err != nil {
		p.failed.CompareAndSwap(nil, &err)
	}
}

// The phases of a run: the bootstrap, then the live events.
const (
	phaseBoot = iota
	phaseLive
)

// e2eResult is what one contender's run measured.
type e2eResult struct {
	name        string
	events      int           // live events
	took        time.Duration // first live produce → the last applied
	produceTook time.Duration // first live produce → all acknowledged
	// sorted latencies by phase: produce → applied, produce → committed
	applied, committed [2][]time.Duration
	commits, aborts    int64
	// the engine's waits at the live phase's checkpoints, in all (none
	// known for the peer)
	encode, commit, publish time.Duration
}

func (r e2eResult) eventsPerS() float64 { return float64(r.events) / r.took.Seconds() }

// all returns the produce → applied latencies of both phases, sorted.
func (r e2eResult) all() []time.Duration {
	out := append(slices.Clone(r.applied[phaseBoot]), r.applied[phaseLive]...)
	slices.Sort(out)
	return out
}

// hookStats collects what the engine's Applied and Committed hooks report.
type hookStats struct {
	phase  atomic.Int32
	count  atomic.Int64
	want   atomic.Int64
	shards []hookShard // by record partition

	mu        sync.Mutex // guards what follows
	applied   chan struct{}
	appliedAt time.Time
	commit    chan struct{}
	commitAt  time.Time
}

type hookShard struct {
	mu        sync.Mutex
	applied   [2][]time.Duration
	committed [2][]time.Duration
	pending   []pendingRecord // applied, not yet committed
	_         [64]byte        // keep shards off each other's cache lines
}

type pendingRecord struct {
	ts    time.Time
	phase int32
}

func newHookStats(partitions int32) *hookStats {
	return &hookStats{shards: make([]hookShard, partitions)}
}

// begin starts a phase that ends once want records are applied (and then
// committed); call it while the engine has nothing left to apply.
func (h *hookStats) begin(phase int32, want int64) (applied, committed <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.applied, h.commit = make(chan struct{}), make(chan struct{})
	h.appliedAt, h.commitAt = time.Time{}, time.Time{}
	h.count.Store(0)
	h.want.Store(want)
	h.phase.Store(phase)
	return h.applied, h.commit
}

// onApplied is the engine's Applied hook.
func (h *hookStats) onApplied(r *kgo.Record, at time.Time) {
	ph := h.phase.Load()
	s := &h.shards[int(r.Partition)%len(h.shards)]
	s.mu.Lock()
	s.applied[ph] = append(s.applied[ph], at.Sub(r.Timestamp))
	s.pending = append(s.pending, pendingRecord{r.Timestamp, ph})
	s.mu.Unlock()
	if h.count.Add(1) == h.want.Load() {
		h.mu.Lock()
		h.appliedAt = at
		close(h.applied)
		h.mu.Unlock()
	}
}

// onCommitted is the engine's Committed hook: every record applied so far
// is committed.
func (h *hookStats) onCommitted(at time.Time) {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		for _, p := range s.pending {
			s.committed[p.phase] = append(s.committed[p.phase], at.Sub(p.ts))
		}
		s.pending = s.pending[:0]
		s.mu.Unlock()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.count.Load() >= h.want.Load() && h.commit != nil && h.commitAt.IsZero() {
		h.commitAt = at
		close(h.commit)
	}
}

func (h *hookStats) times() (applied, committed time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.appliedAt, h.commitAt
}

// latencies returns the sorted latencies of both phases.
func (h *hookStats) latencies() (applied, committed [2][]time.Duration) {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.Lock()
		for ph := range 2 {
			applied[ph] = append(applied[ph], s.applied[ph]...)
			committed[ph] = append(committed[ph], s.committed[ph]...)
		}
		s.mu.Unlock()
	}
	for ph := range 2 {
		slices.Sort(applied[ph])
		slices.Sort(committed[ph])
	}
	return applied, committed
}

// waitPhase waits until the phase's records are applied and committed,
// or the deadline passes, or the engine stops (done closed).
func waitPhase(applied, committed, done <-chan struct{}, deadline time.Duration, what string, progress func() string) error {
	t := time.NewTimer(deadline)
	defer t.Stop()
	for _, ch := range []<-chan struct{}{applied, committed} {
		select {
		case <-ch:
		case <-done:
			return fmt.Errorf("the engine stopped during %s", what)
		case <-t.C:
			return fmt.Errorf("%s not done after %s (%s)", what, deadline, progress())
		}
	}
	return nil
}

// engineRun is how runSitetwin configures the engine.
type engineRun struct {
	exactlyOnce bool
	views       time.Duration // EngineConfig.ViewInterval
	checkpoint  time.Duration // EngineConfig.CheckpointInterval (0: the default)
	profile     string        // a CPU profile of the live phase goes here ("": none)
}

// runSitetwin runs the engine on fresh topics of the prefix: it produces
// the bootstrap and waits until it is applied and committed, then produces
// the live events and waits until they are.
func runSitetwin(ctx context.Context, addr string, w *workload, run engineRun, prefix string, rate float64, out io.Writer) (res e2eResult, err error) {
	exactlyOnce, views, profile := run.exactlyOnce, run.views, run.profile
	res = e2eResult{name: "sitetwin, " + modeName(exactlyOnce), events: len(w.live)}
	if views > 0 {
		res.name += ", views every " + views.String()
	}
	if run.checkpoint > 0 {
		res.name += ", checkpoint every " + run.checkpoint.String()
	}
	topics := streams.Topics{Prefix: prefix}
	hooks := newHookStats(w.partitions)
	eng, err := streams.NewEngine(streams.EngineConfig{
		Brokers: []string{addr}, Group: prefix, Instance: "bench", Topics: topics,
		TopicOptions: streams.TopicOptions{Partitions: w.partitions},
		AtLeastOnce:  !exactlyOnce, ViewInterval: views, CheckpointInterval: run.checkpoint,
		Applied: hooks.onApplied, Committed: hooks.onCommitted,
		Registerer: prometheus.NewRegistry(),
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var runErr error
	go func() { defer close(done); runErr = eng.Run(ctx) }()
	defer func() {
		cancel()
		<-done
		if runErr != nil && err == nil {
			err = fmt.Errorf("engine: %w", runErr)
		}
	}()
	select {
	case <-eng.Ready():
	case <-done:
		return res, errors.New("the engine stopped before it was ready")
	case <-time.After(2 * time.Minute):
		return res, errors.New("engine not ready after 2 minutes")
	}
	prod, err := newProducer(addr, topics)
	if err != nil {
		return res, err
	}
	defer prod.close()
	progress := func() string {
		st := eng.Stats()
		return fmt.Sprintf("%d of %d applied; engine: %d events, %d dead letters, lag %d, %d commits, %d aborts",
			hooks.count.Load(), hooks.want.Load(), st.Events, st.DeadLetters, st.Lag, st.Commits, st.Aborts)
	}

	// The bootstrap: the registry's events first, and the rest once they
	// are applied. (The engine merges a partition's topics by event time,
	// but a topic it has not fetched from yet counts as read to the end
	// it knew: records of the other topics could be applied before the
	// registrations and be dead-lettered.)
	reg := w.registryCount()
	for i, part := range [][]encoded{w.boot[:reg], w.boot[reg:]} {
		applied, committed := hooks.begin(phaseBoot, applications(part, w.partitions))
		if _, err := prod.produce(ctx, part, rate); err != nil {
			return res, err
		}
		what := []string{"the bootstrap's registrations", "the rest of the bootstrap"}[i]
		if err := waitPhase(applied, committed, done, 5*time.Minute, what, progress); err != nil {
			return res, err
		}
	}
	fmt.Fprintf(out, "  bootstrap of %d events applied and committed; producing %d live events ...\n", len(w.boot), len(w.live))

	st0 := eng.Stats()
	applied, committed := hooks.begin(phaseLive, applications(w.live, w.partitions))
	stopProfile, err := startProfile(profile)
	if err != nil {
		return res, err
	}
	t0, err := prod.produce(ctx, w.live, rate) // the engine applies them meanwhile
	if err != nil {
		stopProfile()
		return res, err
	}
	res.produceTook = time.Since(t0)
	limit := 10*time.Minute + time.Duration(len(w.live))*time.Millisecond
	err = waitPhase(applied, committed, done, limit, "the live events", progress)
	stopProfile()
	if err != nil {
		return res, err
	}
	appliedAt, _ := hooks.times()
	res.took = appliedAt.Sub(t0)
	st := eng.Stats()
	res.commits, res.aborts = st.Commits-st0.Commits, st.Aborts-st0.Aborts
	res.encode = time.Duration((st.CheckpointEncodeSeconds - st0.CheckpointEncodeSeconds) * float64(time.Second))
	res.commit = time.Duration((st.CheckpointCommitSeconds - st0.CheckpointCommitSeconds) * float64(time.Second))
	res.publish = time.Duration((st.CheckpointPublishSeconds - st0.CheckpointPublishSeconds) * float64(time.Second))
	cancel()
	<-done
	res.applied, res.committed = hooks.latencies()
	fmt.Fprintf(out, "  %s: %d live events in %s (%.0f events/s), p99 produce → applied %s\n", res.name, res.events,
		res.took.Round(time.Millisecond), res.eventsPerS(), msText(quantile(res.applied[phaseLive], 0.99)))
	return res, nil
}

// startBenchBroker starts the broker: embedded, or `sitetwin broker` built
// from ./cmd/sitetwin and run as a separate process. stop ends it.
func startBenchBroker(ctx context.Context, kind string, partitions int, out io.Writer) (addr string, stop func(), err error) {
	if kind == "inproc" {
		b, err := streams.NewBroker(streams.BrokerConfig{Listen: "127.0.0.1:0", Partitions: partitions})
		if err != nil {
			return "", nil, err
		}
		return b.Addr(), b.Close, nil
	}
	dir, err := os.MkdirTemp("", "sitetwin-bench-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	fmt.Fprintf(out, "building sitetwin into %s ...\n", dir)
	bin := filepath.Join(dir, "sitetwin")
	if err := goBuild(ctx, "", bin, "./cmd/sitetwin"); err != nil {
		cleanup()
		return "", nil, err
	}
	cmd := exec.Command(bin, "broker", "--listen", "127.0.0.1:0", "--data-dir", "", "--retention", "0",
		"--partitions", strconv.Itoa(partitions), "--log-format", "json")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		cleanup()
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("start sitetwin broker: %w", err)
	}
	exited := make(chan struct{})
	stop = func() {
		cmd.Process.Signal(os.Interrupt) //nolint:errcheck // it may have exited
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill() //nolint:errcheck // it may have exited meanwhile
			<-exited
		}
		cleanup()
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			var line struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if !sent && json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "kafka broker listening" {
				found <- line.Addr
				sent = true
				continue
			}
			fmt.Fprintf(os.Stderr, "sitetwin broker: %s\n", sc.Bytes())
		}
		cmd.Wait() //nolint:errcheck // the exit is reported by closing exited
		close(exited)
	}()
	select {
	case addr = <-found:
		fmt.Fprintf(out, "sitetwin broker running as process %d at %s\n", cmd.Process.Pid, addr)
		return addr, stop, nil
	case <-exited:
		cleanup()
		return "", nil, errors.New("sitetwin broker exited before it listened (its log is above)")
	case <-time.After(time.Minute):
		stop()
		return "", nil, errors.New("sitetwin broker did not say where it listens within a minute")
	}
}

// goBuild builds a Go package into bin, with dir as the working directory
// ("": the current one).
func goBuild(ctx context.Context, dir, bin, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = dir
	b, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s (in %q): %w\n%s", pkg, dir, err, b)
	}
	return nil
}
