package streams

import (
	"bytes"
	"context"
	"encoding/json"
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
	pub, err := NewPublisher([]string{b.Addr()}, DefaultTopics(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx, event(t, "pay-1", twin.TypeFundsDisbursed, "P-007", "", at, &twin.Payment{AmountCNY: 1e6}),
		event(t, "pay-2", twin.TypeFundsDisbursed, "P-007", "", at, &twin.Payment{AmountCNY: 1e6})); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
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
