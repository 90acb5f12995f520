package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

func TestDecodeAnswer(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		body      string
		transient bool
		code      string
	}{
		{"ok", 201, `{"receipt":"R"}`, false, ""},
		{"garbled", 201, `{"receipt": "FR-`, true, ""},
		{"server error", 500, `{"error":"boom","code":"internal"}`, true, ""},
		{"busy", 503, ``, true, ""},
		{"too many", 429, `{}`, true, ""},
		{"invalid", 422, `{"error":"amount_cny: must be greater than 0","code":"invalid","field":"amount_cny"}`, false, "invalid"},
		{"duplicate", 409, `{"error":"duplicate registration","code":"duplicate","existing":"FIL-1"}`, false, "duplicate"},
		{"html refusal", 403, `<html>forbidden</html>`, false, "http_403"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out struct{ Receipt string }
			err := decodeAnswer("fund", "POST /x", tc.status, []byte(tc.body), &out)
			if errors.Is(err, ErrTransient) != tc.transient {
				t.Fatalf("transient %v: %v", !tc.transient, err)
			}
			var ref *Refusal
			if errors.As(err, &ref) != (tc.code != "") || tc.code != "" && ref.Code != tc.code {
				t.Fatalf("refusal %+v, want code %q", ref, tc.code)
			}
			if tc.code == "duplicate" && ref.Existing != "FIL-1" {
				t.Fatalf("existing %q", ref.Existing)
			}
		})
	}
}

// FuzzDecodeAnswer: whatever a platform answers, the client classifies it
// as a success, a refusal or a transient error, without panicking.
func FuzzDecodeAnswer(f *testing.F) {
	for _, s := range []string{`{"receipt":"R","paid_at":"2026-01-01T00:00:00Z"}`, `{"error":"x","code":"invalid"}`, `{`, ``, `null`, `{"changes":[{"seq":1}],"next":"x"}`} {
		for _, st := range []int{200, 201, 400, 409, 422, 500, 503} {
			f.Add(st, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, status int, b []byte) {
		var p paymentJSON
		var c changesJSON
		for _, out := range []any{&p, &c} {
			err := decodeAnswer("fund", "POST /x", status, b, out)
			if err != nil && !errors.Is(err, ErrTransient) && !errors.Is(err, ErrRefused) {
				t.Fatalf("unclassified error %v", err)
			}
		}
	})
}

// fakeFunds answers each idempotency key by a script: the first answers
// of a key are taken from the script in turn, the last one repeats.
type fakeFunds struct {
	mu     sync.Mutex
	script map[string][]string // key -> "status body" answers
	calls  map[string]int
}

func (f *fakeFunds) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	answers := f.script[strings.SplitN(key, "-", 2)[0]]
	n := f.calls[key]
	f.calls[key]++
	f.mu.Unlock()
	a := answers[min(n, len(answers)-1)]
	status, body, _ := strings.Cut(a, " ")
	w.WriteHeader(map[string]int{"201": 201, "500": 500, "409": 409, "503": 503}[status])
	io.WriteString(w, body) //nolint:errcheck
}

func outboxRecord(t *testing.T, key, project, drill string) *kgo.Record {
	t.Helper()
	o := twin.Outbound{Key: key, Kind: twin.OutboundDisbursement, Project: project, To: "fund-supervision", Drill: drill,
		Fields: map[string]string{"milestone": "M1", "amount_cny": "1000.00", "decision": project + "/M1/d1"}}
	b, _ := json.Marshal(o)
	return &kgo.Record{Topic: "sitetwin.outbox", Key: []byte(key), Value: b}
}

// TestSender drains an outbox on kfake: a request that meets a 500 and a
// garbled answer before it is paid, a refused one, one never delivered, a
// drill's and a malformed record; the answers come back as events.
func TestSender(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "sitetwin.outbox", "sitetwin.payment"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	paid := `201 {"receipt":"FR-1","account":"escrow-1","paid_at":"2026-07-20T06:00:00Z"}`
	ff := &fakeFunds{calls: map[string]int{}, script: map[string][]string{
		"good":  {`500 {"error":"boom","code":"internal"}`, `201 {"receipt": "FR-`, paid},
		"no":    {`409 {"error":"refused: escrow balance too low","code":"refused"}`},
		"down":  {`503 busy`},
		"drill": {paid},
	}}
	srv := httptest.NewServer(ff)
	defer srv.Close()
	funds, err := NewHTTPFunds(srv.URL, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	brokers := c.ListenAddrs()
	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("sitetwin.outbox"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := prod.ProduceSync(ctx,
		outboxRecord(t, "good-1", "P-1", ""), outboxRecord(t, "no-1", "P-1", ""), outboxRecord(t, "down-1", "P-1", ""),
		outboxRecord(t, "drill-1", "P-1", "typhoon"), &kgo.Record{Topic: "sitetwin.outbox", Value: []byte("not json")},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := NewSender(SenderConfig{Brokers: brokers, Funds: funds, MaxAttempts: 3, Backoff: time.Millisecond, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { return time.Date(2026, 7, 20, 7, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- s.Run(sctx) }()

	cons, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("sitetwin.payment"))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := map[string]*twin.Event{}
	for len(got) < 3 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("answers so far: %v", got)
		}
		fs.EachRecord(func(r *kgo.Record) {
			ev, err := twin.Decode(r.Value)
			if err != nil {
				t.Errorf("answer does not decode: %v\n%s", err, r.Value)
				return
			}
			if string(r.Key) != "P-1" {
				t.Errorf("answer keyed %q", r.Key)
			}
			got[ev.ID] = ev
		})
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ev := got["sender/good-1/accepted"]; ev == nil || ev.Data.(*twin.DisbursementAnswer).Receipt != "FR-1" || ev.Type != twin.TypeDisbursementAccepted {
		t.Fatalf("good: %+v", ev)
	}
	if ev := got["sender/no-1/rejected"]; ev == nil || ev.Data.(*twin.DisbursementAnswer).Code != "refused" {
		t.Fatalf("refused: %+v", ev)
	}
	if ev := got["sender/down-1/undelivered"]; ev == nil || ev.Data.(*twin.DisbursementAnswer).Code != twin.CodeUndelivered ||
		!strings.Contains(ev.Data.(*twin.DisbursementAnswer).Reason, "gave up after 3 attempts") {
		t.Fatalf("undelivered: %+v", ev)
	}
	if ff.calls["drill-1"] != 0 || ff.calls["good-1"] != 3 {
		t.Fatalf("calls %v", ff.calls)
	}
	for _, tc := range []struct {
		outcome string
		want    float64
	}{{OutcomeAccepted, 1}, {OutcomeRejected, 1}, {OutcomeUndelivered, 1}, {OutcomeDrill, 1}} {
		if got := counterValue(s.m.requests.WithLabelValues(twin.OutboundDisbursement, tc.outcome)); got != tc.want {
			t.Errorf("%s: %v", tc.outcome, got)
		}
	}
	if got := counterValue(s.m.requests.WithLabelValues("unknown", OutcomeMalformed)); got != 1 {
		t.Errorf("malformed: %v", got)
	}
	if got := counterValue(s.m.attempts.WithLabelValues(twin.OutboundDisbursement, "transient")); got != 5 {
		t.Errorf("transient attempts %v, want 2 + 3", got)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
