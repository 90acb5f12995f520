package streams

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestCheckpointWaits checks that the engine counts the poll loop's waits
// at its checkpoints: in Stats, and in the sitetwin_checkpoint_seconds
// histogram, one sample per checkpoint and phase (publish only after a
// commit).
func TestCheckpointWaits(t *testing.T) {
	b := startBroker(t)
	reg := prometheus.NewRegistry()
	e := runEngine(t, EngineConfig{Brokers: []string{b.Addr()}, Group: "checkpoint-waits", CheckpointInterval: 100 * time.Millisecond, Registerer: reg})
	publish := publisher(t, b.Addr())
	publish(registration(t, "P-1", time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC))...)
	waitFor(t, "a committed checkpoint", func() bool { return e.Stats().Commits > 0 })

	// Read the histogram and the counters together: a checkpoint could
	// end between two reads.
	var samples map[string]uint64
	var st Stats
	waitFor(t, "the histogram to agree with the count of checkpoints", func() bool {
		st = e.Stats()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		samples = map[string]uint64{}
		for _, mf := range mfs {
			if mf.GetName() != "sitetwin_checkpoint_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "phase" {
						samples[l.GetValue()] = m.GetHistogram().GetSampleCount()
					}
				}
			}
		}
		n := uint64(st.Commits + st.Aborts)
		// a checkpoint that aborted publishes nothing
		return samples["encode"] == n && samples["commit"] == n && samples["publish"] == uint64(st.Commits) &&
			e.Stats().Commits == st.Commits
	})
	if st.CheckpointEncodeSeconds <= 0 || st.CheckpointCommitSeconds <= 0 || st.CheckpointPublishSeconds <= 0 {
		t.Errorf("after %d checkpoints: encode %v s, commit %v s, publish %v s; want all above 0", st.Commits,
			st.CheckpointEncodeSeconds, st.CheckpointCommitSeconds, st.CheckpointPublishSeconds)
	}
}
