package streams

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// TestViewInterval checks when the store gets the view of an applied
// event: when its checkpoint commits by default, and within ViewInterval,
// before the commit, with it set.
func TestViewInterval(t *testing.T) {
	cases := []struct {
		name         string
		views        time.Duration
		beforeCommit bool
	}{
		{"committed state only", 0, false},
		{"every 20ms", 20 * time.Millisecond, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := startBroker(t)
			st := NewStore(0)
			// The checkpoint is long, so that a view handed over before
			// the commit cannot be mistaken for one handed over at it.
			var e atomic.Pointer[Engine]
			commitsAtView := atomic.Int64{}
			commitsAtView.Store(-1)
			stop := st.Watch(func(ids []string, _ []twin.Alert) {
				if eng := e.Load(); eng != nil && slices.Contains(ids, "P-1") {
					commitsAtView.CompareAndSwap(-1, eng.Stats().Commits)
				}
			})
			defer stop()
			e.Store(runEngine(t, EngineConfig{
				Brokers: []string{b.Addr()}, Group: "views-" + string(rune('a'+i)), Store: st,
				CheckpointInterval: time.Second, ViewInterval: tc.views,
			}))
			publish := publisher(t, b.Addr())
			publish(registration(t, "P-1", time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC))...)
			waitFor(t, "the view of P-1", func() bool { return commitsAtView.Load() >= 0 })
			if got := commitsAtView.Load() == 0; got != tc.beforeCommit {
				t.Errorf("the store got P-1 after %d commits; want it before the first commit: %v", commitsAtView.Load(), tc.beforeCommit)
			}
			v, ok := st.Twin("P-1")
			if !ok || !v.Registered || len(v.Sites) != 1 {
				t.Fatalf("view of P-1: %+v %v", v, ok)
			}
			// after the commit the store holds the same state
			waitFor(t, "a commit", func() bool { return e.Load().Stats().Commits > 0 })
			if v, ok := st.Twin("P-1"); !ok || !v.Registered || len(v.Sites) != 1 {
				t.Errorf("view of P-1 after the commit: %+v %v", v, ok)
			}
		})
	}
}
