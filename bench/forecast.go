package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/scenarios"
	"github.com/sitetwin/sitetwin/twin"
)

// The forecast scenario: the cost of the prediction models of
// predict.NewRegistry (delay with its Monte Carlo, safety, typhoon) per
// project twin. It builds a steady-state city (as the twins scenario does),
// lays a real typhoon track over it as `sitetwin simulate --storm` does
// (scenarios.Storm, the track shifted so that it passes the city's centre
// --storm-in after the twins' clock) and applies to every twin the last
// advisory issued by then, so that the typhoon model has an advisory to
// forecast. Then it calls each model's Predict on the view of every twin,
// as the engine's workers do: first on one core (GOMAXPROCS 1, one run
// after another: the time of each run), then on all cores (a goroutine
// per core taking the twins the model applies to: runs per second).

func forecastScenario(args []string, out io.Writer) error {
	fs := flagSet("forecast")
	projects := fs.Int("projects", 1000, "projects of the simulated city")
	every := fs.Duration("sensor-every", time.Minute, "mean interval between two live readings of one sensor")
	steady := fs.Int("steady-minutes", 60, "minutes of event time of live events after the bootstrap")
	storm := fs.String("storm", "predict/testdata/wind/mangkhut_2018_1822_jma.csv", "the typhoon track laid over the city (RSMC Tokyo best track, CLIMADA CSV or plain CSV)")
	stormIn := fs.Duration("storm-in", 24*time.Hour, "how long after the twins' clock the track passes closest to the city's centre")
	results := fs.String("results", "bench/RESULTS.md", "append the figures to this file (empty: do not)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the models' runs (one core and all cores) to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *projects < 1 || *every <= 0 || *steady < 0 || *stormIn < 0 {
		return errors.New("--projects and --sensor-every must be positive, --steady-minutes and --storm-in at least 0")
	}
	rules := twin.DefaultRules()
	c, err := steadyCity(*projects, *every, time.Duration(*steady)*time.Minute, rules, out)
	if err != nil {
		return err
	}
	adv, err := layStorm(c, *storm, *stormIn, rules)
	if err != nil {
		return err
	}
	advised := 0
	for _, p := range c.twins {
		if p.Weather.Advisory != nil {
			advised++
		}
	}
	fmt.Fprintf(out, "typhoon advisory %s (issued %s, %d track points) applied to %d of %d twins\n",
		adv.Name, adv.Issued.Start(time.UTC).Format(time.RFC3339), len(adv.Track), advised, len(c.twins))

	cores := runtime.NumCPU()
	load0 := loadAverage()
	prev := runtime.GOMAXPROCS(1)
	views := make([]*twin.ProjectView, len(c.twins))
	viewTimes := make([]time.Duration, len(c.twins))
	for i, p := range c.twins {
		t0 := time.Now()
		views[i] = p.View()
		viewTimes[i] = time.Since(t0)
	}
	runtime.GOMAXPROCS(prev)
	var rows []modelCost
	rows = append(rows, modelCost{name: "view (ProjectView of the twin, built before each run)", cost: "–", calls: len(views), times: viewTimes})
	stop, err := startProfile(*profile)
	if err != nil {
		return err
	}
	for _, m := range predict.NewRegistry(rules).Models() {
		fmt.Fprintf(out, "model %s: %d twins on one core ...\n", m.Name(), len(views))
		r, err := costOf(m, views, cores)
		if err != nil {
			stop()
			return err
		}
		rows = append(rows, r)
	}
	stop()

	var sb strings.Builder
	fmt.Fprintf(&sb, "Load average before the models ran: %s (other work shared the machine).\n\n", load0)
	fmt.Fprintf(&sb, "City: %d projects, %d sites, %d tower cranes (seed 1); %d min of live events (each sensor every %s on average) after the bootstrap; typhoon advisory %s issued %s with the track passing the city's centre %s later, on %d of %d twins.\n\n",
		c.projects, c.sites, countCranes(c.twins), *steady, c.interval.Round(time.Second), adv.Name, adv.Issued.Start(time.UTC).Format("2006-01-02 15:04Z"), *stormIn, advised, len(c.twins))
	fmt.Fprintf(&sb, "| model | cost | twins | first run | runs | not applicable | mean per run (one core) | p99 | max | runs/s one core | runs/s %d cores | speed-up |\n", cores)
	fmt.Fprintf(&sb, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range rows {
		ts := slices.Sorted(slices.Values(r.times))
		if len(ts) == 0 {
			fmt.Fprintf(&sb, "| %s | %s | %d | – | 0 | %d | – | – | – | – | – | – |\n", r.name, r.cost, r.calls, r.na)
			continue
		}
		var sum time.Duration
		for _, t := range ts {
			sum += t
		}
		one := float64(len(ts)) / sum.Seconds()
		all, speed := "–", "–"
		if r.wall > 0 {
			all = fmt.Sprintf("%.0f", float64(len(ts))/r.wall.Seconds())
			speed = fmt.Sprintf("%.2f×", float64(len(ts))/r.wall.Seconds()/one)
		}
		first := "–"
		if r.first > 0 {
			first = fmtMicros(r.first)
		}
		fmt.Fprintf(&sb, "| %s | %s | %d | %s | %d | %d | %s | %s | %s | %.0f | %s | %s |\n", r.name, r.cost, r.calls, first, len(ts), r.na,
			fmtMicros(sum/time.Duration(len(ts))), fmtMicros(ts[min(len(ts)-1, len(ts)*99/100)]), fmtMicros(ts[len(ts)-1]), one, all, speed)
	}
	fmt.Fprint(out, "\n"+sb.String())
	cmd := fmt.Sprintf("go run ./bench forecast --projects %d --sensor-every %s --steady-minutes %d --storm %s --storm-in %s", *projects, *every, *steady, *storm, *stormIn)
	return appendResults(*results, "forecast (prediction models)", cmd, sb.String())
}

// modelCost is the measurement of one model over the city's twins.
type modelCost struct {
	name, cost string
	calls, na  int
	times      []time.Duration // of the runs that applied, on one core
	first      time.Duration   // of the first run that applied (the warm-up: what the model set up for all runs included), not in times
	wall       time.Duration   // of the same runs on all cores
}

// costOf runs a model on every view, one after another on one core, then
// on the views it applied to with a goroutine per core. An error other
// than predict.ErrNotApplicable stops the scenario.
func costOf(m predict.Model, views []*twin.ProjectView, cores int) (modelCost, error) {
	r := modelCost{name: m.Name() + " " + m.Version(), cost: "cheap"}
	if m.Cost() == predict.Expensive {
		r.cost = "expensive"
	}
	ctx := context.Background()
	prev := runtime.GOMAXPROCS(1)
	for _, v := range views { // warm up: the first run of a model may load or set up what the others share
		t0 := time.Now()
		if _, err := m.Predict(ctx, v); err == nil {
			r.first = time.Since(t0)
			break
		}
	}
	runtime.GC()
	var applied []*twin.ProjectView
	for _, v := range views {
		r.calls++
		t0 := time.Now()
		_, err := m.Predict(ctx, v)
		took := time.Since(t0)
		switch {
		case errors.Is(err, predict.ErrNotApplicable):
			r.na++
		case err != nil:
			runtime.GOMAXPROCS(prev)
			return r, fmt.Errorf("model %s on %s: %w", m.Name(), v.ID, err)
		default:
			r.times = append(r.times, took)
			applied = append(applied, v)
		}
	}
	runtime.GOMAXPROCS(cores)
	defer runtime.GOMAXPROCS(prev)
	var next atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for range cores {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(applied) {
					return
				}
				m.Predict(ctx, applied[i]) //nolint:errcheck // it succeeded on one core with the same view
			}
		})
	}
	wg.Wait()
	if len(applied) > 0 {
		r.wall = time.Since(t0)
	}
	return r, nil
}

