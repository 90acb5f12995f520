package statefun

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	sdk "github.com/apache/flink-statefun/statefun-sdk-go/v3/pkg/statefun"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// ApplyFunc applies an event to a twin; twin.Apply is the only one a
// deployment uses. Tests inject faults through it.
type ApplyFunc func(*twin.ProjectTwin, *twin.Event, *twin.Rules) (twin.Effects, error)

// Config configures a Server. Zero values take the defaults named on each
// field.
type Config struct {
	// Rules is the rule pack. Default twin.DefaultRules().
	Rules *twin.Rules
	// Models are the prediction models run after the events they need
	// (nil: none). Cheap ones run inline; expensive ones once per
	// Debounce per project and model.
	Models *predict.Registry
	// TopicPrefix names the output topics: <prefix>.alerts,
	// <prefix>.deadletter, <prefix>.outbox, and the input topics in
	// dead-letter reasons. Default "sitetwin".
	TopicPrefix string
	// Debounce is how long after an event an expensive model runs on the
	// twin as it is then; events meanwhile add no further run. Default 5s.
	Debounce time.Duration
	// PredictTimeout bounds one model run. Default 10s.
	PredictTimeout time.Duration
	// MaxRequestBytes bounds a request body. Default 256 MiB.
	MaxRequestBytes int64
	// Logger receives the logs. Default slog.Default().
	Logger *slog.Logger
	// Apply applies events. Default twin.Apply.
	Apply ApplyFunc
}

// Server is the http.Handler of the remote functions (sitetwin/project and
// sitetwin/city) for the StateFun runtime's request-reply protocol. It is
// safe for concurrent use; the runtime sends at most one request per
// function instance at a time.
type Server struct {
	cfg     Config
	log     *slog.Logger
	handler sdk.RequestReplyHandler

	poisonMu sync.Mutex
	poisoned map[uint64]string // message digest -> panic message
	poisonQ  []uint64          // insertion order, for eviction

	stats struct {
		batches, invocations, applied, duplicates, deadLetters, forwarded, alerts, panics, errors atomic.Int64
	}
}

// maxPoisoned bounds the panics remembered.
const maxPoisoned = 4096

// New validates the configuration and returns a Server.
func New(cfg Config) (*Server, error) {
	var errs []error
	if cfg.Debounce < 0 {
		errs = append(errs, fmt.Errorf("statefun: Debounce must not be negative, is %s", cfg.Debounce))
	}
	if cfg.PredictTimeout < 0 {
		errs = append(errs, fmt.Errorf("statefun: PredictTimeout must not be negative, is %s", cfg.PredictTimeout))
	}
	if cfg.MaxRequestBytes < 0 {
		errs = append(errs, fmt.Errorf("statefun: MaxRequestBytes must not be negative, is %d", cfg.MaxRequestBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Rules == nil {
		cfg.Rules = twin.DefaultRules()
	}
	if cfg.TopicPrefix == "" {
		cfg.TopicPrefix = "sitetwin"
	}
	if cfg.Debounce == 0 {
		cfg.Debounce = 5 * time.Second
	}
	if cfg.PredictTimeout == 0 {
		cfg.PredictTimeout = 10 * time.Second
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = 256 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Apply == nil {
		cfg.Apply = twin.Apply
	}
	s := &Server{cfg: cfg, log: cfg.Logger, poisoned: map[uint64]string{}}
	b := sdk.StatefulFunctionsBuilder()
	if err := b.WithSpec(sdk.StatefulFunctionSpec{FunctionType: ProjectFunction, States: []sdk.ValueSpec{projectSpec}, Function: &projectFn{s: s}}); err != nil {
		return nil, fmt.Errorf("statefun: register %s: %w", ProjectFunction, err)
	}
	if err := b.WithSpec(sdk.StatefulFunctionSpec{FunctionType: CityFunction, States: []sdk.ValueSpec{citySpec}, Function: &cityFn{s: s}}); err != nil {
		return nil, fmt.Errorf("statefun: register %s: %w", CityFunction, err)
	}
	s.handler = b.AsHandler()
	return s, nil
}

// Stats counts what the server did since it started.
type Stats struct {
	Batches     int64 // requests answered with an InvocationResult or an IncompleteInvocationContext
	Invocations int64 // messages handled
	Applied     int64 // events applied to a twin (duplicates included)
	Duplicates  int64 // events a twin had applied before
	DeadLetters int64 // messages sent to the dead-letter topic
	Forwarded   int64 // events sent on to the function they belong to
	Alerts      int64 // alert records sent
	Panics      int64 // messages whose handling panicked (answered 500, dead-lettered when retried)
	Errors      int64 // requests answered 4xx or 5xx
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Batches: s.stats.batches.Load(), Invocations: s.stats.invocations.Load(), Applied: s.stats.applied.Load(),
		Duplicates: s.stats.duplicates.Load(), DeadLetters: s.stats.deadLetters.Load(), Forwarded: s.stats.forwarded.Load(),
		Alerts: s.stats.alerts.Load(), Panics: s.stats.panics.Load(), Errors: s.stats.errors.Load(),
	}
}

// ServeHTTP answers one request of the runtime: a POST of a ToFunction
// protobuf, answered with a FromFunction protobuf and Content-Type
// application/octet-stream (the SDK does not set it; the Java runtime
// rejects anything else). A malformed request is answered 400; a failure
// (a panic, a state this build cannot read) 500, which makes the runtime
// retry the batch. Events that cannot be applied never fail a request:
// they go to the dead-letter topic.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(code int, msg string) {
		s.stats.errors.Add(1)
		http.Error(w, msg, code)
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "use POST with a StateFun ToFunction request")
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/octet-stream" {
		fail(http.StatusUnsupportedMediaType, "Content-Type must be application/octet-stream")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxRequestBytes))
	if err != nil {
		fail(http.StatusBadRequest, "read request: "+err.Error())
		return
	}
	out, err := s.Invoke(r.Context(), body)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrBadRequest) {
			code = http.StatusBadRequest
		}
		if code == http.StatusInternalServerError {
			s.log.Error("statefun batch failed; the runtime will retry it", "err", err)
		} else {
			s.log.Warn("bad statefun request", "err", err)
		}
		fail(code, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(out) //nolint:errcheck // the runtime retries a request it did not get the answer to
}

