package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// ApplyFunc applies an event to a twin; twin.Apply is the only one a
// deployment uses. Tests inject faults through it.
type ApplyFunc func(*twin.ProjectTwin, *twin.Event, *twin.Rules) (twin.Effects, error)

// EngineConfig configures an Engine. Zero values take the defaults named on
// each field.
type EngineConfig struct {
	// Brokers are the seed brokers (host:port). Required.
	Brokers []string
	// Group is the consumer group; processes in one group share the
	// partitions. Default "sitetwin".
	Group string
	// Instance names this process in the group, stably across restarts:
	// it is the static group membership id (a restarted process gets its
	// partitions back at once) and part of the transactional id (a
	// restarted process fences its killed predecessor's open
	// transaction). Two live processes of one group must not share it.
	// Default: the host name.
	Instance string
	// Topics names the topics. Default DefaultTopics().
	Topics Topics
	// TopicOptions creates missing topics. Default 6 partitions.
	TopicOptions TopicOptions
	// Rules is the rule pack. Default twin.DefaultRules().
	Rules *twin.Rules
	// CheckpointInterval is how long a transaction stays open: twin
	// snapshots, outputs and consumed offsets are committed together this
	// often, and become visible to read-committed consumers and to the
	// store then. Default DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// ViewInterval, when above 0, hands the store the views of the twins
	// changed since it last did this often, without waiting for their
	// checkpoint to commit: dashboards and the API then show an event's
	// effect within about ViewInterval of its application instead of at
	// the next commit (CheckpointInterval and the checkpoint's own time).
	// Those views may hold records a checkpoint that then fails takes
	// back; the engine restores the twins from the changelog, applies the
	// records again and the views follow (a twin whose every record was
	// taken back stays listed until the process restarts). Alerts are
	// still handed over only when committed, and outputs, the changelog
	// and the consumed offsets are exactly-once either way. Default 0:
	// the store shows committed state only.
	ViewInterval time.Duration
	// MaxPollRecords bounds one batch, and so how far past
	// CheckpointInterval a transaction stays open (the loop commits
	// between batches). Default 50,000. The client hands over its
	// buffered records partition by partition, so a small bound starves
	// the workers: with 5,000, 148 of 212 batches of a bench e2e run held
	// one partition's records and left the other core idle (e2e 145-191k
	// events/s; 50,000: 251-349k; no bound, whole fetches of up to 1 MiB
	// a partition: 308-332k, but a catching-up engine then applied up to
	// 240,000 records, most of a second, per transaction).
	MaxPollRecords int
	// MaxWaiting is how many fetched records a partition may hold while
	// they wait for its other topics (see the worker) before fetching of
	// the topics that hold them pauses. Default 20000.
	MaxWaiting int
	// SessionTimeout is how long the group waits for a silent member
	// before giving its partitions to others. Default 10s.
	SessionTimeout time.Duration
	// TransactionTimeout is how long the broker keeps an open transaction
	// of a dead process before aborting it (a live process whose
	// transaction was aborted so, after a broker stall, starts a new
	// session). Default 10s.
	TransactionTimeout time.Duration
	// Store receives the views of the twins and the alerts once they are
	// committed. Default a new store (see Engine.Store).
	Store *Store
	// Registerer receives the engine's metrics. Default a private registry.
	Registerer prometheus.Registerer
	// Logger receives the engine's logs. Default slog.Default().
	Logger *slog.Logger
	// ClientID names this process to the brokers. Default "sitetwin".
	ClientID string
	// Apply applies events. Default twin.Apply.
	Apply ApplyFunc
	// Models are the prediction models run after the events they need
	// (nil: none).
	Models *predict.Registry
	// PredictWorkers is the size of the pool that runs expensive models.
	// Default runtime.GOMAXPROCS(0).
	PredictWorkers int
	// PredictQueue bounds the runs waiting for the pool; when it is full,
	// runs stay due and are queued after a later batch. Default 1024.
	PredictQueue int
	// PredictTimeout bounds one model run (a remote model's request).
	// Default 10s.
	PredictTimeout time.Duration
	// MaxDrills is how many drills a worker keeps forks of twins for
	// (see drill.go); the forks of the drill seen first are dropped when
	// one more starts. Default 2.
	MaxDrills int
	// AtLeastOnce turns exactly-once off. Default false: outputs (twin
	// snapshots, alerts, dead letters, outbox requests) and the consumed
	// offsets are committed in one Kafka transaction per checkpoint.
	// With AtLeastOnce the engine is a plain group consumer with no
	// transactional id: outputs are written as they are produced, and
	// each checkpoint flushes them and then commits the consumed offsets.
	// What it gives up: after a crash, the events since the last
	// checkpoint are applied again and their outputs may be written
	// twice. The twins absorb re-applied events (a twin knows the event
	// ids it has applied and ignores them again), but the alerts, dead
	// letters and outbox requests of those events may appear twice, and
	// read-committed consumers see outputs before their checkpoint.
	AtLeastOnce bool
	// Applied, when set, is called by a partition's worker right after
	// it applied an input record to its twins (not for a record it
	// dead-lettered, forwarded or skipped), with the time then. A
	// city-wide record is applied by every partition, so it is passed
	// once per partition; a record applied in a checkpoint that was then
	// aborted is applied, and passed, again. Workers call it
	// concurrently, one goroutine per partition number, on the hot path:
	// it must be safe for that and quick. Default nil.
	Applied func(rec *kgo.Record, at time.Time)
	// Committed, when set, is called by the poll loop after each
	// checkpoint committed, with the time then: every record passed to
	// Applied before it is now committed, and its twins' views and alerts
	// are in the store. Default nil.
	Committed func(at time.Time)
}

