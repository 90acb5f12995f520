package streams

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/twin"
)

// steadySnapshots returns the binary snapshots of one busy project twin of
// the simulated city, taken every 250 events of its live readings, as the
// checkpoints of a busy engine see it.
func steadySnapshots(t testing.TB) [][]byte {
	t.Helper()
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	city, err := citysim.New(citysim.Config{Projects: 3, Seed: 7, Start: start, Rate: 20})
	if err != nil {
		t.Fatal(err)
	}
	rules := twin.DefaultRules()
	twins := map[string]*twin.ProjectTwin{}
	var order []string
	apply := func(e *twin.Event) {
		if e.Project == twin.CityWide {
			for _, id := range order {
				twin.Apply(twins[id], e, rules) //nolint:errcheck // a rejected event changes nothing
			}
			return
		}
		p, ok := twins[e.Project]
		if !ok {
			p = twin.NewProject(e.Project, rules)
			twins[e.Project] = p
			order = append(order, e.Project)
		}
		twin.Apply(p, e, rules) //nolint:errcheck // as above
	}
	for _, e := range city.Bootstrap() {
		apply(e)
	}
	p := twins[order[0]]
	var snaps [][]byte
	n := 0
	for e := city.Next(); e != nil && len(snaps) < 40; e = city.Next() {
		apply(e)
		if e.Project == p.ID {
			if n++; n%25 == 0 {
				b, err := p.AppendSnapshot(nil)
				if err != nil {
					t.Fatal(err)
				}
				snaps = append(snaps, b)
			}
		}
	}
	return snaps
}

// TestDeltaRebuildsSnapshots: a delta from any earlier snapshot of a busy
// twin rebuilds the later one byte for byte, and one checkpoint's changes
// take a small share of the snapshot.
func TestDeltaRebuildsSnapshots(t *testing.T) {
	snaps := steadySnapshots(t)
	for i := range snaps {
		base := newDeltaBase(snaps[i])
		for j := i; j < len(snaps); j++ {
			d := base.appendDelta(nil, snaps[j])
			got, err := applyDelta(snaps[i], d)
			if err != nil || !bytes.Equal(got, snaps[j]) {
				t.Fatalf("delta %d→%d: %v", i, j, err)
			}
			if j == i && len(d) > 64 {
				t.Errorf("delta of a snapshot to itself: %d B", len(d))
			}
		}
	}
	var full, delta int
	for i := 1; i < len(snaps); i++ {
		full += len(snaps[i])
		delta += len(newDeltaBase(snaps[i-1]).appendDelta(nil, snaps[i]))
	}
	t.Logf("next snapshot %d B on average, its delta %d B", full/(len(snaps)-1), delta/(len(snaps)-1))
	if delta*3 > full {
		t.Errorf("deltas %d B of %d B of snapshots: no gain", delta, full)
	}
}

// TestDeltaRefused: a delta applied to another base, cut short anywhere,
// or garbage is refused, never applied.
func TestDeltaRefused(t *testing.T) {
	snaps := steadySnapshots(t)
	d := newDeltaBase(snaps[0]).appendDelta(nil, snaps[5])
	if _, err := applyDelta(snaps[1], d); !errors.Is(err, errBadDelta) {
		t.Fatalf("applied to another base: %v", err)
	}
	for n := range len(d) {
		if _, err := applyDelta(snaps[0], d[:n]); err == nil {
			t.Fatalf("cut at %d of %d: applied", n, len(d))
		}
	}
	if _, err := applyDelta(snaps[0], append(bytes.Clone(d), 0)); err == nil {
		t.Fatal("a byte left over: applied")
	}
	if _, err := applyDelta(snaps[0], snaps[5]); !errors.Is(err, errBadDelta) {
		t.Fatalf("a snapshot as a delta: %v", err)
	}
}

