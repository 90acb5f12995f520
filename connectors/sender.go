package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// SenderConfig configures a Sender. Zero values take the defaults named on
// each field.
type SenderConfig struct {
	// Brokers are the seed brokers. Required.
	Brokers []string
	// Group is the sender's consumer group. Default "sitetwin-sender".
	Group string
	// Prefix is the topic prefix: the outbox is "<prefix>.outbox" and the
	// answers go to the input topic of their type. Default "sitetwin".
	Prefix string
	// Filing and Funds are the platforms. A nil one: its requests are
	// skipped and counted (outcome no_connector).
	Filing FilingPlatform
	Funds  FundPlatform
	// MaxAttempts is how often a request is tried before it is recorded
	// as undelivered. Default 8.
	MaxAttempts int
	// Backoff is the wait after the first failed attempt; it doubles after
	// each further one, up to MaxBackoff. Defaults 250ms and 30s.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// PollChanges is how often the filing platform is asked for review
	// steps. Default 2s.
	PollChanges time.Duration
	// Registerer receives the sender's metrics. Default a private registry.
	Registerer prometheus.Registerer
	// Logger receives the sender's logs. Default slog.Default().
	Logger *slog.Logger
	// ClientID names the sender to the brokers. Default "sitetwin-sender".
	ClientID string
	// Now is the clock of the answers the sender writes itself (refusals,
	// undelivered requests). Default time.Now.
	Now func() time.Time
}

// Outcomes of an outbox request, the label of sitetwin_outbox_requests_total.
const (
	OutcomeAccepted    = "accepted"     // the platform accepted it
	OutcomeRejected    = "rejected"     // the platform refused it (reason recorded)
	OutcomeUndelivered = "undelivered"  // given up after MaxAttempts (reason recorded; outcome unknown)
	OutcomeDrill       = "drill"        // a drill's request: never sent
	OutcomeNoConnector = "no_connector" // no platform for its kind
	OutcomeMalformed   = "malformed"    // not an outbox record
)

// Sender drains the outbox topic (read-committed: only requests whose
// decision was committed with the twin's state), sends each request to its
// platform with retries and exponential backoff, and produces the answers
// back into the input topics as events, then commits the outbox offsets.
// A request is retried with the same idempotency key, so a platform that
// honours keys acts on it once however often the sender is killed and
// restarted; the answers have ids derived from the key, so the twin counts
// them once. It also follows the filing platform's review steps.
type Sender struct {
	cfg SenderConfig
	log *slog.Logger
	m   senderMetrics
}

type senderMetrics struct {
	requests *prometheus.CounterVec // kind, outcome
	attempts *prometheus.CounterVec // kind, result
	seconds  *prometheus.HistogramVec
	changes  prometheus.Counter
	produce  prometheus.Counter
}

// NewSender checks the configuration and registers the metrics.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if len(cfg.Brokers) == 0 {
		return nil, errors.New("sender: no brokers given")
	}
	if cfg.Group == "" {
		cfg.Group = "sitetwin-sender"
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "sitetwin"
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 250 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.PollChanges <= 0 {
		cfg.PollChanges = 2 * time.Second
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "sitetwin-sender"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m := senderMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sitetwin_outbox_requests_total",
			Help: "Outbox requests handled, by kind and outcome (accepted, rejected, undelivered, drill, no_connector, malformed)."}, []string{"kind", "outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sitetwin_outbox_attempts_total",
			Help: "Attempts to deliver outbox requests, by kind and result (ok, refused, transient: retried)."}, []string{"kind", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "sitetwin_outbox_request_seconds",
			Help: "Time from the first attempt of a request to its outcome, by kind.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"kind"}),
		changes: prometheus.NewCounter(prometheus.CounterOpts{Name: "sitetwin_filing_changes_total",
			Help: "Filing review steps read from the filing platform and produced as events."}),
		produce: prometheus.NewCounter(prometheus.CounterOpts{Name: "sitetwin_outbox_produce_errors_total",
			Help: "Failed attempts to produce answers back into the input topics (retried; the outbox offsets are not committed before)."}),
	}
	for _, kind := range []string{twin.OutboundFiling, twin.OutboundDisbursement} {
		for _, o := range []string{OutcomeAccepted, OutcomeRejected, OutcomeUndelivered, OutcomeDrill} {
			m.requests.WithLabelValues(kind, o)
		}
	}
	for _, c := range []prometheus.Collector{m.requests, m.attempts, m.seconds, m.changes, m.produce} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("sender metrics: %w", err)
		}
	}
	return &Sender{cfg: cfg, log: cfg.Logger, m: m}, nil
}