// Engine consumes the input topics in a consumer group, applies every event
// to its project twin, and writes alerts, dead letters, outbound requests
// and twin snapshots, all in Kafka transactions that also commit the
// consumed offsets: a crash at any instant loses nothing and applies nothing
// twice (unless EngineConfig.AtLeastOnce trades that for plain commits).
// Each assigned partition number (the same number of every input
// topic, so that a project's events meet at one place) is owned by one
// worker goroutine that holds that partition's twins.
type Engine struct {
	cfg        EngineConfig
	log        *slog.Logger
	metrics    *metrics
	drillm     *drillMetrics
	store      *Store
	sess       session     // transactional, or at-least-once
	client     *kgo.Client // the session's
	boot       *kgo.Client // for the admin client and the probe
	adm        *kadm.Client
	partitions int32
	inputs     []string
	outCtx     context.Context // output records; ends only after the final commit

	// Touched only by the polling goroutine and the group callbacks,
	// which run serially with it (BlockRebalanceOnPoll).
	workers    map[int32]*worker
	renew      error       // the session's producer is dead: start a new session
	renewals   []time.Time // when sessions were renewed
	inTxn      bool
	txnStart   time.Time
	rebalanced bool
	viewsDue   bool                      // ViewInterval: twins changed since the views were last handed over
	viewsAt    time.Time                 // ViewInterval: when they were
	paused     map[int32]map[string]bool // input topics paused, by partition number
	city       *cityFeed                 // reads the city stream for the workers
	pred       *predictor                // runs expensive models

	produceErr atomic.Pointer[error] // first produce error in the open transaction
	fatal      atomic.Pointer[error] // the error that stops Run
	stop       context.CancelFunc
	commitSoon atomic.Bool              // a rebalance waits: commit before allowing it
	ending     atomic.Pointer[endWatch] // the transaction end in progress
	brokerOK   atomic.Bool
	lastErr    atomic.Pointer[string]
	ready      chan struct{}
	readyOnce  sync.Once
	lagValue   atomic.Int64
	dlqLogged  atomic.Int64
	warming    atomic.Int64 // restored twins not decoded yet

	mu     sync.Mutex        // guards owned, ends, poison
	owned  map[int32]bool    // partition numbers owned, for the probe
	ends   map[int32][]int64 // stable offsets from the probe, per partition and input topic
	poison map[string]string // source of a record whose Apply panicked -> the panic
	// poisons is len(poison), read without the lock: every record asks
	// whether it poisoned the engine before, and almost always none did.
	poisons atomic.Int32

	counters struct {
		events, deadLetters, produceErrs, commits, aborts atomic.Int64
		drillEvents                                       atomic.Int64
		encodeNanos, commitNanos, publishNanos            atomic.Int64 // the poll loop's waits at checkpoints
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
	if cfg.Instance == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "sitetwin"
		}
		cfg.Instance = host
	}
	if strings.ContainsAny(cfg.Instance, " \t\n") {
		return nil, fmt.Errorf("engine: instance %q must not contain white space", cfg.Instance)
	}
	if cfg.Topics.Prefix == "" {
		cfg.Topics = DefaultTopics()
	}
	if cfg.Rules == nil {
		cfg.Rules = twin.DefaultRules()
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.MaxPollRecords <= 0 {
		cfg.MaxPollRecords = 50000
	}
	if cfg.MaxWaiting <= 0 {
		cfg.MaxWaiting = 20000
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.TransactionTimeout <= 0 {
		cfg.TransactionTimeout = 10 * time.Second
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
	if cfg.Apply == nil {
		cfg.Apply = twin.Apply
	}
	if cfg.PredictWorkers <= 0 {
		cfg.PredictWorkers = runtime.GOMAXPROCS(0)
	}
	if cfg.PredictQueue <= 0 {
		cfg.PredictQueue = 1024
	}
	if cfg.PredictTimeout <= 0 {
		cfg.PredictTimeout = 10 * time.Second
	}
	if cfg.MaxDrills <= 0 {
		cfg.MaxDrills = 2
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("engine metrics: %w", err)
	}
	m.appliedBy = map[string]prometheus.Counter{}
	for _, topic := range cfg.Topics.Inputs() {
		m.appliedBy[topic] = m.applied.WithLabelValues(topic)
	}
	dm := newDrillMetrics()
	for _, c := range dm.collectors() {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("engine metrics: %w", err)
		}
	}
	return &Engine{
		cfg: cfg, log: cfg.Logger, metrics: m, drillm: dm, store: cfg.Store, inputs: cfg.Topics.Inputs(),
		workers: map[int32]*worker{}, paused: map[int32]map[string]bool{},
		owned: map[int32]bool{}, ends: map[int32][]int64{}, poison: map[string]string{},
		ready: make(chan struct{}),
	}, nil
}

// Store returns the store the engine publishes twin views and alerts to.
func (e *Engine) Store() *Store { return e.store }

// Ready is closed once the engine has joined its group and restored the
// twins of its partitions.
func (e *Engine) Ready() <-chan struct{} { return e.ready }

// Stats is a snapshot of the engine's counters.
type Stats struct {
	Events      int64 `json:"events"` // events applied (duplicates included)
	DeadLetters int64 `json:"dead_letters"`
	Twins       int   `json:"twins"`
	OpenAlarms  int   `json:"open_alarms"`
	Lag         int64 `json:"consumer_lag"`
	BrokerOK    bool  `json:"broker_ok"`
	// ProduceErrors counts output records the broker refused.
	ProduceErrors int64 `json:"produce_errors"`
	// Commits and Aborts count transactions.
	Commits int64 `json:"commits"`
	Aborts  int64 `json:"aborts"`
	// Partitions lists the partition numbers this process owns.
	Partitions []int32 `json:"partitions"`
	// DrillEvents counts drill events applied to drill forks of twins
	// (a city-wide one once per fork), never to the real twins.
	DrillEvents int64 `json:"drill_events"`
	// Warming counts restored twins whose snapshots are still being
	// decoded in the background (they are decoded at once when an event
	// needs them); the API lists them once decoded.
	Warming int64 `json:"warming"`
	// CheckpointEncodeSeconds, CheckpointCommitSeconds and
	// CheckpointPublishSeconds are the time the poll loop has waited at
	// checkpoints, in all: for the changed twins' snapshots to be encoded
	// (every worker at once), for the outputs to be flushed and the
	// transaction ended, and (after a commit) for the changed twins' views
	// and the alerts to be handed to the store. No record is applied
	// meanwhile, so they bound the engine's latency.
	CheckpointEncodeSeconds  float64 `json:"checkpoint_encode_seconds"`
	CheckpointCommitSeconds  float64 `json:"checkpoint_commit_seconds"`
	CheckpointPublishSeconds float64 `json:"checkpoint_publish_seconds"`
}

// Stats returns the current counters.
func (e *Engine) Stats() Stats {
	twins, open := e.store.Counts()
	return Stats{
		Events: e.counters.events.Load(), DeadLetters: e.counters.deadLetters.Load(),
		Twins: twins, OpenAlarms: open, Lag: e.lagValue.Load(), BrokerOK: e.brokerOK.Load(),
		ProduceErrors: e.counters.produceErrs.Load(),
		Commits:       e.counters.commits.Load(), Aborts: e.counters.aborts.Load(),
		Partitions: e.ownedList(), DrillEvents: e.counters.drillEvents.Load(),
		CheckpointEncodeSeconds:  time.Duration(e.counters.encodeNanos.Load()).Seconds(),
		CheckpointCommitSeconds:  time.Duration(e.counters.commitNanos.Load()).Seconds(),
		CheckpointPublishSeconds: time.Duration(e.counters.publishNanos.Load()).Seconds(),
	}
}

func (e *Engine) ownedList() []int32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return sortedPartitions(e.owned)
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

// TransactionalID returns the transactional id the engine uses (none
// with AtLeastOnce).
func (e *Engine) TransactionalID() string {
	return "sitetwin-" + e.cfg.Group + "-" + e.cfg.Instance
}

// Run consumes until ctx ends, then commits what it applied, leaves the
// group and returns nil. It returns an error if it cannot start, or if it
// meets an error it cannot go on from (a changelog snapshot that does not
// decode, another process fencing its transactions again and again). When
// the broker fences its producer once (it aborted a transaction that stayed
// open past the transaction timeout, e.g. while the broker stalled), it
// starts a new session and goes on.
func (e *Engine) Run(ctx context.Context) error {
	// The admin client looks up topics it may just have created: keep its
	// metadata cache short-lived.
	boot, err := kgo.NewClient(kgo.SeedBrokers(e.cfg.Brokers...), kgo.ClientID(e.cfg.ClientID),
		kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	defer boot.Close()
	e.boot, e.adm = boot, kadm.NewClient(boot)
	n, err := e.ensureTopics(ctx)
	if err != nil {
		return err
	}
	e.partitions = n
	e.brokerOK.Store(true)

	sess, err := e.newSession()
	if err != nil {
		return fmt.Errorf("engine: %w", err)
	}
	e.sess, e.client = sess, sess.Client()
	outCtx, cancelOut := context.WithCancel(context.Background())
	defer cancelOut()
	e.outCtx = outCtx

	e.startPredictor()
	probeCtx, stopProbe := context.WithCancel(context.Background())
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); e.probe(probeCtx) }()

	ctx, e.stop = context.WithCancel(ctx)
	defer e.stop()
	for {
		e.loop(ctx)
		if e.renew == nil || ctx.Err() != nil {
			break
		}
		e.renewSession()
	}

	// Graceful stop: commit what was applied, leave the group.
	stopCtx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if e.fatal.Load() == nil && e.renew == nil {
		e.commit(stopCtx)
	} else if e.inTxn {
		e.sess.End(stopCtx, kgo.TryAbort) //nolint:errcheck // stopping on a fatal error
	}
	e.sess.CloseAllowingRebalance()
	// A static member does not leave on close; say so to the group, so
	// the others take its partitions now rather than after the session
	// timeout.
	if _, err := e.adm.LeaveGroup(stopCtx, kadm.LeaveGroup(e.cfg.Group).InstanceIDs(e.cfg.Instance).Reason("shutdown")); err != nil {
		e.log.Warn("leave group", "err", err)
	}
	e.stopCity()
	if e.pred != nil {
		e.pred.stop()
	}
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

// newSession returns a new consumer-group session: transactional, or
// with AtLeastOnce a plain consumer that commits its offsets itself.
func (e *Engine) newSession() (session, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(e.cfg.Brokers...),
		kgo.ClientID(e.cfg.ClientID),
		kgo.ConsumerGroup(e.cfg.Group),
		kgo.InstanceID(e.cfg.Instance),
		kgo.SessionTimeout(e.cfg.SessionTimeout),
		kgo.ConsumeTopics(e.inputs...),
		// The range balancer gives a member the same partition numbers of
		// every topic (they all have the same count), so a project's
		// registry, sensor, payment ... records meet at one worker.
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records let a worker know it has read a topic to its
		// stable offset (the last offsets are often commit markers).
		kgo.KeepControlRecords(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(e.onAssigned),
		kgo.OnPartitionsRevoked(e.onRevoked),
		kgo.OnPartitionsLost(e.onLost),
		kgo.OnPartitionsCallbackBlocked(func(context.Context, *kgo.Client) {
			e.commitSoon.Store(true)
			e.watchEnd()
		}),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(2 * time.Millisecond),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}
	if e.cfg.AtLeastOnce {
		// Inputs are still read committed: the merge order (see the
		// worker) waits for the stable offsets either way.
		return newALOSession(func() bool { return e.produceErr.Load() != nil }, opts...)
	}
	return kgo.NewGroupTransactSession(append(opts,
		kgo.TransactionalID(e.TransactionalID()),
		kgo.TransactionTimeout(e.cfg.TransactionTimeout),
	)...)
}

// renewSession replaces a session whose producer the broker fenced (it
// aborts a transaction that stays open longer than the transaction
// timeout, e.g. while the broker stalls, and then refuses the producer):
// the workers and the open transaction are dropped, and a new session with
// the same transactional id and instance takes the partitions back,
// restoring them from the changelog. A process that must renew again and
// again is fenced by another one using its instance name: that stops it.
func (e *Engine) renewSession() {
	cause := e.renew
	e.renew = nil
	now := time.Now()
	e.renewals = append(slices.DeleteFunc(e.renewals, func(t time.Time) bool { return now.Sub(t) > time.Minute }), now)
	if len(e.renewals) > 5 {
		e.fail(fmt.Errorf("transaction: %w (fenced %d times within a minute: another process uses the instance %q?)", cause, len(e.renewals), e.cfg.Instance))
		return
	}
	e.log.Warn("the broker fenced this process's transactions; starting a new session", "cause", cause)
	e.inTxn, e.rebalanced = false, false
	e.sess.CloseAllowingRebalance()
	e.dropWorkers(sortedPartitions(e.workers), true)
	e.produceErr.Store(nil)
	sess, err := e.newSession()
	if err != nil {
		e.fail(fmt.Errorf("new session: %w", err))
		return
	}
	e.sess, e.client = sess, sess.Client()
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

// loop polls, applies and commits until ctx ends.
func (e *Engine) loop(ctx context.Context) {
	for ctx.Err() == nil && e.renew == nil {
		// The poll returns at least every cityPoll, so the city stream is
		// applied even when no input records come, and an open
		// transaction is committed on time.
		deadline := time.Now().Add(cityPoll)
		if e.inTxn {
			deadline = e.txnStart.Add(e.cfg.CheckpointInterval)
		}
		if e.viewsDue {
			deadline = minTime(deadline, e.viewsAt.Add(e.cfg.ViewInterval))
		}
		pctx, cancel := context.WithDeadline(ctx, deadline)
		fetches := e.sess.PollRecords(pctx, e.cfg.MaxPollRecords)
		cancel()
		if fetches.IsClientClosed() || ctx.Err() != nil {
			e.sess.AllowRebalance()
			return
		}
		if e.rebalanced {
			// Partitions were revoked and assigned in this poll; the new
			// workers were restored from the changelog. The session aborts
			// whatever transaction was open and rewinds to the committed
			// offsets, so these fetches are dropped and fetched again.
			e.rebalanced = false
			hadTxn := e.inTxn
			e.endTxn(ctx, kgo.TryAbort)
			if hadTxn {
				// partitions kept through the rebalance hold work of the
				// aborted transaction
				e.restoreAll(ctx)
			}
			e.sess.AllowRebalance()
			continue
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return
			}
			e.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			msg := err.Error()
			e.lastErr.Store(&msg)
		})
		city, preds := e.cityBatches(), e.predictionResults()
		if fetches.NumRecords() > 0 || len(city) > 0 || len(preds) > 0 {
			if !e.inTxn {
				if err := e.sess.Begin(); err != nil {
					// a producer the broker fenced, or one left in a
					// transaction that could not be ended
					e.renew = fmt.Errorf("begin transaction: %w", err)
					e.sess.AllowRebalance()
					return
				}
				e.inTxn, e.txnStart = true, time.Now()
			}
			start := time.Now()
			e.feed(fetches, city, preds)
			e.metrics.batchSeconds.Observe(time.Since(start).Seconds())
			e.viewsDue = e.cfg.ViewInterval > 0
		}
		switch {
		case e.poisoned():
			e.endTxn(ctx, kgo.TryAbort)
			e.restoreAll(ctx)
		case e.inTxn && (time.Since(e.txnStart) >= e.cfg.CheckpointInterval || e.commitSoon.Load()):
			e.commit(ctx)
		case e.viewsDue && time.Since(e.viewsAt) >= e.cfg.ViewInterval:
			e.publishViews()
		}
		e.commitSoon.Store(false)
		e.sess.AllowRebalance()
	}
}

