package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// TestRestoreReadsJSONSnapshots: a changelog written by an earlier version
// (twins as JSON, state version 1) restores; the twin's next checkpoint is
// in the binary form, which restores to the same twin.
func TestRestoreReadsJSONSnapshots(t *testing.T) {
	b := startBroker(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	rules := twin.DefaultRules()
	p := twin.NewProject("P-007", rules)
	for _, e := range append(registration(t, "P-007", at), event(t, "pay-1", twin.TypeFundsDisbursed, "P-007", "", at, &twin.Payment{AmountCNY: 1e6})) {
		if _, err := twin.Apply(p, e, rules); err != nil {
			t.Fatal(err)
		}
	}
	old, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	n, err := EnsureTopics(ctx, kadm.NewClient(cl), DefaultTopics(), TopicOptions{})
	if err != nil {
		t.Fatal(err)
	}
	state := DefaultTopics().State()
	rec := &kgo.Record{Topic: state, Partition: Partition("P-007", n), Key: []byte("P-007"), Value: old,
		Headers: []kgo.RecordHeader{{Key: HeaderStateVersion, Value: []byte("1")}}}
	if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
		t.Fatal(err)
	}

	e := startEngine(t, b.Addr(), "json-changelog")
	waitFor(t, "the restored twin in the store", func() bool { _, ok := e.Store().Twin("P-007"); return ok })
	if v, _ := e.Store().Twin("P-007"); v.Funds.DisbursedCNY != 1e6 || v.AuditLength != 1 {
		t.Fatalf("restored from JSON: %+v", v.Funds)
	}
	publisher(t, b.Addr())(event(t, "pay-1", twin.TypeFundsDisbursed, "P-007", "", at, &twin.Payment{AmountCNY: 1e6}),
		event(t, "pay-2", twin.TypeFundsDisbursed, "P-007", "", at, &twin.Payment{AmountCNY: 1e6}))
	waitFor(t, "the second payment committed", func() bool {
		v, _ := e.Store().Twin("P-007")
		return v.Funds.DisbursedCNY == 2e6
	})
	cps, err := ReadChangelog(ctx, []string{b.Addr()}, "test", state, []int32{Partition("P-007", n)})
	if err != nil {
		t.Fatal(err)
	}
	snap := cps[Partition("P-007", n)].Twins["P-007"]
	if bytes.HasPrefix(snap, []byte("{")) {
		t.Fatal("the checkpoint after the restore is still JSON")
	}
	got, err := twin.DecodeSnapshot(snap)
	if err != nil || got.Funds.DisbursedCNY != 2e6 || got.Duplicates != 1 || twin.VerifyChain("P-007", got.Audit) != nil {
		t.Fatalf("binary checkpoint: %v %+v", err, got)
	}
}

// TestRestoreFromDeltas: a twin that changes at every checkpoint is written
// as deltas from its base; a restart rebuilds it from the base and the
// latest delta, and goes on (its next whole snapshot deletes the delta),
// and a second restart rebuilds it again.
func TestRestoreFromDeltas(t *testing.T) {
	b := startBroker(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	publish := publisher(t, b.Addr())
	readings := 0
	round := func(e *Engine, n int) {
		t.Helper()
		var evs []*twin.Event
		for range n {
			readings++
			evs = append(evs, event(t, fmt.Sprintf("r-%d", readings), twin.TypeSensorReading, "P-009", "P-009-S1",
				at.Add(time.Duration(readings)*time.Second), &twin.SensorReading{Kind: twin.SensorPM10, Value: float64(20 + readings%50), Unit: "ug/m3"}))
		}
		publish(evs...)
		want := int64(readings)
		waitFor(t, fmt.Sprintf("%d readings committed", want), func() bool {
			v, ok := e.Store().Twin("P-009")
			return ok && v.Sites[0].Readings == want
		})
	}
	publish(registration(t, "P-009", at)...)

	run := func(group string) (*Engine, func()) {
		return runStoppable(t, EngineConfig{Brokers: []string{b.Addr()}, Group: group, CheckpointInterval: 50 * time.Millisecond})
	}
	deltaRecords := func() int {
		t.Helper()
		recs, err := ReadTopic(ctx, []string{b.Addr()}, DefaultTopics().State())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if strings.HasSuffix(string(r.Key), deltaSuffix) && r.Value != nil {
				n++
			}
		}
		return n
	}

	e1, stop := run("deltas")
	round(e1, 300) // a twin with some history, so that a few readings change a small part of it
	for range 6 {
		round(e1, 3)
	}
	v1, _ := e1.Store().Twin("P-009")
	stop()
	if n := deltaRecords(); n == 0 {
		t.Fatal("no delta was written for a twin that changed at every checkpoint")
	}

	e2, stop := run("deltas")
	waitFor(t, "the twin restored", func() bool { _, ok := e2.Store().Twin("P-009"); return ok })
	v2, _ := e2.Store().Twin("P-009")
	if j1, j2 := mustJSON(t, v1), mustJSON(t, v2); !bytes.Equal(j1, j2) {
		t.Fatalf("restored from base and delta:\n%s\nwant\n%s", j2, j1)
	}
	for range 3 {
		round(e2, 3)
	}
	v2, _ = e2.Store().Twin("P-009")
	stop()

	e3 := startEngine(t, b.Addr(), "deltas")
	waitFor(t, "the twin restored again", func() bool { _, ok := e3.Store().Twin("P-009"); return ok })
	v3, _ := e3.Store().Twin("P-009")
	if j2, j3 := mustJSON(t, v2), mustJSON(t, v3); !bytes.Equal(j2, j3) {
		t.Fatalf("second restore:\n%s\nwant\n%s", j3, j2)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
