package counterparts

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Config sets how a counterpart service behaves. Start from DefaultConfig.
type Config struct {
	// Seed seeds the random choices (faults, latency, returned filings,
	// refused disbursements): the same seed and the same requests give the
	// same answers. Default 1.
	Seed uint64
	// ErrorRate is the fraction of requests that fail: a 500 or 503 before
	// anything is done, a 500 or a malformed body after the request was
	// carried out (the reply is lost, as on a real network). 0 (default):
	// none.
	ErrorRate float64
	// Latency delays every answer by a uniformly drawn time up to it.
	// 0 (default): none.
	Latency time.Duration
	// SlowRate is the fraction of answers delayed by SlowLatency instead
	// (a platform that answers slowly sometimes). 0 (default): none.
	SlowRate float64
	// SlowLatency is the delay of a slow answer. Default 5s.
	SlowLatency time.Duration
	// LedgerFile keeps the ledger (and the answers given to idempotency
	// keys) in this JSON file, rewritten atomically after every change and
	// read back at start. Empty (default): in memory only.
	LedgerFile string
	// StageTime is how long each review stage of a filing takes (the
	// filing service only). Default 2s.
	StageTime time.Duration
	// ReturnRate is the fraction of filings that a reviewer returns with
	// reasons at some stage, besides those returned for missing numbers
	// (the filing service only). Default 0.1.
	ReturnRate float64
	// RefuseRate is the fraction of disbursements refused for an
	// insufficient escrow balance (the fund service only). 0 (default):
	// none.
	RefuseRate float64
	// MaxAmountCNY is the largest single disbursement the fund service
	// accepts. Default 1e10.
	MaxAmountCNY float64
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives the service's logs. Default slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the default configuration: no faults, no latency,
// an in-memory ledger, 2 s per review stage, a tenth of filings returned.
func DefaultConfig() Config {
	return Config{Seed: 1, SlowLatency: 5 * time.Second, StageTime: 2 * time.Second, ReturnRate: 0.1, MaxAmountCNY: 1e10}
}

func (c *Config) check() error {
	var errs []error
	for name, r := range map[string]float64{"error rate": c.ErrorRate, "slow rate": c.SlowRate, "return rate": c.ReturnRate, "refuse rate": c.RefuseRate} {
		if r < 0 || r > 1 {
			errs = append(errs, fmt.Errorf("%s %g: must be from 0 to 1", name, r))
		}
	}
	if c.Latency < 0 || c.SlowLatency < 0 || c.StageTime < 0 {
		errs = append(errs, errors.New("latencies and stage time must not be negative"))
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.SlowLatency == 0 {
		c.SlowLatency = 5 * time.Second
	}
	if c.StageTime == 0 {
		c.StageTime = 2 * time.Second
	}
	if c.MaxAmountCNY <= 0 {
		c.MaxAmountCNY = 1e10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return errors.Join(errs...)
}

// ErrClosed is returned by a request made to a service that is not running
// (Run has returned); HTTP callers see 503.
var ErrClosed = errors.New("service stopped")

// Headers of the APIs.
const (
	// HeaderIdempotencyKey must accompany every POST: the same key always
	// gets the same answer, and the request is carried out once.
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderReplayed is "true" on an answer given again for a key seen
	// before.
	HeaderReplayed = "Idempotent-Replayed"
)

// APIError is the body of every error answer: a message for people, a
// code for programs, and the field at fault for a validation error.
type APIError struct {
	Error    string `json:"error"`
	Code     string `json:"code"`
	Field    string `json:"field,omitempty"`
	Existing string `json:"existing,omitempty"` // the filing a duplicate registration duplicates
}

// Error codes of APIError.
const (
	CodeInvalid     = "invalid"      // 422: a field is missing or wrong (Field names it)
	CodeDuplicate   = "duplicate"    // 409: the project is registered already (Existing names the filing)
	CodeKeyReused   = "key_reused"   // 422: an idempotency key sent again with another body
	CodeNoKey       = "no_key"       // 400: the Idempotency-Key header is missing
	CodeRefused     = "refused"      // 409: the fund service refuses the disbursement (reason in Error)
	CodeNotFound    = "not_found"    // 404
	CodeUnavailable = "unavailable"  // 503: try again later
	CodeInternal    = "internal"     // 500: try again later (the request may have been carried out; retry with the same key)
	CodeBadRequest  = "bad_request"  // 400: not JSON, or not the documented JSON
	CodeMethod      = "method"       // 405
	CodeTooLarge    = "too_large"    // 413
	CodeNotAllowed  = "not_allowed"  // 409: the request is not possible in the filing's state
	codeInjectedErr = "injected_err" // internal marker of an injected fault
)

// answer is a stored HTTP answer: the same idempotency key gets it again.
type answer struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
	Hash   string          `json:"hash"` // of the request body
}

// fault is what an injected fault does to one request.
type fault int

const (
	faultNone        fault = iota
	faultBefore500         // 500 before anything is done
	faultBefore503         // 503 before anything is done
	faultAfter500          // carried out, then 500 (the reply is lost)
	faultAfterGarble       // carried out, then a body that is not JSON
)

// core is what both services share: the goroutine that owns the state,
// the seeded random source, fault injection, idempotency and persistence.
type core struct {
	cfg  Config
	log  *slog.Logger
	ops  chan func()
	done chan struct{}
	once sync.Once
	// owned by the Run goroutine:
	rng     *rand.Rand
	answers map[string]answer
	save    func() ([]byte, error) // the service's ledger as JSON
}

func newCore(cfg Config) (*core, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("counterpart config: %w", err)
	}
	return &core{
		cfg: cfg, log: cfg.Logger, ops: make(chan func()), done: make(chan struct{}),
		rng: rand.New(rand.NewPCG(cfg.Seed, 0x5e7e)), answers: map[string]answer{},
	}, nil
}

// run executes operations on the state until ctx ends.
func (c *core) run(ctx context.Context) error {
	defer c.close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case op := <-c.ops:
			op()
		}
	}
}

