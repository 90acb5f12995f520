package streams

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// deadLetters reads the dead-letter topic (read committed) until it holds n
// records, and returns their reasons by event id... or by raw value when
// the value does not decode.
func deadLetters(t *testing.T, brokers string, n int) map[string]string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics(DefaultTopics().DeadLetter()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[string]string{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("only %d of %d dead letters within 30s: %v", len(out), n, out)
		}
		fs.EachRecord(func(r *kgo.Record) {
			key := string(r.Value)
			if _, id, err := peekID(r.Value); err == nil && id != "" {
				key = id
			}
			for _, h := range r.Headers {
				if h.Key == HeaderError {
					out[key] = string(h.Value)
				}
			}
		})
	}
	return out
}

func peekID(b []byte) (string, string, error) {
	e, err := twin.Decode(b)
	if err != nil {
		return "", "", err
	}
	return e.Type, e.ID, nil
}

// TestPoisonRecord: a record whose Apply panics does not take the engine
// down or block its partition: the checkpoint is aborted (with exactly-once
// off, the consumer rewinds to the committed offsets), the partition
// restored, and the record dead-lettered with the panic; the records around
// it are applied once to the twins.
func TestPoisonRecord(t *testing.T) {
	for _, atLeastOnce := range []bool{false, true} {
		t.Run(map[bool]string{false: "exactly-once", true: "at-least-once"}[atLeastOnce], func(t *testing.T) {
			b := startBroker(t)
			apply := func(p *twin.ProjectTwin, e *twin.Event, r *twin.Rules) (twin.Effects, error) {
				if e.ID == "poison-1" {
					p.Funds.DisbursedCNY += 1e9 // a half-done change the restore must undo
					panic("rule exploded on purpose")
				}
				return twin.Apply(p, e, r)
			}
			e := runEngine(t, EngineConfig{Brokers: []string{b.Addr()}, Group: "poison", AtLeastOnce: atLeastOnce, Apply: apply, CheckpointInterval: 100 * time.Millisecond})
			publish := publisher(t, b.Addr())
			at := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
			pay := func(id string, min int) *twin.Event {
				return event(t, id, twin.TypeFundsDisbursed, "P-004", "", at.Add(time.Duration(min)*time.Minute), &twin.Payment{AmountCNY: 1e6})
			}
			evs := append(registration(t, "P-004", at), pay("pay-1", 1), pay("poison-1", 2), pay("pay-2", 3))
			publish(evs...)
			waitFor(t, "both good payments applied", func() bool {
				v, ok := e.Store().Twin("P-004")
				return ok && v.Funds.Payments == 2
			})
			v, _ := e.Store().Twin("P-004")
			if v.Funds.DisbursedCNY != 2e6 || v.AuditLength != 2 {
				t.Fatalf("funds %+v audit %d: the poison's half-done change or a double payment survived", v.Funds, v.AuditLength)
			}
			reasons := deadLetters(t, b.Addr(), 1)
			if r := reasons["poison-1"]; !strings.Contains(r, "panicked") || !strings.Contains(r, "rule exploded on purpose") {
				t.Fatalf("dead letter of the poison: %q", r)
			}
			if st := e.Stats(); st.Aborts < 1 {
				t.Errorf("stats %+v: no checkpoint was aborted", st)
			}
		})
	}
}

// TestImpossibleContent: records with a valid envelope but impossible
// content are dead-lettered with a reason and never applied.
func TestImpossibleContent(t *testing.T) {
	b := startBroker(t)
	e := startEngine(t, b.Addr(), "impossible")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	publish := publisher(t, b.Addr())
	now := time.Now().UTC().Truncate(time.Second)
	publish(registration(t, "P-005", now)...)
	ts := now.Format(time.RFC3339)
	cases := []struct {
		id, topic, value, reason string
	}{
		{"neg", "sitetwin.payment", `{"specversion":"1.0","id":"neg","type":"funds.disbursed","source":"t","time":"` + ts + `","project":"P-005","data":{"amount_cny":-5}}`, "data.amount_cny: must be greater than 0"},
		{"pct", "sitetwin.progress", `{"specversion":"1.0","id":"pct","type":"progress.reported","source":"t","time":"` + ts + `","project":"P-005","data":{"milestone":"M1","percent_complete":250}}`, "data.percent_complete: must be between 0 and 100"},
		{"site", "sitetwin.sensor", `{"specversion":"1.0","id":"site","type":"sensor.reading","source":"t","time":"` + ts + `","project":"P-005","site":"P-005-S9","data":{"kind":"noise","value":60,"unit":"dB(A)"}}`, "P-005-S9 is not registered"},
		{"future", "sitetwin.sensor", `{"specversion":"1.0","id":"future","type":"sensor.reading","source":"t","time":"` + now.AddDate(10, 0, 0).Format(time.RFC3339) + `","project":"P-005","site":"P-005-S1","data":{"kind":"noise","value":60,"unit":"dB(A)"}}`, "ahead"},
		{"unknown-project", "sitetwin.sensor", `{"specversion":"1.0","id":"unknown-project","type":"sensor.reading","source":"t","time":"` + ts + `","project":"P-404","site":"P-404-S1","data":{"kind":"noise","value":60,"unit":"dB(A)"}}`, "P-404 is not registered"},
	}
	for _, c := range cases {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: c.topic, Key: []byte("P-005"), Value: []byte(c.value)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	got := deadLetters(t, b.Addr(), len(cases))
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			key := c.id
			if c.id == "neg" || c.id == "pct" { // do not decode: keyed by their bytes
				key = c.value
			}
			if r, ok := got[key]; !ok || !strings.Contains(r, c.reason) {
				t.Errorf("reason %q, want one containing %q", r, c.reason)
			}
		})
	}
	v, ok := e.Store().Twin("P-005")
	if !ok || len(v.Sites) != 1 || v.Sites[0].Readings != 0 {
		t.Fatalf("an impossible record changed the twin: %+v", v)
	}
	if _, ok := e.Store().Twin("P-404"); ok {
		t.Fatal("a twin was made for an unregistered project")
	}
}
