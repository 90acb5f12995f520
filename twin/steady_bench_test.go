package twin_test

import (
	"bytes"
	"encoding/json"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/twin"
)

// The steady-state twins of a small simulated city, as bench twins builds
// them (seed 1: the bootstrap, then three hours of live events at the rate
// that gives each of the city's sensors a reading a minute), for the
// benchmarks of what a steady twin costs to keep and to checkpoint.

const (
	steadyProjects = 60
	steadyMinutes  = 180
)

var steady struct {
	once   sync.Once
	twins  []*twin.ProjectTwin
	sites  int
	heap   int64 // HeapAlloc after a GC with the twins, over the same without
	rules  *twin.Rules
	failed error
}

// steadyTwins builds the city once per test binary.
func steadyTwins(b *testing.B) ([]*twin.ProjectTwin, int) {
	steady.once.Do(func() {
		start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
		rules := twin.DefaultRules()
		steady.rules = rules
		heap0 := heapNow()
		byID := map[string]*twin.ProjectTwin{}
		var order []*twin.ProjectTwin
		apply := func(e *twin.Event) {
			if e.Project == twin.CityWide {
				for _, p := range order {
					_, _ = twin.Apply(p, e, rules) // rejections are counted by bench twins, not here
				}
				return
			}
			p, ok := byID[e.Project]
			if !ok {
				if e.Type != twin.TypeProjectRegistered {
					return
				}
				p = twin.NewProject(e.Project, rules)
				byID[e.Project] = p
				order = append(order, p)
			}
			_, _ = twin.Apply(p, e, rules)
		}
		city, err := citysim.New(citysim.Config{Projects: steadyProjects, Seed: 1, Start: start})
		if err != nil {
			steady.failed = err
			return
		}
		for _, e := range city.Bootstrap() {
			apply(e)
		}
		sensors := 0
		for _, p := range order {
			steady.sites += len(p.Sites)
			for _, s := range p.Sites {
				sensors += 9
				for _, e := range s.Equipment {
					switch e.Kind {
					case twin.KindTowerCrane:
						sensors += 3
					case twin.KindFoundationPit:
						sensors++
					}
				}
			}
		}
		city, err = citysim.New(citysim.Config{Projects: steadyProjects, Seed: 1, Start: start, Rate: float64(sensors) / 60 / 0.9})
		if err != nil {
			steady.failed = err
			return
		}
		end := start.Add(steadyMinutes * time.Minute)
		for e := city.Next(); e != nil && e.Time.Before(end); e = city.Next() {
			apply(e)
		}
		city = nil
		steady.twins = order
		steady.heap = heapNow() - heap0
	})
	if steady.failed != nil {
		b.Fatal(steady.failed)
	}
	return steady.twins, steady.sites
}

func heapNow() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// snapshotForms are the two forms of a twin's snapshot: JSON (the dump,
// StateFun, changelogs of earlier versions) and binary (the engine's
// checkpoints).
var snapshotForms = []struct {
	name   string
	encode func(*twin.ProjectTwin) ([]byte, error)
}{
	{"json", func(p *twin.ProjectTwin) ([]byte, error) { return json.Marshal(p) }},
	{"binary", func(p *twin.ProjectTwin) ([]byte, error) {
		// as the engine's workers do: into room kept from the last
		// snapshot, then copied out at its size
		var err error
		snapshotRoom, err = p.AppendSnapshot(snapshotRoom[:0])
		return bytes.Clone(snapshotRoom), err
	}},
}

var snapshotRoom []byte

// BenchmarkSteadyTwinSnapshot encodes the steady twins as a checkpoint
// does, in each form, one project per iteration; it reports the mean
// snapshot size and the heap the twins hold per site.
func BenchmarkSteadyTwinSnapshot(b *testing.B) {
	twins, sites := steadyTwins(b)
	for _, form := range snapshotForms {
		b.Run(form.name, func(b *testing.B) {
			var size int
			for _, p := range twins {
				j, err := form.encode(p)
				if err != nil {
					b.Fatal(err)
				}
				size += len(j)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := form.encode(twins[i%len(twins)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(size)/float64(len(twins)), "snapshot-B/project")
			b.ReportMetric(float64(steady.heap)/float64(sites), "heap-B/site")
		})
	}
}

// BenchmarkSteadyTwinRestore decodes the steady twins' snapshots in each
// form, one project per iteration, as a restore from the changelog does.
func BenchmarkSteadyTwinRestore(b *testing.B) {
	twins, _ := steadyTwins(b)
	for _, form := range snapshotForms {
		b.Run(form.name, func(b *testing.B) {
			snaps := make([][]byte, len(twins))
			for i, p := range twins {
				j, err := form.encode(p)
				if err != nil {
					b.Fatal(err)
				}
				snaps[i] = j
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := twin.DecodeSnapshot(snaps[i%len(snaps)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkSteadyTwinView builds the view of a steady twin, one project per
// iteration, as the engine does for each changed twin after a commit.
func BenchmarkSteadyTwinView(b *testing.B) {
	twins, _ := steadyTwins(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = twins[i%len(twins)].View()
		i++
	}
}