// FuzzApplyDelta: applying any bytes as a delta to a base never panics and
// never builds more than the length the delta names; what a delta of ours
// builds is the snapshot it was taken to.
func FuzzApplyDelta(f *testing.F) {
	snaps := steadySnapshots(f)
	base := snaps[0]
	f.Add(newDeltaBase(base).appendDelta(nil, snaps[3]))
	f.Add(newDeltaBase(base).appendDelta(nil, base))
	f.Add([]byte(deltaMagic + "\x01"))
	f.Fuzz(func(t *testing.T, d []byte) {
		out, err := applyDelta(base, d)
		if err != nil {
			return
		}
		if again := newDeltaBase(base).appendDelta(nil, out); !bytes.Equal(mustApply(t, base, again), out) {
			t.Fatal("re-delta of a rebuilt snapshot differs")
		}
	})
}

func mustApply(t *testing.T, base, d []byte) []byte {
	t.Helper()
	out, err := applyDelta(base, d)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// BenchmarkDelta is the checkpoint's cost of a busy twin's delta (take it
// from the base) and the base's (index a snapshot written whole).
func BenchmarkDelta(b *testing.B) {
	snaps := steadySnapshots(b)
	base := newDeltaBase(snaps[0])
	var out []byte
	b.Run("delta", func(b *testing.B) {
		for b.Loop() {
			out = base.appendDelta(out[:0], snaps[1])
		}
		b.ReportMetric(float64(len(out)), "delta-B")
		b.ReportMetric(float64(len(snaps[1])), "snapshot-B")
	})
	b.Run("base", func(b *testing.B) {
		for b.Loop() {
			newDeltaBase(snaps[1])
		}
	})
}

// TestCombineDeltas: a changelog partition's base and delta make the
// snapshot; a delta older than its base is dropped (written before the
// base, its delete not written); one without a base, or newer than its
// base but taken from another, is an error.
func TestCombineDeltas(t *testing.T) {
	snaps := steadySnapshots(t)
	d01 := newDeltaBase(snaps[0]).appendDelta(nil, snaps[1])
	cases := []struct {
		name    string
		twins   map[string][]byte
		offsets map[string]int64
		want    []byte
		wantErr bool
	}{
		{"base and delta", map[string][]byte{"P": snaps[0], "P" + deltaSuffix: d01}, map[string]int64{"P": 3, "P" + deltaSuffix: 9}, snaps[1], false},
		{"stale delta", map[string][]byte{"P": snaps[2], "P" + deltaSuffix: d01}, map[string]int64{"P": 12, "P" + deltaSuffix: 9}, snaps[2], false},
		{"delta of another base", map[string][]byte{"P": snaps[2], "P" + deltaSuffix: d01}, map[string]int64{"P": 3, "P" + deltaSuffix: 9}, nil, true},
		{"delta without base", map[string][]byte{"P" + deltaSuffix: d01}, map[string]int64{"P" + deltaSuffix: 9}, nil, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cp := &ChangelogPartition{Twins: c.twins, Deltas: map[string]bool{}}
			err := cp.combineDeltas(c.offsets)
			if c.wantErr {
				if !errors.Is(err, errBadSnapshot) {
					t.Fatalf("err %v, want a bad snapshot", err)
				}
				return
			}
			if err != nil || !bytes.Equal(cp.Twins["P"], c.want) || len(cp.Twins) != 1 {
				t.Fatalf("err %v, %d twins", err, len(cp.Twins))
			}
		})
	}
}

// TestMatchLen checks the word-at-a-time comparison against a byte loop,
// for every mismatch position and length around the word size.
func TestMatchLen(t *testing.T) {
	for n := 0; n <= 40; n++ {
		a := make([]byte, n)
		for i := range a {
			a[i] = byte(i*7 + 1)
		}
		for at := 0; at <= n; at++ {
			for extra := range 3 {
				b := append(slices.Clone(a), make([]byte, extra)...)
				if at < n {
					b[at]++
				}
				want := 0
				for want < len(a) && want < len(b) && a[want] == b[want] {
					want++
				}
				if got := matchLen(a, b); got != want {
					t.Fatalf("matchLen(len %d, mismatch at %d, %d more) = %d, want %d", n, at, extra, got, want)
				}
				if got := matchLen(b, a); got != want {
					t.Fatalf("matchLen swapped (len %d, mismatch at %d, %d more) = %d, want %d", n, at, extra, got, want)
				}
			}
		}
	}
}