// DefaultCheckpointInterval is EngineConfig.CheckpointInterval's default.
const DefaultCheckpointInterval = 250 * time.Millisecond

// cityPoll is the longest a poll waits, so that the city stream is read.
const cityPoll = 250 * time.Millisecond

// feed hands each partition's records (and the city stream's, to every
// worker) to its worker, which applies what
// the merge order allows; all workers run at once and feed waits for them.
func (e *Engine) feed(fetches kgo.Fetches, city []fetched, preds []predResult) {
	results := map[int32][]predResult{}
	for _, r := range preds {
		results[r.partition] = append(results[r.partition], r)
	}
	byPartition := map[int32][]fetched{}
	for p := range e.workers {
		byPartition[p] = append(byPartition[p], city...)
	}
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		i := e.inputIndex(fp.Topic)
		if i < 0 || len(fp.Records) == 0 {
			return
		}
		byPartition[fp.Partition] = append(byPartition[fp.Partition], fetched{topic: i, recs: fp.Records, lso: fp.LastStableOffset})
	})
	e.mu.Lock()
	ends := e.ends
	e.ends = map[int32][]int64{}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range sortedPartitions(e.workers) {
		w := e.workers[p]
		fs, probed, rs := byPartition[p], ends[p], results[p]
		if len(fs) == 0 && probed == nil && len(rs) == 0 {
			continue
		}
		wg.Add(1)
		w.jobs <- func() {
			defer wg.Done()
			for _, r := range rs {
				w.finish(r)
			}
			w.receive(fs)
			if probed != nil {
				w.learnEnds(probed)
			}
			w.drain()
			w.submitDue()
		}
	}
	wg.Wait()
	e.backpressure()
}