// fmtMicros writes a duration in µs below a millisecond and in ms above.
func fmtMicros(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func countCranes(twins []*twin.ProjectTwin) int {
	n := 0
	for _, p := range twins {
		for _, s := range p.Sites {
			for _, e := range s.Equipment {
				if e.Kind == twin.KindTowerCrane {
					n++
				}
			}
		}
	}
	return n
}

// layStorm lays the track of a file over the city as `sitetwin simulate
// --storm` does: shifted so that it passes closest to the mean of the
// sites at `in` after the city's clock, its advisories those of
// scenarios.Storm (every 6 h, 72 h ahead, with forecast errors). It
// applies to every twin the last advisory issued by the city's clock, as a
// city-wide event at that clock, and returns it.
func layStorm(c *builtCity, file string, in time.Duration, rules *twin.Rules) (*twin.TyphoonAdvisory, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("--storm: %w", err)
	}
	defer f.Close()
	track, err := predict.ParseTrack(f)
	if err != nil {
		return nil, fmt.Errorf("--storm %s: %w", file, err)
	}
	if track.Name == "" {
		track.Name, _, _ = strings.Cut(filepath.Base(file), "_") // mangkhut_2018_1822_jma.csv: mangkhut
	}
	var lat, lon float64
	n := 0
	for _, p := range c.twins {
		for _, s := range p.Sites {
			lat, lon, n = lat+s.Lat, lon+s.Lon, n+1
		}
	}
	if n == 0 {
		return nil, errors.New("the city has no sites")
	}
	lat, lon = lat/float64(n), lon/float64(n)
	st := scenarios.Storm{Track: scenarios.Shift(track, lat, lon, c.end.Add(in)), Lat: lat, Lon: lon,
		Crane: predict.CraneOptions{TerrainAlpha: rules.TerrainAlpha}, Seed: 1}
	evs, err := st.Events()
	if err != nil {
		return nil, err
	}
	var last *twin.Event
	for _, e := range evs {
		if e.Type == twin.TypeTyphoonAdvisory && !e.Time.After(c.end) {
			last = e
		}
	}
	if last == nil {
		return nil, fmt.Errorf("--storm %s: no advisory issued by %s; lower --storm-in", file, c.end.Format(time.RFC3339))
	}
	ev := *last
	ev.Time = c.end
	for _, p := range c.twins {
		if _, err := twin.Apply(p, &ev, rules); err != nil {
			return nil, fmt.Errorf("apply the advisory to %s: %w", p.ID, err)
		}
	}
	return ev.Data.(*twin.TyphoonAdvisory), nil
}
