package statefun_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/statefun"
	"github.com/sitetwin/sitetwin/twin"
)

// TestFirstCallAsksForState: the runtime's first call to an instance
// carries no state; the function answers IncompleteInvocationContext
// naming its spec and type; the same batch sent again with the empty state
// gets an InvocationResult with the state mutation, the message to the
// city and the alert on the Kafka egress.
func TestFirstCallAsksForState(t *testing.T) {
	srv := newServer(t, statefun.Config{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	var invs []invocation
	for _, e := range append(registration("P-001", t0.Add(-time.Hour)), noise("n1", "P-001", t0, 95)) {
		invs = append(invs, invocation{Arg: typedValue{statefun.IngressTypeName(twin.StreamOf(e.Type)), true, encode(t, e)}})
	}
	req := toFunction{Target: projectAddr("P-001"), Invocations: invs}

	from := post(t, hs.URL, req)
	if from.Result != nil || len(from.Missing) != 1 {
		t.Fatalf("first call: result %v, missing %v; want only the missing spec", from.Result, from.Missing)
	}
	if m := from.Missing[0]; m.Name != "project" || m.Typename != statefun.ProjectStateTypeName {
		t.Fatalf("missing spec %+v", m)
	}

	req.State = []persisted{{Name: "project"}}
	from = post(t, hs.URL, req)
	res := from.Result
	if res == nil {
		t.Fatalf("second call: no result (missing %v)", from.Missing)
	}
	if len(res.Mutations) != 1 || res.Mutations[0].Type != mutModify || res.Mutations[0].Name != "project" ||
		res.Mutations[0].Value == nil || res.Mutations[0].Value.Typename != statefun.ProjectStateTypeName {
		t.Fatalf("mutations %+v", res.Mutations)
	}
	st, err := statefun.DecodeProjectState(res.Mutations[0].Value.Value)
	if err != nil {
		t.Fatal(err)
	}
	if st.Twin == nil || st.Twin.Applied != 3 || st.Twin.Health != twin.Red {
		t.Fatalf("twin after the batch: %+v", st.Twin)
	}
	if len(res.Messages) != 1 || res.Messages[0].Target != cityAddr || res.Messages[0].Arg.Typename != statefun.RegisteredTypeName ||
		string(res.Messages[0].Arg.Value) != "P-001" {
		t.Fatalf("messages %+v: want the registration to the city", res.Messages)
	}
	byTopic := map[string][]kafkaRecord{}
	for _, e := range res.Egress {
		k, err := decodeKafkaRecord(e)
		if err != nil {
			t.Fatal(err)
		}
		byTopic[k.Topic] = append(byTopic[k.Topic], k)
	}
	if len(byTopic["sitetwin.alerts"]) != 1 || len(byTopic["sitetwin.outbox"]) != 1 || len(byTopic) != 2 {
		t.Fatalf("egress %+v: want one alert and the registration filing", byTopic)
	}
	if o := byTopic["sitetwin.outbox"][0]; o.Key != "P-001/filing/registration/1" {
		t.Errorf("outbox record %+v", o)
	}
	k := byTopic["sitetwin.alerts"][0]
	var a twin.Alert
	if err := json.Unmarshal([]byte(k.Value), &a); err != nil || k.Topic != "sitetwin.alerts" || k.Key != "P-001" || a.Rule == "" || a.Change != twin.ChangeRaised || a.Event != "n1" {
		t.Fatalf("alert record %+v: %v", k, err)
	}
}

// TestBatchesCarryState: many events of one project, sent in batches of
// several sizes with the state of the previous response, as the runtime
// does, give the twin that applying them one by one gives.
func TestBatchesCarryState(t *testing.T) {
	evs := registration("P-002", t0.Add(-time.Hour))
	for i := range 300 {
		evs = append(evs, noise(fmt.Sprintf("n%03d", i), "P-002", t0.Add(time.Duration(i)*20*time.Second), 60+float64(i%40)))
	}
	rules := twin.DefaultRules()
	want := twin.NewProject("P-002", rules)
	var alerts int
	for _, e := range evs {
		eff, err := twin.Apply(want, e, rules)
		if err != nil {
			t.Fatal(err)
		}
		alerts += len(eff.Alerts)
	}
	for _, size := range []int{1, 7, 100} {
		t.Run(fmt.Sprintf("batch=%d", size), func(t *testing.T) {
			rt := newRuntime(t, newServer(t, statefun.Config{}), size)
			for _, e := range evs {
				rt.event(e)
			}
			rt.drain()
			st := rt.projectState("P-002")
			if got := canonical(t, st.Twin); got != canonical(t, want) {
				t.Fatalf("twin differs from applying the events one by one")
			}
			if n := len(rt.records["sitetwin.alerts"]); n != alerts || alerts == 0 {
				t.Errorf("%d alert records, want %d", n, alerts)
			}
			if min := (len(evs) + size - 1) / size; rt.requests < min {
				t.Errorf("%d requests, want at least %d", rt.requests, min)
			}
		})
	}
}

// TestRetriedBatchChangesNothing: the runtime retries a batch on a 5xx, so
// a function may see the same messages again. Sent again with the state it
// started from, a batch gives the same answer byte for byte; sent again on
// top of the state it produced, it changes no fact of the twin (only the
// duplicate counter) and sends no alert or outbound request.
func TestRetriedBatchChangesNothing(t *testing.T) {
	srv := newServer(t, statefun.Config{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	at := t0
	evs := registration("P-003", at.Add(-time.Hour))
	evs = append(evs,
		noise("r1", "P-003", at, 95),
		&twin.Event{ID: "pay-1", Type: twin.TypeFundsDisbursed, Source: "fund", Time: at, Project: "P-003", Data: &twin.Payment{AmountCNY: 1e6}},
		&twin.Event{ID: "hz-1", Type: twin.TypeHazardFound, Source: "insp", Time: at, Project: "P-003", Site: "P-003-S1", Data: &twin.HazardFound{Hazard: "HZ-1", Severity: "major", Category: "scaffolding", Deadline: mustWhen("2026-06-05")}},
	)
	var invs []invocation
	for _, e := range evs {
		invs = append(invs, invocation{Arg: typedValue{statefun.IngressTypeName(twin.StreamOf(e.Type)), true, encode(t, e)}})
	}
	req := toFunction{Target: projectAddr("P-003"), State: []persisted{{Name: "project"}}, Invocations: invs}
	raw := func() []byte {
		resp, err := http.Post(hs.URL, "application/octet-stream", bytes.NewReader(req.encode()))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return b.Bytes()
	}
	first, again := raw(), raw()
	if !bytes.Equal(first, again) {
		t.Fatal("the same batch with the same state gave a different answer")
	}
	res := post(t, hs.URL, req).Result
	before, _ := statefun.DecodeProjectState(res.Mutations[0].Value.Value)
	if len(res.Egress) == 0 || before.Twin.Funds.DisbursedCNY != 1e6 {
		t.Fatalf("first pass: %d egress records, disbursed %v", len(res.Egress), before.Twin.Funds.DisbursedCNY)
	}

	req.State = []persisted{{Name: "project", Value: res.Mutations[0].Value}}
	res2 := post(t, hs.URL, req).Result
	if len(res2.Egress) != 0 || len(res2.Messages) != 0 {
		t.Fatalf("retry sent %d egress records and %d messages", len(res2.Egress), len(res2.Messages))
	}
	after, err := statefun.DecodeProjectState(res2.Mutations[0].Value.Value)
	if err != nil {
		t.Fatal(err)
	}
	if after.Twin.Duplicates != before.Twin.Duplicates+int64(len(evs)) {
		t.Errorf("duplicates %d, want %d", after.Twin.Duplicates, before.Twin.Duplicates+int64(len(evs)))
	}
	after.Twin.Duplicates = before.Twin.Duplicates
	if canonical(t, after.Twin) != canonical(t, before.Twin) {
		t.Error("the retried batch changed the twin")
	}
}

// TestBadIngressIsDeadLettered: a value that cannot be applied is answered
// with a dead-letter record naming why, never with an error that would make
// the runtime retry the batch forever.
func TestBadIngressIsDeadLettered(t *testing.T) {
	good := string(encode(t, noise("k1", "P-004", t0, 95)))
	cases := []struct {
		name, typename, value, class, reason string
	}{
		{"not json", statefun.IngressTypeName("sensor"), `{"specversion":`, statefun.ClassMalformed, "malformed event"},
		{"not utf-8", statefun.IngressTypeName("sensor"), "\xff\xfe", statefun.ClassMalformed, "malformed event"},
		{"bad field", statefun.IngressTypeName("sensor"), replace(good, `"unit":"dB(A)"`, `"unit":"furlongs"`), statefun.ClassInvalid, "data.unit: must be one of"},
		{"wrong topic", statefun.IngressTypeName("payment"), good, statefun.ClassWrongTopic, "belongs on topic sitetwin.sensor, not sitetwin.payment"},
		{"string wrapper", "io.statefun.types/string", good, statefun.ClassMalformed, `value type "io.statefun.types/string"`},
		{"unknown stream", statefun.EventTypeName + ".gossip", good, statefun.ClassMalformed, "is not a sitetwin event"},
		{"unregistered project", statefun.IngressTypeName("sensor"), good, statefun.ClassRejected, "project P-004 is not registered (send project.registered first)"},
		{"drill", statefun.IngressTypeName("sensor"), replace(good, `"project":"P-004"`, `"project":"P-004","drill":"d1"`), statefun.ClassDrill, "drill d1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rt := newRuntime(t, newServer(t, statefun.Config{}), 10)
			rt.queue = append(rt.queue, queued{projectAddr("P-004"), invocation{Arg: typedValue{c.typename, true, []byte(c.value)}}})
			rt.drain()
			dls := rt.deadLetters()
			if len(dls) != 1 {
				t.Fatalf("%d dead letters", len(dls))
			}
			dl := dls[0]
			if dl.Class != c.class || !contains(dl.Error, c.reason) {
				t.Errorf("dead letter %s: %q, want %s containing %q", dl.Class, dl.Error, c.class, c.reason)
			}
			if got := dl.Value + string(dl.ValueBase64); got != c.value {
				t.Errorf("dead letter value %q, want the value unchanged", got)
			}
			if k := rt.records["sitetwin.deadletter"][0].Key; k != "P-004" {
				t.Errorf("dead letter key %q", k)
			}
			if st := rt.projectState("P-004"); st != nil {
				t.Errorf("a dead-lettered value left state")
			}
		})
	}
}

func replace(s, old, new string) string {
	out := bytes.Replace([]byte(s), []byte(old), []byte(new), 1)
	if bytes.Equal(out, []byte(s)) {
		panic("nothing replaced: " + old)
	}
	return string(out)
}

// TestPanicIsAnErrorThenADeadLetter: a panic in Apply (with a value that
// is not an error, which the SDK would log.Fatal on) fails the batch with a
// 500 and leaves the server up; the retried batch dead-letters that record
// and applies the others.
func TestPanicIsAnErrorThenADeadLetter(t *testing.T) {
	apply := func(p *twin.ProjectTwin, e *twin.Event, r *twin.Rules) (twin.Effects, error) {
		if e.ID == "boom" {
			panic("boom")
		}
		return twin.Apply(p, e, r)
	}
	srv := newServer(t, statefun.Config{Apply: apply})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	evs := append(registration("P-005", t0.Add(-time.Hour)), noise("boom", "P-005", t0, 50), noise("ok", "P-005", t0.Add(time.Minute), 50))
	var invs []invocation
	for _, e := range evs {
		invs = append(invs, invocation{Arg: typedValue{statefun.IngressTypeName(twin.StreamOf(e.Type)), true, encode(t, e)}})
	}
	req := toFunction{Target: projectAddr("P-005"), State: []persisted{{Name: "project"}}, Invocations: invs}
	resp, err := http.Post(hs.URL, "application/octet-stream", bytes.NewReader(req.encode()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500", resp.StatusCode)
	}
	res := post(t, hs.URL, req).Result // the runtime's retry
	st, _ := statefun.DecodeProjectState(res.Mutations[0].Value.Value)
	if st.Twin.Applied != 3 {
		t.Errorf("applied %d events, want 3 (all but the one that panicked)", st.Twin.Applied)
	}
	var dl statefun.DeadLetter
	for _, e := range res.Egress {
		if k, _ := decodeKafkaRecord(e); k.Topic == "sitetwin.deadletter" {
			json.Unmarshal([]byte(k.Value), &dl)
		}
	}
	if dl.Class != statefun.ClassPanic || !contains(dl.Error, "panicked") || !contains(dl.Value, `"id":"boom"`) {
		t.Errorf("dead letter %+v", dl)
	}
	if s := srv.Stats(); s.Panics != 1 || s.DeadLetters != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestHTTPErrors: what is not a request of the runtime gets a 4xx.
func TestHTTPErrors(t *testing.T) {
	hs := httptest.NewServer(newServer(t, statefun.Config{}))
	defer hs.Close()
	cases := []struct {
		name, method, ct, body string
		status                 int
	}{
		{"get", http.MethodGet, "", "", http.StatusMethodNotAllowed},
		{"json", http.MethodPost, "application/json", "{}", http.StatusUnsupportedMediaType},
		{"empty", http.MethodPost, "application/octet-stream", "", http.StatusBadRequest},
		{"garbage", http.MethodPost, "application/octet-stream", "\x0a\xff", http.StatusBadRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, hs.URL, bytes.NewReader([]byte(c.body)))
			if c.ct != "" {
				req.Header.Set("Content-Type", c.ct)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.status {
				t.Errorf("status %d, want %d", resp.StatusCode, c.status)
			}
		})
	}
}
