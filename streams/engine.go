package streams

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// EngineConfig configures an Engine. Zero values take the defaults named on
// each field.
type EngineConfig struct {
	// Brokers are the seed brokers (host:port). Required.
	Brokers []string
	// Group is the consumer group; processes in one group share the
	// partitions. Default "sitetwin".
	Group string
	// Topics names the topics. Default DefaultTopics().
	Topics Topics
	// TopicOptions creates missing topics. Default 6 partitions.
	TopicOptions TopicOptions
	// Rules is the rule pack. Default twin.DefaultRules().
	Rules *twin.Rules
	// CheckpointInterval is how often changed twins are written to the
	// changelog and offsets committed. Default 1s.
	CheckpointInterval time.Duration
	// MaxPollRecords bounds one batch. Default 2000.
	MaxPollRecords int
	// Store receives the views of the twins and the alerts. Default a new
	// store (see Engine.Store).
	Store *Store
	// Registerer receives the engine's metrics. Default a private registry.
	Registerer prometheus.Registerer
	// Logger receives the engine's logs. Default slog.Default().
	Logger *slog.Logger
	// ClientID names this process to the brokers. Default "sitetwin".
	ClientID string
}

// Engine consumes the input topics in a consumer group, applies every event
// to its project twin with twin.Apply, and writes alerts, dead letters,
// outbound requests and twin snapshots. Each partition number it is
// assigned (the same number across all input topics, so a project's events
// meet at one place) is owned by one worker goroutine that holds that
// partition's twins.
type Engine struct {
	cfg        EngineConfig
	log        *slog.Logger
	metrics    *metrics
	store      *Store
	client     *kgo.Client
	adm        *kadm.Client
	partitions int32

	workers map[int32]*worker // touched only by the polling goroutine and the group callbacks it runs

	produceErr atomic.Pointer[error] // first produce error since the last checkpoint
	outCtx     context.Context       // output records; ends only after the final flush
	fatal      atomic.Pointer[error] // the error that stops Run
	stop       context.CancelFunc    // ends the poll loop
	brokerOK   atomic.Bool
	lastErr    atomic.Pointer[string]
	ready      chan struct{}
	readyOnce  sync.Once

	mu        sync.Mutex
	applied   map[string]map[int32]int64 // next offset to apply, per owned input partition
	owned     map[int32]bool             // partition numbers owned, for the lag probe
	lagValue  atomic.Int64
	dlqLogged atomic.Int64

	counters struct {
		events, deadLetters, produceErrs atomic.Int64
	}
}

// NewEngine checks the configuration and returns an engine; Run starts it.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("engine: no brokers given")
	}
	if cfg.Group == "" {
		cfg.Group = "sitetwin"
	}
	if cfg.Topics.Prefix == "" {
		cfg.Topics = DefaultTopics()
	}
	if cfg.Rules == nil {
		cfg.Rules = twin.DefaultRules()
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = time.Second
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 2000
	}
	if cfg.Store == nil {
		cfg.Store = NewStore(0)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "sitetwin"
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("engine metrics: %w", err)
	}
	for _, topic := range cfg.Topics.Inputs() {
		m.applied.WithLabelValues(topic)
	}
	e := &Engine{
		cfg: cfg, log: cfg.Logger, metrics: m, store: cfg.Store,
		workers: map[int32]*worker{}, applied: map[string]map[int32]int64{}, owned: map[int32]bool{},
		ready: make(chan struct{}),
	}
	return e, nil
}

// Store returns the store the engine publishes twin views and alerts to.
func (e *Engine) Store() *Store { return e.store }

// Ready is closed once the engine has joined its group and is consuming.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Events      int64 // events applied (duplicates included)
	DeadLetters int64
	Twins       int
	OpenAlarms  int
	Lag         int64
	BrokerOK    bool
	// ProduceErrors counts output records the broker refused.
	ProduceErrors int64
}