func (s *Sender) topic(eventType string) string { return s.cfg.Prefix + "." + twin.StreamOf(eventType) }

// Run drains the outbox until ctx ends, then returns nil; it returns an
// error only if it cannot start. A batch in progress when ctx ends is not
// committed: its requests are sent again (with the same keys) next time.
func (s *Sender) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(s.cfg.Brokers...),
		kgo.ClientID(s.cfg.ClientID),
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(s.cfg.Prefix+".outbox"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.AllowAutoTopicCreation(),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	// with BlockRebalanceOnPoll a plain Close would wait for a rebalance that
	// a stopped poll loop never allows
	defer cl.CloseAllowingRebalance()
	var wg sync.WaitGroup
	if s.cfg.Filing != nil {
		wg.Go(func() { s.followChanges(ctx, cl) })
	}
	defer wg.Wait()
	for ctx.Err() == nil {
		fs := cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(topic string, p int32, err error) {
			s.log.Warn("sender: fetch", "topic", topic, "partition", p, "err", err)
		})
		var parts [][]*kgo.Record
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if len(p.Records) > 0 {
				parts = append(parts, p.Records)
			}
		})
		if len(parts) == 0 {
			cl.AllowRebalance()
			continue
		}
		// one goroutine per partition, each in offset order
		answers := make([][]*kgo.Record, len(parts))
		var pw sync.WaitGroup
		for i, recs := range parts {
			pw.Go(func() {
				for _, r := range recs {
					if ctx.Err() != nil {
						return
					}
					answers[i] = append(answers[i], s.handle(ctx, r)...)
				}
			})
		}
		pw.Wait()
		if ctx.Err() != nil {
			break // not committed: sent again after a restart, under the same keys
		}
		var out []*kgo.Record
		for _, a := range answers {
			out = append(out, a...)
		}
		if !s.produce(ctx, cl, out) {
			break
		}
		var all []*kgo.Record
		for _, recs := range parts {
			all = append(all, recs...)
		}
		if err := cl.CommitRecords(ctx, all...); err != nil && ctx.Err() == nil {
			s.log.Warn("sender: commit outbox offsets (the requests will be sent again, under the same keys)", "err", err)
		}
		cl.AllowRebalance()
	}
	return nil
}