// backpressure pauses fetching of the topics that hold a partition's
// waiting records while it holds more than MaxWaiting of them, and resumes
// them once it holds half as many. A topic with no record waiting is never
// paused, and is resumed as soon as it has none: it may be the topic the
// merge waits for, and pausing it would stop the partition for good.
func (e *Engine) backpressure() {
	for _, p := range sortedPartitions(e.workers) {
		w := e.workers[p]
		n := w.waiting()
		var pause, resume []string
		for i, topic := range e.inputs {
			held, on := len(w.buf[i]) > 0, e.paused[p][topic]
			switch {
			case !on && held && n > e.cfg.MaxWaiting:
				pause = append(pause, topic)
			case on && (!held || n <= e.cfg.MaxWaiting/2):
				resume = append(resume, topic)
			}
		}
		if len(pause) > 0 {
			if len(e.paused[p]) == 0 {
				e.log.Warn("partition throttled: too many records wait for its other topics", "partition", p, "waiting", n, "paused", pause)
				e.paused[p] = map[string]bool{}
			}
			for _, t := range pause {
				e.paused[p][t] = true
			}
			e.client.PauseFetchPartitions(topicsOf(pause, p))
		}
		if len(resume) > 0 {
			for _, t := range resume {
				delete(e.paused[p], t)
			}
			if len(e.paused[p]) == 0 {
				delete(e.paused, p)
			}
			e.client.ResumeFetchPartitions(topicsOf(resume, p))
		}
	}
}