// Stats returns the current counters.
func (e *Engine) Stats() Stats {
	twins, open := e.store.Counts()
	return Stats{
		Events: e.counters.events.Load(), DeadLetters: e.counters.deadLetters.Load(),
		Twins: twins, OpenAlarms: open, Lag: e.lagValue.Load(), BrokerOK: e.brokerOK.Load(),
		ProduceErrors: e.counters.produceErrs.Load(),
	}
}

// ErrDegraded is returned by Health while the broker is unreachable.
var ErrDegraded = errors.New("degraded")

// Health returns nil when the engine is consuming and the broker answers,
// or an error wrapping ErrDegraded that says what is wrong.
func (e *Engine) Health() error {
	select {
	case <-e.ready:
	default:
		return fmt.Errorf("%w: engine starting", ErrDegraded)
	}
	if !e.brokerOK.Load() {
		msg := "broker unreachable"
		if p := e.lastErr.Load(); p != nil {
			msg += ": " + *p
		}
		return fmt.Errorf("%w: %s", ErrDegraded, msg)
	}
	return nil
}

// Run consumes until ctx ends, then writes a last checkpoint, leaves the
// group and returns nil. It returns an error only if it cannot start.
func (e *Engine) Run(ctx context.Context) error {
	// The admin client looks up topics it may just have created: keep its
	// metadata cache short-lived.
	boot, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...), kgo.ClientID(e.cfg.ClientID),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.adm = kadm.NewClient(boot)
	defer boot.Close()
	n, err := e.ensureTopics(ctx)
	if err != nil {
		return err
	}
	e.partitions = n
	e.brokerOK.Store(true)

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(e.cfg.Brokers...),
		kgo.ClientID(e.cfg.ClientID),
		kgo.ConsumerGroup(e.cfg.Group),
		kgo.ConsumeTopics(e.cfg.Topics.Inputs()...),
		// The range balancer gives a member the same partition numbers of
		// every topic (they all have the same count), so a project's
		// registry, sensor, payment ... records meet at one worker.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(e.onAssigned),
		kgo.OnPartitionsRevoked(e.onRevoked),
		kgo.OnPartitionsLost(e.onLost),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.client = cl
	var cancelOut context.CancelFunc
	e.outCtx, cancelOut = context.WithCancel(context.Background())
	defer cancelOut()

	probeCtx, stopProbe := context.WithCancel(context.Background())
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); e.probe(probeCtx) }()

	ctx, e.stop = context.WithCancel(ctx)
	defer e.stop()
	e.loop(ctx)

	// Graceful stop: write what changed, commit, leave.
	stopCtx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	e.checkpoint(stopCtx, e.ownedPartitions())
	cancel()
	cl.CloseAllowingRebalance()
	stopProbe()
	<-probeDone
	for p, w := range e.workers {
		w.stop()
		delete(e.workers, p)
	}
	if err := e.fatal.Load(); err != nil {
		return *err
	}
	return nil
}

func (e *Engine) ensureTopics(ctx context.Context) (int32, error) {
	for attempt := 0; ; attempt++ {
		n, err := EnsureTopics(ctx, e.adm, e.cfg.Topics, e.cfg.TopicOptions)
		if err == nil {
			return n, nil
		}
		if errors.Is(err, ErrPartitionMismatch) || ctx.Err() != nil {
			return 0, fmt.Errorf("engine: %w", err)
		}
		e.log.Warn("waiting for the broker to create topics", "err", err, "attempt", attempt+1)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(min(time.Duration(attempt+1)*500*time.Millisecond, 5*time.Second)):
		}
	}
}