func (c *core) close() { c.once.Do(func() { close(c.done) }) }

// do runs fn on the goroutine that owns the state and waits for it.
func (c *core) do(ctx context.Context, fn func()) error {
	finished := make(chan struct{})
	select {
	case c.ops <- func() { fn(); close(finished) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrClosed
	}
	<-finished
	return nil
}

// draw decides a request's fault and delay. Called on the owner goroutine.
func (c *core) draw() (fault, time.Duration) {
	var d time.Duration
	if c.cfg.Latency > 0 {
		d = time.Duration(c.rng.Int64N(int64(c.cfg.Latency) + 1))
	}
	if c.cfg.SlowRate > 0 && c.rng.Float64() < c.cfg.SlowRate {
		d = c.cfg.SlowLatency
	}
	f := faultNone
	if c.cfg.ErrorRate > 0 && c.rng.Float64() < c.cfg.ErrorRate {
		f = fault(1 + c.rng.IntN(4))
	}
	return f, d
}

// persist writes the ledger file, if there is one. Called on the owner
// goroutine after every change.
func (c *core) persist() {
	if c.cfg.LedgerFile == "" || c.save == nil {
		return
	}
	b, err := c.save()
	if err == nil {
		err = writeAtomic(c.cfg.LedgerFile, b)
	}
	if err != nil {
		// The answer is still given: the state lives on in memory.
		c.log.Error("ledger not saved", "file", c.cfg.LedgerFile, "err", err)
	}
}

// writeAtomic writes a file by renaming a complete temporary file over it.
func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// load reads the ledger file into v; a missing file is an empty ledger.
func loadLedger(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read ledger: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("ledger %s: %w", path, err)
	}
	return nil
}

const maxBody = 64 << 10

// readBody reads a request body of at most maxBody bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, APIError{Error: fmt.Sprintf("body larger than %d bytes", maxBody), Code: CodeTooLarge})
		} else {
			writeJSON(w, http.StatusBadRequest, APIError{Error: "reading the body: " + err.Error(), Code: CodeBadRequest})
		}
		return nil, false
	}
	return b, true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed","code":"internal"}`)
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)            //nolint:errcheck // the client may have gone
	w.Write([]byte{'\n'}) //nolint:errcheck
}

func encode(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{"error":"encoding the answer failed","code":"internal"}`)
	}
	return b
}

func hashOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:16])
}

// handlePost is the common path of a POST that changes the ledger: it
// checks the key, replays a stored answer, injects faults, and otherwise
// runs exec on the owner goroutine, storing its answer under the key.
// exec returns the status and body of the answer; an answer of status
// 5xx is not stored (a retry carries the request out).
func (c *core) handlePost(w http.ResponseWriter, r *http.Request, exec func(key string, body []byte) (int, any)) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, APIError{Error: "use POST", Code: CodeMethod})
		return
	}
	key := r.Header.Get(HeaderIdempotencyKey)
	if key == "" || len(key) > 255 {
		writeJSON(w, http.StatusBadRequest, APIError{Error: "the " + HeaderIdempotencyKey + " header is required (at most 255 characters): the same key always gets the same answer", Code: CodeNoKey})
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	h := hashOf(body)
	var (
		out      answer
		replayed bool
		flt      fault
		delay    time.Duration
	)
	err := c.do(r.Context(), func() {
		flt, delay = c.draw()
		if flt == faultBefore500 || flt == faultBefore503 {
			return
		}
		if prev, ok := c.answers[key]; ok {
			if prev.Hash != h {
				out = answer{Status: http.StatusUnprocessableEntity, Body: encode(APIError{Error: "this idempotency key was used with another request body; use a new key for a new request", Code: CodeKeyReused})}
				return
			}
			out, replayed = prev, true
			return
		}
		status, v := exec(key, body)
		out = answer{Status: status, Body: encode(v), Hash: h}
		if status < 500 {
			c.answers[key] = out
			c.persist()
		}
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, APIError{Error: err.Error(), Code: CodeUnavailable})
		return
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch flt {
	case faultBefore500:
		writeJSON(w, http.StatusInternalServerError, APIError{Error: "internal error (injected fault; nothing was done)", Code: CodeInternal})
		return
	case faultBefore503:
		writeJSON(w, http.StatusServiceUnavailable, APIError{Error: "service busy (injected fault; nothing was done)", Code: CodeUnavailable})
		return
	case faultAfter500:
		writeJSON(w, http.StatusInternalServerError, APIError{Error: "internal error (injected fault; the request may have been carried out: retry with the same key)", Code: CodeInternal})
		return
	case faultAfterGarble:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"receipt": "FR-`)) //nolint:errcheck // a truncated answer, on purpose
		return
	}
	if replayed {
		w.Header().Set(HeaderReplayed, "true")
	}
	writeRaw(w, out.Status, out.Body)
}

// handleGet runs fn on the owner goroutine and writes its answer.
func (c *core) handleGet(w http.ResponseWriter, r *http.Request, fn func() (int, any)) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeJSON(w, http.StatusMethodNotAllowed, APIError{Error: "use GET", Code: CodeMethod})
		return
	}
	var (
		status int
		v      any
	)
	if err := c.do(r.Context(), func() { status, v = fn(); v = encode(v) }); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, APIError{Error: err.Error(), Code: CodeUnavailable})
		return
	}
	writeRaw(w, status, v.(json.RawMessage))
}