// produce writes answers, retrying until they are acknowledged or ctx ends.
func (s *Sender) produce(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) bool {
	wait := s.cfg.Backoff
	for {
		if len(recs) == 0 {
			return true
		}
		err := cl.ProduceSync(ctx, recs...).FirstErr()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.m.produce.Inc()
		s.log.Warn("sender: producing answers failed; retrying", "err", err, "wait", wait)
		if !sleep(ctx, wait) {
			return false
		}
		wait = min(2*wait, s.cfg.MaxBackoff)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// errUndelivered is what retry returns after MaxAttempts transient errors.
var errUndelivered = errors.New("undelivered")

// retry calls fn until it succeeds, is refused, or has failed MaxAttempts
// times, waiting Backoff, 2 Backoff, ... (at most MaxBackoff) between.
func (s *Sender) retry(ctx context.Context, kind, key string, fn func() error) error {
	wait := s.cfg.Backoff
	var err error
	for attempt := 1; ; attempt++ {
		err = fn()
		switch {
		case err == nil:
			s.m.attempts.WithLabelValues(kind, "ok").Inc()
			return nil
		case errors.Is(err, ErrRefused):
			s.m.attempts.WithLabelValues(kind, "refused").Inc()
			return err
		case ctx.Err() != nil:
			return ctx.Err()
		}
		s.m.attempts.WithLabelValues(kind, "transient").Inc()
		if attempt >= s.cfg.MaxAttempts {
			return fmt.Errorf("%w: gave up after %d attempts: %w", errUndelivered, attempt, err)
		}
		s.log.Debug("sender: retrying", "kind", kind, "key", key, "attempt", attempt, "wait", wait, "err", err)
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, s.cfg.MaxBackoff)
	}
}

// handle sends one outbox request and returns the answer records (none
// when the request is skipped, or ctx ended).
func (s *Sender) handle(ctx context.Context, r *kgo.Record) []*kgo.Record {
	var o twin.Outbound
	if err := json.Unmarshal(r.Value, &o); err != nil || o.Key == "" || o.Project == "" || o.Kind == "" {
		s.m.requests.WithLabelValues("unknown", OutcomeMalformed).Inc()
		s.log.Error("sender: an outbox record that is not a request; skipped", "partition", r.Partition, "offset", r.Offset, "err", err)
		return nil
	}
	if o.Drill != "" {
		s.m.requests.WithLabelValues(o.Kind, OutcomeDrill).Inc()
		return nil
	}
	start := time.Now()
	var evs []*twin.Event
	var err error
	switch o.Kind {
	case twin.OutboundFiling:
		if s.cfg.Filing == nil {
			break
		}
		evs, err = s.file(ctx, &o)
	case twin.OutboundDisbursement:
		if s.cfg.Funds == nil {
			break
		}
		evs, err = s.disburse(ctx, &o)
	}
	if ctx.Err() != nil {
		return nil
	}
	if evs == nil && err == nil {
		s.m.requests.WithLabelValues(o.Kind, OutcomeNoConnector).Inc()
		return nil
	}
	s.m.seconds.WithLabelValues(o.Kind).Observe(time.Since(start).Seconds())
	outcome := OutcomeAccepted
	var ref *Refusal
	switch {
	case errors.As(err, &ref):
		outcome = OutcomeRejected
	case err != nil:
		outcome = OutcomeUndelivered
	}
	s.m.requests.WithLabelValues(o.Kind, outcome).Inc()
	if err != nil {
		s.log.Warn("sender: request not carried out; recorded", "kind", o.Kind, "project", o.Project, "key", o.Key, "outcome", outcome, "reason", err)
	}
	var out []*kgo.Record
	for _, ev := range evs {
		b, err := twin.Encode(ev)
		if err != nil {
			s.log.Error("sender: encode answer", "event", ev.ID, "err", err)
			continue
		}
		out = append(out, &kgo.Record{Topic: s.topic(ev.Type), Key: []byte(ev.Project), Value: b})
	}
	return out
}

// answerTime is the time of an answer the sender writes itself, to the
// second.
func (s *Sender) answerTime() time.Time { return s.cfg.Now().UTC().Truncate(time.Second) }

func (s *Sender) file(ctx context.Context, o *twin.Outbound) ([]*twin.Event, error) {
	f := o.Fields
	req := FilingRequest{
		Kind: f["filing_kind"], Project: o.Project, Name: f["name"], District: f["district"], Address: f["address"],
		PermitNumber: f["permit_number"], Owner: f["owner"], Contractor: f["contractor"], Supervisor: f["supervisor"],
		SupervisionFilingNumber: f["supervision_filing_number"], SafetyFilingNumber: f["safety_filing_number"],
	}
	if f["sites"] != "" {
		req.Sites = strings.Split(f["sites"], ",")
	}
	var rc FilingReceipt
	err := s.retry(ctx, o.Kind, o.Key, func() (err error) {
		rc, err = s.cfg.Filing.Submit(ctx, o.Key, req)
		return err
	})
	ev := &twin.Event{Source: "sitetwin-sender/filing-platform", Project: o.Project}
	var ref *Refusal
	switch {
	case err == nil:
		ev.ID, ev.Type, ev.Time = "sender/"+o.Key+"/accepted", twin.TypeFilingAccepted, rc.Submitted
		ev.Data = &twin.FilingAnswer{Request: o.Key, Kind: req.Kind, Filing: rc.Filing, Receipt: rc.Receipt, Stage: rc.Stage}
	case errors.As(err, &ref):
		ev.ID, ev.Type, ev.Time = "sender/"+o.Key+"/rejected", twin.TypeFilingRejected, s.answerTime()
		ev.Data = &twin.FilingAnswer{Request: o.Key, Kind: req.Kind, Reason: clip(ref.Reason), Code: ref.Code, Existing: ref.Existing}
	case errors.Is(err, errUndelivered):
		ev.ID, ev.Type, ev.Time = "sender/"+o.Key+"/undelivered", twin.TypeFilingRejected, s.answerTime()
		ev.Data = &twin.FilingAnswer{Request: o.Key, Kind: req.Kind, Reason: clip(err.Error()), Code: twin.CodeUndelivered}
	default:
		return nil, err
	}
	return []*twin.Event{ev}, err
}

func (s *Sender) disburse(ctx context.Context, o *twin.Outbound) ([]*twin.Event, error) {
	f := o.Fields
	amount, perr := strconv.ParseFloat(f["amount_cny"], 64)
	d := Disbursement{Project: o.Project, Milestone: f["milestone"], AmountCNY: amount, Decision: f["decision"], Reasons: f["reasons"]}
	ev := &twin.Event{Source: "sitetwin-sender/fund-platform", Project: o.Project}
	if perr != nil || d.Milestone == "" || d.Decision == "" || amount <= 0 {
		// a request no platform can carry out: recorded, never sent
		err := &Refusal{Code: "invalid_request", Reason: fmt.Sprintf("the outbox request has no valid milestone, decision or amount_cny (%q)", f["amount_cny"])}
		ev.ID, ev.Type, ev.Time = "sender/"+o.Key+"/rejected", twin.TypeDisbursementRejected, s.answerTime()
		ev.Data = &twin.DisbursementAnswer{Request: o.Key, Decision: cmpOr(d.Decision, "unknown"), Milestone: cmpOr(d.Milestone, "unknown"), AmountCNY: max(amount, 0.01), Reason: err.Reason, Code: err.Code}
		return []*twin.Event{ev}, err
	}
	var rc DisbursementReceipt
	err := s.retry(ctx, o.Kind, o.Key, func() (err error) {
		rc, err = s.cfg.Funds.Disburse(ctx, o.Key, d)
		return err
	})
	ans := &twin.DisbursementAnswer{Request: o.Key, Decision: d.Decision, Milestone: d.Milestone, AmountCNY: amount}
	ev.Data = ans
	var ref *Refusal
	switch {
	case err == nil:
		ev.ID, ev.Type, ev.Time = "sender/"+o.Key+"/accepted", twin.TypeDisbursementAccepted, rc.PaidAt
		ans.Receipt, ans.Account = rc.Receipt, safeID(rc.Account)
	case errors.As(err, &ref):
		ev.ID, ev.Type, ev.Time = "sender/"+o.Key+"/rejected", twin.TypeDisbursementRejected, s.answerTime()
		ans.Reason, ans.Code = clip(ref.Reason), ref.Code
	case errors.Is(err, errUndelivered):
		ev.ID, ev.Type, ev.Time = "sender/"+o.Key+"/undelivered", twin.TypeDisbursementRejected, s.answerTime()
		ans.Reason, ans.Code = clip(err.Error()), twin.CodeUndelivered
	default:
		return nil, err
	}
	return []*twin.Event{ev}, err
}

// followChanges polls the filing platform's review steps and produces
// them as filing.status_changed events. The cursor starts at 0 each run:
// the events' ids derive from the platform's sequence numbers, so the twin
// takes each once.
func (s *Sender) followChanges(ctx context.Context, cl *kgo.Client) {
	var cursor int64
	for {
		for ctx.Err() == nil {
			changes, next, err := s.cfg.Filing.Changes(ctx, cursor)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("sender: reading filing review steps", "err", err)
				}
				break
			}
			var recs []*kgo.Record
			for _, c := range changes {
				if c.Reference == "" || c.Project == "" {
					continue // a filing made elsewhere
				}
				ev := &twin.Event{
					ID: fmt.Sprintf("filing-platform/%s/%d", c.Filing, c.Seq), Type: twin.TypeFilingStatusChanged,
					Source: "sitetwin-sender/filing-platform", Time: c.At, Project: c.Project,
					Data: &twin.FilingStatusChanged{Request: c.Reference, Kind: c.Kind, Filing: c.Filing, Stage: c.Stage, Status: c.Status, Reasons: c.Reasons},
				}
				b, err := twin.Encode(ev)
				if err != nil {
					continue
				}
				recs = append(recs, &kgo.Record{Topic: s.topic(ev.Type), Key: []byte(ev.Project), Value: b})
			}
			if !s.produce(ctx, cl, recs) {
				return
			}
			s.m.changes.Add(float64(len(recs)))
			if next == cursor || len(changes) == 0 {
				break
			}
			cursor = next
		}
		if !sleep(ctx, s.cfg.PollChanges) {
			return
		}
	}
}

func clip(s string) string {
	if len(s) > 480 {
		return s[:480] + "…"
	}
	return s
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// safeID returns an account id the twin accepts, or "".
func safeID(s string) string {
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.:/@", r)
		if !ok || len(s) > 200 {
			return ""
		}
	}
	return s
}