// loop polls, applies and checkpoints until ctx ends.
func (e *Engine) loop(ctx context.Context) {
	lastCheckpoint := time.Now()
	for {
		fetches := e.client.PollRecords(ctx, e.cfg.MaxPollRecords)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			e.client.AllowRebalance()
			return
		}
		e.readyOnce.Do(func() { close(e.ready) })
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			e.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			msg := err.Error()
			e.lastErr.Store(&msg)
		})
		start := time.Now()
		e.applyBatch(fetches)
		if n := fetches.NumRecords(); n > 0 {
			e.metrics.batchSeconds.Observe(time.Since(start).Seconds())
		}
		if time.Since(lastCheckpoint) >= e.cfg.CheckpointInterval {
			e.checkpoint(ctx, e.ownedPartitions())
			lastCheckpoint = time.Now()
		}
		e.client.AllowRebalance()
	}
}

// applyBatch hands each partition's records to its worker and waits for all.
func (e *Engine) applyBatch(fetches kgo.Fetches) {
	byPartition := map[int32][][]*kgo.Record{}
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		byPartition[fp.Partition] = append(byPartition[fp.Partition], fp.Records)
		last := fp.Records[len(fp.Records)-1]
		e.mu.Lock()
		if e.applied[fp.Topic] == nil {
			e.applied[fp.Topic] = map[int32]int64{}
		}
		e.applied[fp.Topic][fp.Partition] = last.Offset + 1
		e.mu.Unlock()
	})
	if len(byPartition) == 0 {
		return
	}
	var wg sync.WaitGroup
	results := make([]batchResult, 0, len(byPartition))
	var rmu sync.Mutex
	for p, lists := range byPartition {
		w, ok := e.workers[p]
		if !ok {
			// cannot happen: fetches only hold assigned partitions
			e.log.Error("records for a partition without a worker", "partition", p)
			continue
		}
		recs := mergeByTime(lists)
		wg.Add(1)
		w.jobs <- func() {
			defer wg.Done()
			r := w.process(recs)
			rmu.Lock()
			results = append(results, r)
			rmu.Unlock()
		}
	}
	wg.Wait()
	var views []*twin.ProjectView
	var alerts []twin.Alert
	for _, r := range results {
		views = append(views, r.views...)
		alerts = append(alerts, r.alerts...)
	}
	slices.SortStableFunc(alerts, func(a, b twin.Alert) int { return a.Time.Compare(b.Time) })
	e.store.publish(views, alerts)
	twins, open := e.store.Counts()
	e.metrics.twins.Set(float64(twins))
	e.metrics.openAlarms.Set(float64(open))
}

// mergeByTime merges the record lists of one partition number (one list per
// topic) into one, ordered by record timestamp, keeping each list's own
// order: a project's registration produced before its readings is applied
// before them even when they come from different topics in one fetch.
func mergeByTime(lists [][]*kgo.Record) []*kgo.Record {
	if len(lists) == 1 {
		return lists[0]
	}
	slices.SortFunc(lists, func(a, b []*kgo.Record) int { return cmp.Compare(a[0].Topic, b[0].Topic) })
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]*kgo.Record, 0, n)
	heads := make([]int, len(lists))
	for len(out) < n {
		best := -1
		for i, l := range lists {
			if heads[i] == len(l) {
				continue
			}
			if best < 0 || l[heads[i]].Timestamp.Before(lists[best][heads[best]].Timestamp) {
				best = i
			}
		}
		out = append(out, lists[best][heads[best]])
		heads[best]++
	}
	return out
}

// promise is the produce callback of every output record.
func (e *Engine) promise(r *kgo.Record, err error) {
	if err == nil {
		return
	}
	e.metrics.produceErrs.Inc()
	e.counters.produceErrs.Add(1)
	e.produceErr.CompareAndSwap(nil, &err)
	e.log.Error("produce failed", "topic", r.Topic, "partition", r.Partition, "err", err)
}

