package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/twin"
)

// benchStart is the simulated now of the cities the apply and decode
// scenarios build: fixed, with the seed, so that every run sees the same
// events.
var benchStart = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// cityEvents returns the bootstrap and the first n live events of the
// simulated city of the given size, seed 1 and rate.
func cityEvents(projects, n int, rate float64) (boot, live []*twin.Event, err error) {
	city, err := citysim.New(citysim.Config{Projects: projects, Seed: 1, Start: benchStart, Rate: rate})
	if err != nil {
		return nil, nil, err
	}
	boot = city.Bootstrap()
	live = make([]*twin.Event, 0, n)
	for range n {
		e := city.Next()
		if e == nil {
			return nil, nil, errors.New("the simulated city stopped before the requested events")
		}
		live = append(live, e)
	}
	return boot, live, nil
}

// applier routes events to in-memory twins as a runtime does: an unknown
// project gets a fresh twin kept only when its registration applies, a
// city-wide event goes to every twin held.
type applier struct {
	rules   *twin.Rules
	twins   map[string]*twin.ProjectTwin
	order   []*twin.ProjectTwin // the twins in the order they were made, for city-wide events
	applies int                 // twin.Apply calls
	errs    int                 // rejected events
}

func (a *applier) apply(e *twin.Event) {
	if e.Project == twin.CityWide {
		for _, p := range a.order {
			a.one(p, e)
		}
		return
	}
	p, ok := a.twins[e.Project]
	if !ok {
		if e.Type != twin.TypeProjectRegistered {
			a.errs++
			return
		}
		p = twin.NewProject(e.Project, a.rules)
		a.twins[e.Project] = p
		a.order = append(a.order, p)
	}
	a.one(p, e)
}

func (a *applier) one(p *twin.ProjectTwin, e *twin.Event) {
	a.applies++
	if _, err := twin.Apply(p, e, a.rules); err != nil {
		a.errs++
	}
}

// phase is the measurement of one run of events through twin.Apply.
type phase struct {
	events, applies, rejected int
	took                      time.Duration
	cpu                       time.Duration // CPU time of the process (user and system)
	allocs, bytes             uint64
}

// cpuTime returns the CPU time the process has used so far, user and
// system. On a machine shared with other work it is a steadier measure of
// a one-goroutine loop than the wall clock, which also counts the time the
// process waited for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func measureApply(a *applier, evs []*twin.Event) phase {
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	applies, errs := a.applies, a.errs
	t0, c0 := time.Now(), cpuTime()
	for _, e := range evs {
		a.apply(e)
	}
	took, cpu := time.Since(t0), cpuTime()-c0
	runtime.ReadMemStats(&m1)
	return phase{
		events: len(evs), applies: a.applies - applies, rejected: a.errs - errs, took: took, cpu: cpu,
		allocs: m1.Mallocs - m0.Mallocs, bytes: m1.TotalAlloc - m0.TotalAlloc,
	}
}

// applyScenario measures twin.Apply alone: the simulated city's events,
// decoded beforehand, applied to twins in memory on one goroutine. The
// bootstrap (registrations and history) and the live mix (mostly sensor
// readings) are timed apart; the live figure is the engine's ceiling.
func applyScenario(args []string, out io.Writer) error {
	fs := flagSet("apply")
	projects := fs.Int("projects", 300, "projects of the simulated city")
	events := fs.Int("events", 1000000, "live events applied after the bootstrap")
	rate := fs.Float64("rate", 100, "live events per second of event time (100: sitetwin run's default)")
	results := fs.String("results", "bench/RESULTS.md", "append the figures to this file (empty: do not)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the live phase to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *projects < 1 || *projects > citysim.MaxProjects || *events < 1 || *rate <= 0 {
		return fmt.Errorf("--projects must be from 1 to %d, --events at least 1 and --rate above 0", citysim.MaxProjects)
	}
	t0 := time.Now()
	boot, live, err := cityEvents(*projects, *events, *rate)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d bootstrap and %d live events of %d projects generated in %s\n", len(boot), len(live), *projects, time.Since(t0).Round(time.Millisecond))
	prev := runtime.GOMAXPROCS(1) // one core: the figures are per core
	defer runtime.GOMAXPROCS(prev)
	a := &applier{rules: twin.DefaultRules(), twins: map[string]*twin.ProjectTwin{}}
	bootPhase := measureApply(a, boot)
	stop, err := startProfile(*profile)
	if err != nil {
		return err
	}
	livePhase := measureApply(a, live)
	stop()
	phases := []struct {
		name string
		ph   phase
	}{{"bootstrap", bootPhase}, {"live", livePhase}}
	var sb strings.Builder
	fmt.Fprintf(&sb, "| phase | events | Apply calls | rejected | time | CPU time | events/s per core | events/s per CPU second | ns/event | allocs/event | B/event |\n")
	fmt.Fprintf(&sb, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, p := range phases {
		n := float64(p.ph.events)
		fmt.Fprintf(&sb, "| %s | %d | %d | %d | %s | %s | **%.0f** | %.0f | %.0f | %.1f | %.0f |\n", p.name, p.ph.events, p.ph.applies, p.ph.rejected,
			p.ph.took.Round(time.Millisecond), p.ph.cpu.Round(time.Millisecond), n/p.ph.took.Seconds(), n/p.ph.cpu.Seconds(),
			float64(p.ph.took.Nanoseconds())/n, float64(p.ph.allocs)/n, float64(p.ph.bytes)/n)
	}
	fmt.Fprintf(out, "\n%s", sb.String())
	command := fmt.Sprintf("go run ./bench apply --projects %d --events %d --rate %g", *projects, *events, *rate)
	return appendResults(*results, "apply", command, sb.String())
}

// startProfile starts a CPU profile written to file, and returns what
// stops it; an empty file name profiles nothing.
func startProfile(file string) (stop func(), err error) {
	if file == "" {
		return func() {}, nil
	}
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