// topicsOf returns partition p of each topic, as the client's pause and
// resume take them.
func topicsOf(topics []string, p int32) map[string][]int32 {
	m := make(map[string][]int32, len(topics))
	for _, t := range topics {
		m[t] = []int32{p}
	}
	return m
}

func (e *Engine) inputIndex(topic string) int { return slices.Index(e.inputs, topic) }

// produce writes an output record in the open transaction. Outputs use the
// engine's output context, not the poll loop's: a stop must not cancel
// records already decided on; the final commit flushes them.
func (e *Engine) produce(r *kgo.Record) { e.client.Produce(e.outCtx, r, e.promise) }

// promise is the produce callback of every output record.
func (e *Engine) promise(r *kgo.Record, err error) {
	if err == nil {
		return
	}
	e.log.Error("produce failed", "topic", r.Topic, "partition", r.Partition, "err", err)
	e.produceFailed(err)
}

// produceFailed records an output that cannot be written: the open
// transaction must not commit.
func (e *Engine) produceFailed(err error) {
	e.metrics.produceErrs.Inc()
	e.counters.produceErrs.Add(1)
	e.produceErr.CompareAndSwap(nil, &err)
}

// commit writes the snapshots of changed twins, then commits them with the
// outputs and the consumed offsets in one transaction. After a commit the
// store gets the changed views and the alerts; after an abort the twins are
// restored from the changelog and the consumer rewinds to the committed
// offsets, so the work is done again.
func (e *Engine) commit(ctx context.Context) {
	if !e.inTxn {
		return
	}
	// The workers encode their snapshots at once (each to its own
	// changelog partition); the poll loop waits for all of them.
	start := time.Now()
	e.atOnce(func(_ int, w *worker) { w.checkpoint() })
	encoded := time.Now()
	e.waited("encode", &e.counters.encodeNanos, encoded.Sub(start))
	try := kgo.TryCommit
	if e.produceErr.Load() != nil {
		try = kgo.TryAbort
	}
	committed := e.endTxn(ctx, try)
	e.waited("commit", &e.counters.commitNanos, time.Since(encoded))
	if !committed {
		if e.renew == nil {
			e.restoreAll(ctx)
		}
		return
	}
	// The workers build their changed twins' views at once; the results
	// are taken in partition order.
	published := time.Now()
	results := make([]batchResult, len(e.workers))
	e.atOnce(func(i int, w *worker) { results[i] = w.committed() })
	e.viewsDue, e.viewsAt = false, time.Now()
	var views []*twin.ProjectView
	var alerts []twin.Alert
	var drills []drillBatch
	for _, r := range results {
		views = append(views, r.views...)
		alerts = append(alerts, r.alerts...)
		drills = append(drills, r.drills...)
	}
	if len(drills) > 0 {
		e.store.publishDrills(drills, time.Now())
	}
	slices.SortStableFunc(alerts, func(a, b twin.Alert) int { return a.Time.Compare(b.Time) })
	for _, a := range alerts {
		e.metrics.alerts.WithLabelValues(a.Change).Inc()
	}
	e.store.publish(views, alerts)
	e.waited("publish", &e.counters.publishNanos, time.Since(published))
	twins, open := e.store.Counts()
	e.metrics.twins.Set(float64(twins))
	e.metrics.openAlarms.Set(float64(open))
	if e.cfg.Committed != nil {
		e.cfg.Committed(time.Now())
	}
}

