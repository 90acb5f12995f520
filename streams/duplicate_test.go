package streams

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// commitWatch tells, through the Applied and Committed hooks, how many
// input records the engine has applied and how many of those are committed.
type commitWatch struct {
	applied, committed atomic.Int64
}

func (c *commitWatch) onApplied(*kgo.Record, time.Time) { c.applied.Add(1) }

// onCommitted runs on the poll loop after a checkpoint committed; the
// workers applied nothing since the last batch was fed, so every record
// counted so far is in this checkpoint or an earlier one.
func (c *commitWatch) onCommitted(time.Time) { c.committed.Store(c.applied.Load()) }

// waitCommitted waits until n records are applied and committed.
func (c *commitWatch) waitCommitted(t *testing.T, n int64) {
	t.Helper()
	waitFor(t, "records applied and committed", func() bool { return c.committed.Load() >= n })
}

// dumpedTwin reads the committed changelog and returns the counters of one
// twin in it.
func dumpedTwin(t *testing.T, brokers, id string) (applied, duplicates int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, _, err := ReadDump(ctx, []string{brokers}, DefaultTopics())
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range d.Twins {
		var p struct {
			ID         string `json:"id"`
			Applied    int64  `json:"events_applied"`
			Duplicates int64  `json:"duplicates"`
		}
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		if p.ID == id {
			return p.Applied, p.Duplicates
		}
	}
	t.Fatalf("twin %s is not in the changelog", id)
	return 0, 0
}

// TestRestoreKeepsDuplicateCount: a producer's retry of an event is the only
// record of its twin in a checkpoint. The twin counts it (Duplicates, part
// of its state), and the checkpoint commits the record as consumed, so the
// checkpoint must hold the twin too: the committed state (the changelog, a
// dump of it), the store, and an engine restored from the changelog (which
// will not read the record again) all count the duplicate.
func TestRestoreKeepsDuplicateCount(t *testing.T) {
	b := startBroker(t)
	publish := publisher(t, b.Addr())
	at := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	pay := event(t, "pay-1", twin.TypeFundsDisbursed, "P-009", "", at, &twin.Payment{AmountCNY: 1e6})

	var first commitWatch
	cfg := EngineConfig{
		Brokers: []string{b.Addr()}, Group: "duplicates", Instance: "one",
		CheckpointInterval: 50 * time.Millisecond,
		Applied:            first.onApplied, Committed: first.onCommitted,
	}
	e, stop := runStoppable(t, cfg)
	publish(append(registration(t, "P-009", at), pay)...)
	first.waitCommitted(t, 3)
	publish(pay) // the retry, alone in its checkpoint
	first.waitCommitted(t, 4)

	if v, _ := e.Store().Twin("P-009"); v.Applied != 3 || v.Duplicates != 1 {
		t.Errorf("store after the retry committed: %d applied, %d duplicates; want 3 and 1", v.Applied, v.Duplicates)
	}
	if applied, dups := dumpedTwin(t, b.Addr(), "P-009"); applied != 3 || dups != 1 {
		t.Errorf("changelog after the retry committed: %d applied, %d duplicates; want 3 and 1", applied, dups)
	}
	stop()

	var second commitWatch
	cfg.Applied, cfg.Committed = second.onApplied, second.onCommitted
	restored := runEngine(t, cfg)
	waitFor(t, "the restored twin in the store", func() bool { _, ok := restored.Store().Twin("P-009"); return ok })
	if v, _ := restored.Store().Twin("P-009"); v.Applied != 3 || v.Duplicates != 1 {
		t.Errorf("restored twin: %d applied, %d duplicates; want 3 and 1", v.Applied, v.Duplicates)
	}
	if n := second.applied.Load(); n != 0 {
		t.Errorf("the restored engine applied %d records again, want none (all were committed)", n)
	}
}
