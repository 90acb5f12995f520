package streams

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// TestCheckpointModes runs the same stream through an engine with
// exactly-once on and with it off (AtLeastOnce): the twins and the store
// reach the same state, outputs are written in transactions or plainly,
// the Applied and Committed hooks see every record and every checkpoint,
// the consumed offsets are committed to the group,
// and an engine restarted in the group restores the twins and reads only
// what came after.
func TestCheckpointModes(t *testing.T) {
	for _, mode := range []struct {
		name        string
		atLeastOnce bool
	}{
		{"exactly-once", false},
		{"at-least-once", true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			b := startBroker(t)
			publish := publisher(t, b.Addr())
			at := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC) // 11:00 in Shenzhen
			pay := func(id string) *twin.Event {
				return event(t, id, twin.TypeFundsDisbursed, "P-004", "", at, &twin.Payment{AmountCNY: 1e6})
			}
			evs := append(registration(t, "P-004", at), registration(t, "P-005", at)...)
			evs = append(evs,
				event(t, "n1", twin.TypeSensorReading, "P-005", "P-005-S1", at, &twin.SensorReading{Kind: "noise", Value: 95, Unit: "dB(A)"}),
				pay("pay-1"), pay("pay-2"))

			var hooks hookCounts
			cfg := EngineConfig{
				Brokers: []string{b.Addr()}, Group: "modes", Instance: "one", AtLeastOnce: mode.atLeastOnce,
				CheckpointInterval: 100 * time.Millisecond,
				Applied:            hooks.applied, Committed: hooks.committed,
			}
			first, stop := runStoppable(t, cfg)
			publish(evs...)
			waitFor(t, "the twins in the store", func() bool {
				p4, ok4 := first.Store().Twin("P-004")
				p5, ok5 := first.Store().Twin("P-005")
				return ok4 && ok5 && p4.Funds.DisbursedCNY == 2e6 && p5.Health == twin.Red
			})
			got := map[string]string{}
			for _, a := range first.Store().Alerts(10) {
				got[a.Project+" "+a.Rule] = a.Change
			}
			if len(got) != 2 || got["P-004 funds"] != twin.ChangeRaised || got["P-005 noise_leq"] != twin.ChangeRaised {
				t.Errorf("alerts = %v, want the funds and noise alerts raised", got)
			}
			// the outputs: written in transactions, or plainly
			recs := readTopic(t, b.Addr(), DefaultTopics().Alerts())
			if len(recs) != 2 {
				t.Errorf("%d records on the alerts topic, want 2", len(recs))
			}
			for _, r := range recs {
				if r.Attrs.IsTransactional() == mode.atLeastOnce {
					t.Errorf("alert record %s: transactional %v", r.Key, r.Attrs.IsTransactional())
				}
			}
			// the views in the store were committed: every record was
			// passed to Applied, and Committed follows the store
			waitFor(t, "the Committed hook", func() bool { _, c := hooks.counts(); return c > 0 })
			if n, _ := hooks.counts(); n != int64(len(evs)) {
				t.Errorf("Applied saw %d records, want %d", n, len(evs))
			}
			for _, lat := range hooks.latencies() {
				if lat < 0 || lat > time.Minute {
					t.Fatalf("applied %s after its produce", lat)
				}
			}
			waitFor(t, "the consumed offsets committed", func() bool { return committedAll(t, b.Addr(), "modes") })
			stop()
			if st := first.Stats(); st.Commits == 0 || st.Aborts != 0 || st.ProduceErrors != 0 || st.DeadLetters != 0 {
				t.Errorf("stats = %+v", st)
			}

			var again hookCounts
			cfg.Applied, cfg.Committed = again.applied, again.committed
			second := runEngine(t, cfg)
			waitFor(t, "the restored twins in the store", func() bool {
				_, ok4 := second.Store().Twin("P-004")
				_, ok5 := second.Store().Twin("P-005")
				return ok4 && ok5
			})
			publish(pay("pay-3"))
			waitFor(t, "the third payment", func() bool {
				v, _ := second.Store().Twin("P-004")
				return v.Funds.DisbursedCNY == 3e6
			})
			if n, _ := again.counts(); n != 1 {
				t.Errorf("the restarted engine applied %d records, want only the new one", n)
			}
			v, _ := second.Store().Twin("P-004")
			if v.Duplicates != 0 || v.AuditLength != 3 || twin.VerifyChain("P-004", v.Audit) != nil {
				t.Errorf("after the restart: duplicates %d, audit %d records", v.Duplicates, v.AuditLength)
			}
		})
	}
}

// hookCounts counts what the Applied and Committed hooks were given.
type hookCounts struct {
	records, commits atomic.Int64
	mu               sync.Mutex
	lat              []time.Duration
}

func (h *hookCounts) applied(r *kgo.Record, at time.Time) {
	h.records.Add(1)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lat = append(h.lat, at.Sub(r.Timestamp))
}

func (h *hookCounts) committed(time.Time) { h.commits.Add(1) }

func (h *hookCounts) counts() (records, commits int64) {
	return h.records.Load(), h.commits.Load()
}

func (h *hookCounts) latencies() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Duration(nil), h.lat...)
}

// committedAll reports whether the group's committed offsets reach the end
// of every input partition that holds records.
func committedAll(t *testing.T, brokers, group string) bool {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, DefaultTopics().Inputs()...)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false // the group may not have committed yet
	}
	all := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset == 0 {
			return
		}
		c, ok := committed.Lookup(o.Topic, o.Partition)
		if !ok || c.Err != nil || c.At < o.Offset {
			all = false
		}
	})
	return all
}