// publishViews hands the store the views of the twins changed since the
// last views it got (ViewInterval), before their checkpoint commits; the
// workers build them at once.
func (e *Engine) publishViews() {
	results := make([][]*twin.ProjectView, len(e.workers))
	e.atOnce(func(i int, w *worker) { results[i] = w.takeViews() })
	e.viewsDue, e.viewsAt = false, time.Now()
	e.store.publish(slices.Concat(results...), nil)
}

// atOnce runs fn on every worker's goroutine at once, with the worker's
// place in partition order, and waits for all of them.
func (e *Engine) atOnce(fn func(i int, w *worker)) {
	var wg sync.WaitGroup
	for i, p := range sortedPartitions(e.workers) {
		w := e.workers[p]
		wg.Add(1)
		w.jobs <- func() { defer wg.Done(); fn(i, w) }
	}
	wg.Wait()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// waited records a wait of the poll loop at a checkpoint's phase.
func (e *Engine) waited(phase string, total *atomic.Int64, d time.Duration) {
	total.Add(int64(d))
	e.metrics.checkpointSeconds.WithLabelValues(phase).Observe(d.Seconds())
}

// endTxn ends the open transaction (or, with none open, resets the
// session after a rebalance) and reports whether it committed.
func (e *Engine) endTxn(ctx context.Context, try kgo.TransactionEndTry) bool {
	wasOpen := e.inTxn
	ectx, cancel := context.WithCancel(ctx)
	w := &endWatch{cancel: cancel, done: make(chan struct{})}
	e.ending.Store(w)
	if e.commitSoon.Load() {
		e.watchEnd()
	}
	committed, err := e.sess.End(ectx, try)
	e.ending.Store(nil)
	close(w.done)
	cancel()
	if err != nil && ctx.Err() == nil {
		// An End that failed may leave the client in the transaction;
		// ending it again as an abort (the documented retry)
		// re-initialises the producer id, which makes the broker abort
		// whatever this transaction left open.
		if w.gaveUp.Load() {
			err = fmt.Errorf("gave up ending the transaction (%v)", err)
		}
		if _, aerr := e.sess.End(ctx, kgo.TryAbort); aerr != nil {
			err = fmt.Errorf("%w; then aborting it: %w", err, aerr)
		}
	}
	e.inTxn = false
	perr := e.produceErr.Swap(nil)
	switch {
	case committed:
		e.counters.commits.Add(1)
		e.metrics.checkpoints.Inc()
		return true
	case err != nil && ctx.Err() == nil:
		e.log.Error("transaction failed; restoring from the changelog", "err", err)
		switch {
		case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
			e.fail(fmt.Errorf("transaction: %w", err))
		case errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch):
			// this producer is dead; see renewSession
			e.renew = err
		}
	case perr != nil:
		e.log.Error("outputs were refused; transaction aborted", "err", *perr)
	}
	if wasOpen {
		e.counters.aborts.Add(1)
	}
	return false
}

// endWatch is a transaction end in progress.
type endWatch struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when End has returned
	armed  atomic.Bool
	gaveUp atomic.Bool // cancel was called
}

// watchEnd gives up on the transaction end in progress if it does not
// return within the session timeout while a rebalance callback waits for
// the poll loop (BlockRebalanceOnPoll). End waits for a heartbeat, or for
// the revoke or lost callback; when the group session was lost (the broker
// expired the member, e.g. after it stalled longer than the session
// timeout) no heartbeat runs any more and the lost callback waits for the
// poll loop, which waits in End: without this the engine would never
// resume. There End has not asked the broker to commit, so giving up
// cancels it; endTxn then aborts the transaction and the partitions are
// restored. (An End slow for another reason while a rebalance waits, a
// commit request the broker takes longer than the session timeout to
// answer, is given up too; the client then treats the commit as
// unconfirmed and re-initialises its producer id.)
func (e *Engine) watchEnd() {
	w := e.ending.Load()
	if w == nil || !w.armed.CompareAndSwap(false, true) {
		return
	}
	go func() {
		t := time.NewTimer(e.cfg.SessionTimeout)
		defer t.Stop()
		select {
		case <-w.done:
		case <-t.C:
			e.log.Warn("ending the transaction is stuck behind a rebalance that waits for it (the group session was lost?); aborting the transaction",
				"waited", e.cfg.SessionTimeout)
			w.gaveUp.Store(true)
			w.cancel()
		}
	}()
}

