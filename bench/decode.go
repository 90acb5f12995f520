package main

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/twin"
)

// decodeScenario measures twin.Decode: the simulated city's events
// (bootstrap and live mix), encoded beforehand as CloudEvent JSON, decoded
// into typed events on one goroutine, the whole set decoded --rounds times.
func decodeScenario(args []string, out io.Writer) error {
	fs := flagSet("decode")
	projects := fs.Int("projects", 300, "projects of the simulated city")
	events := fs.Int("events", 500000, "live events encoded after the bootstrap")
	rate := fs.Float64("rate", 100, "live events per second of event time (100: sitetwin run's default)")
	rounds := fs.Int("rounds", 3, "times the whole set is decoded (the fastest round is reported)")
	results := fs.String("results", "bench/RESULTS.md", "append the figures to this file (empty: do not)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the decoding to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *projects < 1 || *projects > citysim.MaxProjects || *events < 1 || *rate <= 0 || *rounds < 1 {
		return fmt.Errorf("--projects must be from 1 to %d, --events and --rounds at least 1 and --rate above 0", citysim.MaxProjects)
	}
	boot, live, err := cityEvents(*projects, *events, *rate)
	if err != nil {
		return err
	}
	type set struct {
		name string
		raw  [][]byte
		size int64
	}
	encode := func(name string, evs []*twin.Event) (set, error) {
		s := set{name: name, raw: make([][]byte, len(evs))}
		for i, e := range evs {
			b, err := twin.Encode(e)
			if err != nil {
				return s, fmt.Errorf("encode %s: %w", e.ID, err)
			}
			s.raw[i] = b
			s.size += int64(len(b))
		}
		return s, nil
	}
	sets := make([]set, 2)
	if sets[0], err = encode("bootstrap", boot); err != nil {
		return err
	}
	if sets[1], err = encode("live", live); err != nil {
		return err
	}
	prev := runtime.GOMAXPROCS(1) // one core: the figures are per core
	defer runtime.GOMAXPROCS(prev)
	stop, err := startProfile(*profile)
	if err != nil {
		return err
	}
	defer stop()
	var sb strings.Builder
	fmt.Fprintf(&sb, "| events | count | bytes (mean) | time (best of %d) | MB/s per core | events/s per core | ns/event | allocs/event |\n", *rounds)
	fmt.Fprintf(&sb, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, s := range sets {
		var best time.Duration
		var allocs uint64
		for r := range *rounds {
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			t0 := time.Now()
			for _, b := range s.raw {
				if _, err := twin.Decode(b); err != nil {
					return fmt.Errorf("decode %s: %w", b, err)
				}
			}
			took := time.Since(t0)
			runtime.ReadMemStats(&m1)
			if r == 0 || took < best {
				best = took
			}
			allocs = m1.Mallocs - m0.Mallocs
		}
		n := float64(len(s.raw))
		fmt.Fprintf(&sb, "| %s | %d | %.0f B | %s | **%.1f** | **%.0f** | %.0f | %.1f |\n", s.name, len(s.raw), float64(s.size)/n,
			best.Round(time.Millisecond), float64(s.size)/1e6/best.Seconds(), n/best.Seconds(), float64(best.Nanoseconds())/n, float64(allocs)/n)
	}
	fmt.Fprintf(out, "\n%s", sb.String())
	command := fmt.Sprintf("go run ./bench decode --projects %d --events %d --rate %g --rounds %d", *projects, *events, *rate, *rounds)
	return appendResults(*results, "decode", command, sb.String())
}