// checkpoint writes the snapshots of changed twins of the given partitions,
// waits until the broker has every output record, and commits the consumed
// offsets. If any output was refused it does not commit, so the records are
// consumed again after a restart.
func (e *Engine) checkpoint(ctx context.Context, parts []int32) {
	for _, p := range parts {
		if w, ok := e.workers[p]; ok {
			w.do(w.checkpoint)
		}
	}
	if err := e.client.Flush(ctx); err != nil {
		e.log.Warn("checkpoint: flush interrupted; offsets not committed", "err", err)
		return
	}
	if perr := e.produceErr.Swap(nil); perr != nil {
		e.log.Error("checkpoint: outputs were refused; offsets not committed", "err", *perr)
		return
	}
	if err := e.client.CommitUncommittedOffsets(ctx); err != nil {
		e.log.Warn("checkpoint: commit failed", "err", err)
		return
	}
	e.metrics.checkpoints.Inc()
}

func (e *Engine) ownedPartitions() []int32 {
	out := make([]int32, 0, len(e.workers))
	for p := range e.workers {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// partitionNumbers returns the distinct partition numbers of an assignment.
func partitionNumbers(assigned map[string][]int32) []int32 {
	var out []int32
	for _, ps := range assigned {
		out = append(out, ps...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// onAssigned starts a worker per newly assigned partition number and
// restores its twins from the changelog before any record is consumed.
func (e *Engine) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	defer e.readyOnce.Do(func() { close(e.ready) })
	var fresh []int32
	for _, p := range partitionNumbers(assigned) {
		if _, ok := e.workers[p]; !ok {
			fresh = append(fresh, p)
		}
	}
	if len(fresh) == 0 {
		return
	}
	start := time.Now()
	restored := map[int32]*worker{}
	for _, p := range fresh {
		restored[p] = newWorker(e, p)
	}
	n, err := e.restoreRetrying(ctx, restored)
	if err != nil {
		// Without its state a partition's twins would be wrong: stop the
		// engine with the error rather than run without them.
		e.fail(fmt.Errorf("restore partitions %v from %s: %w", fresh, e.cfg.Topics.State(), err))
		return
	}
	var views []*twin.ProjectView
	for _, p := range fresh {
		w := restored[p]
		go w.run()
		e.workers[p] = w
		e.mu.Lock()
		e.owned[p] = true
		e.mu.Unlock()
		for _, id := range sortedIDs(w.twins) {
			views = append(views, w.twins[id].View())
		}
	}
	e.store.publish(views, nil)
	e.metrics.partitions.Set(float64(len(e.workers)))
	e.metrics.restored.Add(float64(n))
	e.log.Info("partitions assigned", "partitions", fresh, "twins_restored", n, "took", time.Since(start).Round(time.Millisecond))
}

// onRevoked checkpoints and stops the workers of revoked partitions.
func (e *Engine) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	parts := partitionNumbers(revoked)
	if len(parts) == 0 {
		return
	}
	e.checkpoint(ctx, parts)
	e.dropWorkers(parts)
	e.log.Info("partitions revoked", "partitions", parts)
}

// onLost drops the workers of lost partitions without committing: another
// member may already own them.
func (e *Engine) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	parts := partitionNumbers(lost)
	e.produceErr.Store(nil)
	e.dropWorkers(parts)
	e.log.Warn("partitions lost", "partitions", parts)
}

func (e *Engine) dropWorkers(parts []int32) {
	for _, p := range parts {
		w, ok := e.workers[p]
		if !ok {
			continue
		}
		w.stop()
		e.store.drop(sortedIDs(w.twins))
		delete(e.workers, p)
		e.mu.Lock()
		delete(e.owned, p)
		for _, offs := range e.applied {
			delete(offs, p)
		}
		e.mu.Unlock()
	}
	e.metrics.partitions.Set(float64(len(e.workers)))
}

// restoreRetrying restores, retrying for a while when the changelog's
// offsets are not known yet (a topic just created) or the broker does not
// answer. A snapshot that does not decode is not retried.
func (e *Engine) restoreRetrying(ctx context.Context, workers map[int32]*worker) (int, error) {
	var err error
	for attempt := range 50 {
		var n int
		n, err = e.restore(ctx, workers)
		if err == nil || errors.Is(err, errBadSnapshot) || ctx.Err() != nil {
			return n, err
		}
		for _, w := range workers {
			clear(w.twins)
		}
		e.log.Warn("restore: retrying", "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return 0, err
}

// fail records an error that stops the engine; Run returns the first one.
func (e *Engine) fail(err error) {
	e.log.Error("engine stopping", "err", err)
	e.fatal.CompareAndSwap(nil, &err)
	e.stop()
}

// restore reads the changelog partitions of the given workers from the
// start to their current end and loads every twin. It returns the number of
// twins restored.
func (e *Engine) restore(ctx context.Context, workers map[int32]*worker) (int, error) {
	topic := e.cfg.Topics.State()
	ends, err := e.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("list changelog end offsets: %w", err)
	}
	starts, err := e.adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("list changelog start offsets: %w", err)
	}
	want := map[int32]int64{}
	offsets := map[int32]kgo.Offset{}
	for p := range workers {
		end, ok := ends.Lookup(topic, p)
		if !ok || end.Err != nil {
			return 0, fmt.Errorf("changelog partition %d: no end offset", p)
		}
		begin, _ := starts.Lookup(topic, p)
		if end.Offset > begin.Offset {
			want[p] = end.Offset
			offsets[p] = kgo.NewOffset().AtStart()
		}
	}
	if len(want) == 0 {
		return 0, nil
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(e.cfg.Brokers...),
		kgo.ClientID(e.cfg.ClientID+"-restore"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
	)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	for len(want) > 0 {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		var ferr error
		fetches.EachError(func(_ string, p int32, err error) { ferr = fmt.Errorf("changelog partition %d: %w", p, err) })
		if ferr != nil {
			return 0, ferr
		}
		var rerr error
		fetches.EachRecord(func(r *kgo.Record) {
			if rerr != nil {
				return
			}
			if err := workers[r.Partition].restore(r); err != nil {
				rerr = err
			}
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
		if rerr != nil {
			return 0, rerr
		}
	}
	n := 0
	for _, w := range workers {
		n += len(w.twins)
	}
	return n, nil
}

// probe checks the broker every two seconds and computes the lag of the
// owned partitions, until ctx ends.
func (e *Engine) probe(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := e.client.Ping(pctx)
		if err == nil {
			err = e.updateLag(pctx)
		}
		cancel()
		if ctx.Err() != nil {
			return
		}
		was := e.brokerOK.Load()
		e.brokerOK.Store(err == nil)
		if err != nil {
			msg := err.Error()
			e.lastErr.Store(&msg)
			e.metrics.brokerUp.Set(0)
			if was {
				e.log.Warn("broker unreachable; waiting and retrying", "err", err)
			}
		} else {
			e.metrics.brokerUp.Set(1)
			if !was {
				e.log.Info("broker reachable again; resuming")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (e *Engine) updateLag(ctx context.Context) error {
	ends, err := e.adm.ListEndOffsets(ctx, e.cfg.Topics.Inputs()...)
	if err != nil {
		return err
	}
	committed, err := e.adm.FetchOffsets(ctx, e.cfg.Group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var lag int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || !e.owned[o.Partition] {
			return
		}
		next := e.applied[o.Topic][o.Partition]
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.At > next {
			next = c.At
		}
		if o.Offset > next {
			lag += o.Offset - next
		}
	})
	e.lagValue.Store(lag)
	e.metrics.lag.Set(float64(lag))
	return nil
}

// logDeadLetter logs the first dead letters and then one in a thousand, so
// a flood of bad records cannot flood the log; all are counted.
func (e *Engine) logDeadLetter(r *kgo.Record, reason string) {
	n := e.dlqLogged.Add(1)
	e.counters.deadLetters.Add(1)
	if n <= 20 || n%1000 == 0 {
		e.log.Warn("record dead-lettered", "source", source(r), "reason", reason, "total", n)
	}
}