// fail records an error that stops the engine; Run returns the first one.
func (e *Engine) fail(err error) {
	e.log.Error("engine stopping", "err", err)
	e.fatal.CompareAndSwap(nil, &err)
	if e.stop != nil {
		e.stop()
	}
}

// poisoned collects the records whose Apply panicked in this batch.
func (e *Engine) poisoned() bool {
	any := false
	for _, w := range e.workers {
		if w.poisoned != nil {
			e.mu.Lock()
			e.poison[w.poisoned.source] = w.poisoned.msg
			e.poisons.Store(int32(len(e.poison)))
			e.mu.Unlock()
			any = true
		}
	}
	return any
}

// poisonReason reports whether a record's Apply panicked before, and how.
func (e *Engine) poisonReason(r *kgo.Record) (string, bool) {
	if e.poisons.Load() == 0 {
		return "", false
	}
	src := source(r)
	e.mu.Lock()
	defer e.mu.Unlock()
	msg, ok := e.poison[src]
	return msg, ok
}

// restoreAll replaces every worker by one restored from the changelog (the
// state of the last commit).
func (e *Engine) restoreAll(ctx context.Context) {
	parts := sortedPartitions(e.workers)
	e.dropWorkers(parts, false)
	if err := e.startWorkers(ctx, parts); err != nil {
		e.fail(err)
	}
}

// onAssigned starts a worker per newly assigned partition number, restored
// from the changelog before any record is consumed.
func (e *Engine) onAssigned(ctx context.Context, _ *kgo.Client, assigned map[string][]int32) {
	defer e.readyOnce.Do(func() { close(e.ready) })
	e.rebalanced = true
	var fresh []int32
	for _, p := range partitionNumbers(assigned) {
		if _, ok := e.workers[p]; !ok {
			fresh = append(fresh, p)
		}
	}
	if err := e.startWorkers(ctx, fresh); err != nil {
		e.fail(err)
	}
}

// onRevoked stops the workers of revoked partitions. Their uncommitted work
// is dropped: the session aborts the open transaction.
func (e *Engine) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	e.rebalanced = true
	if parts := partitionNumbers(revoked); len(parts) > 0 {
		e.dropWorkers(parts, true)
		e.log.Info("partitions revoked", "partitions", parts)
	}
}

// onLost drops the workers of lost partitions: another member may already
// own them.
func (e *Engine) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	e.rebalanced = true
	parts := partitionNumbers(lost)
	e.dropWorkers(parts, true)
	e.log.Warn("partitions lost", "partitions", parts)
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

func (e *Engine) dropWorkers(parts []int32, fromStore bool) {
	for _, p := range parts {
		w, ok := e.workers[p]
		if !ok {
			continue
		}
		w.stop()
		if fromStore {
			e.store.drop(append(sortedIDs(w.twins), sortedIDs(w.raw)...))
		}
		delete(e.workers, p)
		if ts := e.paused[p]; len(ts) > 0 {
			delete(e.paused, p)
			e.client.ResumeFetchPartitions(topicsOf(sortedIDs(ts), p))
		}
		e.mu.Lock()
		delete(e.owned, p)
		delete(e.ends, p)
		e.mu.Unlock()
	}
	e.metrics.partitions.Set(float64(len(e.workers)))
	e.resetCity()
}