// ErrBadRequest is wrapped by Invoke's error when the payload is not a
// ToFunction invocation request.
var ErrBadRequest = errors.New("not a StateFun invocation request")

// Invoke answers one ToFunction payload with a FromFunction payload, as
// ServeHTTP does without HTTP. A panic anywhere becomes an error (the SDK
// would otherwise end the process with log.Fatal on a panic whose value is
// not an error).
func (s *Server) Invoke(ctx context.Context, payload []byte) (out []byte, err error) {
	n, ok := countInvocations(payload)
	if !ok {
		return nil, fmt.Errorf("%w: no invocation batch in %d bytes", ErrBadRequest, len(payload))
	}
	defer func() {
		if v := recover(); v != nil {
			s.stats.panics.Add(1)
			out, err = nil, fmt.Errorf("invocation batch panicked: %v", v)
		}
	}()
	b := &batch{total: n}
	out, err = s.handler.Invoke(context.WithValue(ctx, batchKey{}, b), payload)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	s.stats.batches.Add(1)
	return out, nil
}

// batch is what the functions keep across the messages of one request (all
// for one function instance): the decoded state, so that it is decoded
// once and encoded once per batch, not once per message.
type batch struct {
	total   int // invocations in the request
	seen    int // messages handled so far
	project *ProjectState
	city    *CityState
	dirty   bool
}

type batchKey struct{}

// batchOf returns the request's batch, or nil when the function is called
// without one (then state is read and written on every message).
func batchOf(ctx context.Context) *batch {
	b, _ := ctx.Value(batchKey{}).(*batch)
	return b
}

// last reports, after a message, whether it was the batch's last, and
// counts it.
func (b *batch) last() bool {
	if b == nil {
		return true
	}
	b.seen++
	return b.seen >= b.total
}

// countInvocations counts the invocations of a ToFunction payload
// (ToFunction.invocation = 100; InvocationBatchRequest.invocations = 3),
// and reports whether it is an invocation request at all.
func countInvocations(p []byte) (int, bool) {
	var req []byte
	found := false
	for len(p) > 0 {
		num, typ, n := protowire.ConsumeTag(p)
		if n < 0 {
			return 0, false
		}
		p = p[n:]
		if num == 100 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(p)
			if n < 0 || found {
				return 0, false
			}
			req, found, p = v, true, p[n:]
			continue
		}
		if n = protowire.ConsumeFieldValue(num, typ, p); n < 0 {
			return 0, false
		}
		p = p[n:]
	}
	if !found {
		return 0, false
	}
	count, target := 0, false
	for len(req) > 0 {
		num, typ, n := protowire.ConsumeTag(req)
		if n < 0 {
			return 0, false
		}
		req = req[n:]
		if n = protowire.ConsumeFieldValue(num, typ, req); n < 0 {
			return 0, false
		}
		req = req[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			target = true
		case num == 3 && typ == protowire.BytesType:
			count++
		}
	}
	return count, target
}

// poison remembers that handling a message panicked, so that the retried
// batch dead-letters it instead of panicking again.
func (s *Server) poison(key uint64, v any) {
	s.stats.panics.Add(1)
	s.poisonMu.Lock()
	defer s.poisonMu.Unlock()
	if _, ok := s.poisoned[key]; ok {
		return
	}
	if len(s.poisonQ) >= maxPoisoned {
		delete(s.poisoned, s.poisonQ[0])
		s.poisonQ = s.poisonQ[1:]
	}
	s.poisoned[key] = fmt.Sprint(v)
	s.poisonQ = append(s.poisonQ, key)
}

// poisonReason returns the panic a message caused before, if any.
func (s *Server) poisonReason(key uint64) (string, bool) {
	s.poisonMu.Lock()
	defer s.poisonMu.Unlock()
	msg, ok := s.poisoned[key]
	return msg, ok
}

// messageKey digests a message for the poison memory: the function
// instance, the value type and the value.
func messageKey(self sdk.Address, msg *sdk.Message) uint64 {
	h := fnv.New64a()
	io.WriteString(h, self.FunctionType.String()+"\x00"+self.Id+"\x00"+msg.ValueTypeName().String()+"\x00") //nolint:errcheck // a hash does not fail
	h.Write(msg.RawValue())                                                                                 //nolint:errcheck // a hash does not fail
	return h.Sum64()
}