// startWorkers restores partitions from the changelog (retrying while the
// broker is not ready) and starts their workers.
func (e *Engine) startWorkers(ctx context.Context, parts []int32) error {
	if len(parts) == 0 {
		return nil
	}
	start := time.Now()
	var ws map[int32]*worker
	var err error
	for attempt := range 100 {
		ws, err = e.restore(ctx, parts)
		if err == nil || errors.Is(err, errBadSnapshot) || ctx.Err() != nil {
			break
		}
		e.log.Warn("restore: retrying", "partitions", parts, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if err != nil {
		return fmt.Errorf("restore partitions %v from %s: %w", parts, e.cfg.Topics.State(), err)
	}
	n := 0
	for _, p := range parts {
		w := ws[p]
		ids := sortedIDs(w.raw)
		n += len(ids)
		w.warm(ids)
		go w.run()
		e.workers[p] = w
		e.mu.Lock()
		e.owned[p] = true
		e.mu.Unlock()
	}
	e.metrics.partitions.Set(float64(len(e.workers)))
	e.metrics.restored.Add(float64(n))
	e.resetCity()
	// the twins are decoded in the background, or when an event needs them
	e.log.Info("partitions restored", "partitions", parts, "twins", n, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// restore builds workers for partitions from the committed changelog, the
// committed input offsets, the inputs' stable offsets and the input records
// that were waiting at the last commit (read again from their topics).
func (e *Engine) restore(ctx context.Context, parts []int32) (map[int32]*worker, error) {
	cps, err := ReadChangelog(ctx, e.cfg.Brokers, e.cfg.ClientID+"-restore", e.cfg.Topics.State(), parts)
	if err != nil {
		return nil, err
	}
	committed, err := e.adm.FetchOffsets(ctx, e.cfg.Group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("fetch committed offsets: %w", err)
	}
	starts, err := e.adm.ListStartOffsets(ctx, e.inputs...)
	if err != nil {
		return nil, fmt.Errorf("list input start offsets: %w", err)
	}
	stable, err := e.adm.ListCommittedOffsets(ctx, e.inputs...)
	if err != nil {
		return nil, fmt.Errorf("list input stable offsets: %w", err)
	}
	out := make(map[int32]*worker, len(parts))
	for _, p := range parts {
		w := newWorker(e, p)
		pos := make([]int64, len(e.inputs))
		for i, topic := range e.inputs {
			s, ok := starts.Lookup(topic, p)
			if !ok || s.Err != nil {
				return nil, fmt.Errorf("input %s partition %d: no start offset", topic, p)
			}
			pos[i] = s.Offset
			if c, ok := committed.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
				pos[i] = max(pos[i], c.At)
			}
			// Without its stable offset a topic would count as read to its
			// end, and the merge could apply another topic's later records
			// before its earlier ones: the restore is tried again instead.
			l, ok := stable.Lookup(topic, p)
			if !ok || l.Err != nil {
				return nil, fmt.Errorf("input %s partition %d: no stable offset (%v)", topic, p, l.Err)
			}
			w.end[i] = l.Offset
		}
		copy(w.polled, pos)
		// the city stream: from the start of the city partition unless
		// the partition record says where it stopped
		weather, k := e.cfg.Topics.Input(twin.StreamWeather), e.cityPartition()
		if s, ok := starts.Lookup(weather, k); ok && s.Err == nil {
			w.polled[e.cityIdx()] = s.Offset
		}
		l, ok := stable.Lookup(weather, k)
		if !ok || l.Err != nil {
			return nil, fmt.Errorf("city stream %s partition %d: no stable offset (%v)", weather, k, l.Err)
		}
		w.end[e.cityIdx()] = l.Offset
		out[p] = w
	}
	metas := make(map[int32]*partitionRecord, len(parts))
	ranges := map[int32][]waitingRange{}
	for _, p := range parts {
		meta, err := decodeMeta(cps[p].Meta)
		if err != nil {
			return nil, fmt.Errorf("partition %d: %w", p, err)
		}
		metas[p] = meta
		if meta.CityNext != nil {
			out[p].polled[e.cityIdx()] = max(*meta.CityNext, out[p].polled[e.cityIdx()])
		}
		for _, r := range meta.Waiting {
			from, to := r.From, r.To
			if s, ok := starts.Lookup(r.Topic, p); ok && s.Err == nil && s.Offset > from {
				from = s.Offset
			}
			if l, ok := stable.Lookup(r.Topic, p); ok && l.Err == nil && l.Offset < to {
				to = l.Offset
			}
			if from != r.From || to != r.To {
				e.log.Error("restore: records that were waiting to be applied are gone from their topic (retention, or the topic was recreated); the twins will lack them",
					"topic", r.Topic, "partition", p, "waiting_from", r.From, "waiting_to", r.To, "readable_from", from, "readable_to", to)
			}
			ranges[p] = append(ranges[p], waitingRange{Topic: r.Topic, From: from, To: to, Records: r.Records})
		}
	}
	waiting, err := readWaiting(ctx, e.cfg.Brokers, e.cfg.ClientID+"-restore", ranges)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() { errs[i] = out[p].load(cps[p], metas[p], waiting[p]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// probe checks the broker every two seconds, computes the lag of the owned
// partitions and learns the inputs' stable offsets, until ctx ends.
func (e *Engine) probe(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := e.boot.Ping(pctx)
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

// updateLag computes the lag (stable end offset minus committed offset,
// over the owned input partitions) and hands the stable offsets to the
// poll loop for the workers.
func (e *Engine) updateLag(ctx context.Context) error {
	stable, err := e.adm.ListCommittedOffsets(ctx, e.inputs...)
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
	stable.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || !e.owned[o.Partition] {
			return
		}
		i := slices.Index(e.inputs, o.Topic)
		if i < 0 {
			return
		}
		e.endsOf(o.Partition)[i] = o.Offset
		var at int64
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil {
			at = c.At
		}
		if o.Offset > at {
			lag += o.Offset - at
		}
	})
	if c, ok := stable.Lookup(e.cfg.Topics.Input(twin.StreamWeather), e.cityPartition()); ok && c.Err == nil {
		for p := range e.owned {
			e.endsOf(p)[e.cityIdx()] = c.Offset
		}
	}
	e.lagValue.Store(lag)
	e.metrics.lag.Set(float64(lag))
	return nil
}

// endsOf returns the stable offsets learnt for a partition's inputs and
// city stream (-1: unknown), creating them. The caller holds e.mu.
func (e *Engine) endsOf(p int32) []int64 {
	if e.ends[p] == nil {
		e.ends[p] = make([]int64, len(e.inputs)+1)
		for j := range e.ends[p] {
			e.ends[p][j] = -1
		}
	}
	return e.ends[p]
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
