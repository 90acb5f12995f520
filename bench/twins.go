package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/twin"
)

// The twins scenario: the resident memory of steady-state twins. For each
// city size it builds the simulated city's twins (seed 1) from the bootstrap
// (registrations, history, the last day of pit readings), then applies
// live events for --steady-minutes of event time at the rate that gives
// each sensor a reading every --sensor-every on average, so that every
// series holds the buckets of its retention that such a sensor fills. The
// events are applied by one goroutine per core, each owning the twins of
// its share of the projects (as the engine's partition workers do). With
// the city and its events dropped, the heap in use after a GC (HeapAlloc)
// and the process's VmRSS (after debug.FreeOSMemory) are compared with the
// same figures taken before the city was made. The heap is then broken
// down by field: parts of every twin are dropped one after another, and
// each drop's fall in HeapAlloc is what that part held.

// readingShare is the share of citysim's live events that are sensor
// readings (citysim's buildSlots: "each reports at about 0.9 × Rate /
// sensors per second"); the scenario measures and prints the interval
// actually achieved.
const readingShare = 0.9

func twinsScenario(args []string, out io.Writer) error {
	fs := flagSet("twins")
	sizesFlag := fs.String("projects", "10000,100000", "comma-separated city sizes (projects)")
	every := fs.Duration("sensor-every", time.Minute, "mean interval between two live readings of one sensor (sets the live rate from the city's sensor count)")
	steady := fs.Int("steady-minutes", 180, "minutes of event time of live events after the bootstrap (180: rainfall's 3 h retention, the longest of the series the live stream fills; the bootstrap brings a day of pit readings)")
	memprofile := fs.String("memprofile", "", "write a heap profile of each city's twins to this file, the size inserted before its extension (go tool pprof -sample_index=inuse_space)")
	results := fs.String("results", "bench/RESULTS.md", "append the figures to this file (empty: do not)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var sizes []int
	for _, f := range strings.Split(*sizesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > citysim.MaxProjects {
			return fmt.Errorf("--projects: %q is not a number of projects from 1 to %d", f, citysim.MaxProjects)
		}
		sizes = append(sizes, n)
	}
	if *every <= 0 || *steady < 0 {
		return fmt.Errorf("--sensor-every must be positive and --steady-minutes at least 0")
	}
	// The heap of 100,000 steady-state twins takes gigabytes: collect at 25 %
	// growth instead of 100 % so that building them does not need twice
	// that (the figures are taken after explicit collections either way).
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	rules := twin.DefaultRules()
	load0 := loadAverage()
	var res []twinsResult
	for _, n := range sizes {
		prof := ""
		if *memprofile != "" {
			ext := filepath.Ext(*memprofile)
			prof = fmt.Sprintf("%s-%d%s", strings.TrimSuffix(*memprofile, ext), n, ext)
		}
		r, err := measureTwins(n, *every, time.Duration(*steady)*time.Minute, rules, prof, out)
		if err != nil {
			return err
		}
		res = append(res, r)
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "| projects | sites | sensors | live events | mean interval per sensor | build | heap (HeapAlloc Δ) | per project | **per site** | RSS Δ | RSS per project | RSS per site |\n")
	fmt.Fprintf(&sb, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range res {
		fmt.Fprintf(&sb, "| %d | %d | %d | %d | %s | %s | %s | %.1f KiB | **%.1f KiB** | %s | %.1f KiB | %.1f KiB |\n",
			r.projects, r.sites, r.sensors, r.live, r.interval.Round(100*time.Millisecond), r.build.Round(time.Second),
			mib(r.heap), kib(r.heap)/float64(r.projects), kib(r.heap)/float64(r.sites),
			mib(r.rss), kib(r.rss)/float64(r.projects), kib(r.rss)/float64(r.sites))
	}
	fmt.Fprintf(&sb, "\nSteady state: the bootstrap (registrations, history, the last day of pit readings), then %d minutes of live events at the rate that gives each sensor a reading every %s on average (citysim draws the sensor of each reading at random). Load average at the start: %s.\n", *steady, *every, load0)
	fmt.Fprintf(&sb, "\nSnapshots, in the binary form a checkpoint writes for a changed twin (twin.ProjectTwin.AppendSnapshot) and in the JSON form (the dump's, and checkpoints of state version 1), each read back as a restore does (twin.DecodeSnapshot); one goroutine:\n\n")
	fmt.Fprintf(&sb, "| projects | form | bytes per project | encode per project | allocs | decode per project | allocs |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range res {
		for _, c := range r.snaps {
			fmt.Fprintf(&sb, "| %d | %s | %.1f KB | %s | %.0f | %s | %.0f |\n", r.projects, c.form, c.bytes/1000,
				c.encode.Round(time.Microsecond), c.encAllocs, c.decode.Round(time.Microsecond), c.decAllocs)
		}
	}
	last := res[len(res)-1]
	fmt.Fprintf(&sb, "\nWhere the heap of the %d-project city goes (each part dropped from every twin in turn; the fall of HeapAlloc after a GC):\n\n", last.projects)
	fmt.Fprintf(&sb, "| part of the twin | per project | per site | share |\n| --- | ---: | ---: | ---: |\n")
	for _, p := range last.parts {
		fmt.Fprintf(&sb, "| %s | %.2f KiB | %.2f KiB | %.1f %% |\n", p.name, kib(p.bytes)/float64(last.projects), kib(p.bytes)/float64(last.sites), 100*float64(p.bytes)/float64(max(last.heap, 1)))
	}
	fmt.Fprintf(&sb, "\nSensor series of the %d-project city at the end (full: the retention's buckets; bytes: the buckets' arrays, as twin.Buckets.HeapBytes counts them):\n\n", last.projects)
	fmt.Fprintf(&sb, "| kind | bucket / retention | series | buckets held (mean) | full | capacity (mean) | bytes per series (capacity) |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, k := range last.kinds {
		fmt.Fprintf(&sb, "| %s | %s / %s | %d | %.1f | %d | %.1f | %.0f |\n", k.kind, k.bucket, k.retention, k.series,
			float64(k.held)/float64(k.series), k.full, float64(k.capacity)/float64(k.series), float64(k.bytes)/float64(k.series))
	}
	fmt.Fprintf(&sb, "\nRecent sensor ids remembered for deduplication (Seen.Sites): %.0f per site (%d B each, plus the index).\n",
		float64(last.seenIDs)/float64(last.sites), seenIDSize)
	fmt.Fprint(out, "\n"+sb.String())
	cmd := fmt.Sprintf("go run ./bench twins --projects %s --sensor-every %s --steady-minutes %d", *sizesFlag, *every, *steady)
	return appendResults(*results, "twins (memory)", cmd, sb.String())
}

// Sizes of the elements the twins keep in slices.
var (
	seenIDSize = reflect.TypeFor[twin.SeenID]().Size()
)

// twinsResult is the measurement of one city.
type twinsResult struct {
	cityStats
	heap, rss int64 // over the baseline
	parts     []twinPart
	snaps     []snapshotCost
	kinds     []kindFill
	seenIDs   int
}

// snapshotCost is what the twins' snapshots in one form cost, per project:
// bytes, and the time (on one core) and allocations of encoding them, and
// of decoding them as a restore does.
type snapshotCost struct {
	form                 string
	bytes                float64
	encode, decode       time.Duration
	encAllocs, decAllocs float64
}

// snapshotTwins encodes every twin, then decodes what it wrote, on this
// goroutine, a chunk of twins at a time so that the snapshots of a
// 100,000-twin city (several GB) are never held at once; encoding and
// decoding are timed and counted apart.
func snapshotTwins(twins []*twin.ProjectTwin, form snapshotForm) (snapshotCost, error) {
	const chunk = 1024
	c := snapshotCost{form: form.name}
	var enc, dec time.Duration
	var encAllocs, decAllocs, bytes uint64
	snaps := make([][]byte, 0, chunk)
	var m0, m1, m2 runtime.MemStats
	runtime.GC()
	for lo := 0; lo < len(twins); lo += chunk {
		snaps = snaps[:0]
		runtime.ReadMemStats(&m0)
		t0 := time.Now()
		for _, p := range twins[lo:min(len(twins), lo+chunk)] {
			b, err := form.encode(p)
			if err != nil {
				return c, fmt.Errorf("snapshot %s: %w", p.ID, err)
			}
			snaps = append(snaps, b)
		}
		t1 := time.Now()
		runtime.ReadMemStats(&m1)
		for _, b := range snaps {
			if _, err := twin.DecodeSnapshot(b); err != nil {
				return c, fmt.Errorf("restore a snapshot: %w", err)
			}
			bytes += uint64(len(b))
		}
		t2 := time.Now()
		runtime.ReadMemStats(&m2)
		enc, dec = enc+t1.Sub(t0), dec+t2.Sub(t1)
		encAllocs, decAllocs = encAllocs+m1.Mallocs-m0.Mallocs, decAllocs+m2.Mallocs-m1.Mallocs
	}
	n := float64(len(twins))
	c.bytes = float64(bytes) / n
	c.encode, c.decode = enc/time.Duration(len(twins)), dec/time.Duration(len(twins))
	c.encAllocs, c.decAllocs = float64(encAllocs)/n, float64(decAllocs)/n
	return c, nil
}

// snapshotForm is a form of a twin's snapshot and how to write it.
type snapshotForm struct {
	name   string
	encode func(*twin.ProjectTwin) ([]byte, error)
}

// snapshotForms: the engine's checkpoints, then the JSON form.
var snapshotForms = []snapshotForm{
	{"binary", func(p *twin.ProjectTwin) ([]byte, error) { return p.AppendSnapshot(nil) }},
	{"JSON", func(p *twin.ProjectTwin) ([]byte, error) { return json.Marshal(p) }},
}

// twinPart is what one part of the twins held.
type twinPart struct {
	name  string
	bytes int64
}

// kindFill is how full the series of one kind are.
type kindFill struct {
	kind, bucket, retention string
	series, held, full      int
	capacity, bytes         int
}

func kib(b int64) float64 { return float64(b) / 1024 }

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// memNow returns the heap in use after a GC and the process's resident set.
func memNow() (heap, rss int64) {
	debug.FreeOSMemory() // a GC, and the freed pages back to the OS so that RSS shows what is live
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc), vmRSS()
}

// vmRSS reads the process's resident set size from /proc/self/status; 0
// where there is none.
func vmRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// measureTwins builds one city's steady-state twins and measures them.
func measureTwins(n int, every, steady time.Duration, rules *twin.Rules, profile string, out io.Writer) (twinsResult, error) {
	heap0, rss0 := memNow()
	c, err := steadyCity(n, every, steady, rules, out)
	if err != nil {
		return twinsResult{}, err
	}
	r := twinsResult{cityStats: c.cityStats}
	twins := c.twins
	c = nil
	heap1, rss1 := memNow()
	r.heap, r.rss = heap1-heap0, rss1-rss0
	fmt.Fprintf(out, "%d projects: heap %s (%.1f KiB per site), RSS %s\n", n, mib(r.heap), kib(r.heap)/float64(r.sites), mib(r.rss))
	if profile != "" {
		if err := writeHeapProfile(profile); err != nil {
			return r, err
		}
	}
	for _, form := range snapshotForms {
		c, err := snapshotTwins(twins, form)
		if err != nil {
			return r, err
		}
		r.snaps = append(r.snaps, c)
	}
	r.kinds, r.seenIDs = seriesFill(twins, rules)
	r.parts = peelTwins(twins, heap1)
	return r, nil
}

// cityStats describes a steady-state city that steadyCity built.
type cityStats struct {
	projects, sites, sensors int
	live, readings, rejected int
	interval                 time.Duration // achieved mean interval between two readings of a sensor
	build                    time.Duration
	end                      time.Time // the event time the live stream reached
}

// builtCity is a steady-state city's twins.
type builtCity struct {
	cityStats
	twins []*twin.ProjectTwin
}

// steadyCity builds the twins of the simulated city of n projects (seed
// 1): the bootstrap, then `steady` of live event time at the rate that
// gives each sensor a reading every `every` on average. Events are
// applied by one goroutine per core, each owning its share of the
// projects. Every live event is applied: a reading that has left its
// series by the end still shaped it (the capacity of a series' bucket
// slice is the most buckets it ever held, which grows for hours).
func steadyCity(n int, every, steady time.Duration, rules *twin.Rules, out io.Writer) (*builtCity, error) {
	c := &builtCity{cityStats: cityStats{projects: n}}
	t0 := time.Now()
	city, err := citysim.New(citysim.Config{Projects: n, Seed: 1, Start: benchStart})
	if err != nil {
		return nil, err
	}
	boot := city.Bootstrap()
	fmt.Fprintf(out, "%d projects: applying the bootstrap (%d events) ...\n", n, len(boot))
	sh := newShards(runtime.GOMAXPROCS(0), rules)
	for i, e := range boot {
		sh.dispatch(e)
		boot[i] = nil // applied events are garbage, as in the engine
	}
	sh.wait()
	for _, p := range sh.twins() {
		c.sites += len(p.Sites)
		for _, s := range p.Sites {
			c.sensors += citySiteSensors
			for _, e := range s.Equipment {
				switch e.Kind {
				case twin.KindTowerCrane:
					c.sensors += citySensorsPerCrane
				case twin.KindFoundationPit:
					c.sensors++
				}
			}
		}
	}

	// The live city: the same projects (the rate paces only the live
	// stream), with the rate that gives each sensor a reading every
	// `every` on average.
	rate := float64(c.sensors) / every.Seconds() / readingShare
	city, err = citysim.New(citysim.Config{Projects: n, Seed: 1, Start: benchStart, Rate: rate})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(out, "%d projects: %d sites, %d sensors; %s of live events at %.0f events/s ...\n", n, c.sites, c.sensors, steady, rate)
	c.end = benchStart.Add(steady)
	sh.restart()
	for e := city.Next(); e != nil && e.Time.Before(c.end); e = city.Next() {
		c.live++
		if e.Type == twin.TypeSensorReading {
			c.readings++
		}
		sh.dispatch(e)
		if c.live%20_000_000 == 0 {
			fmt.Fprintf(out, "  %d live events, event time %s, %s\n", c.live, e.Time.Sub(benchStart).Round(time.Second), time.Since(t0).Round(time.Second))
		}
	}
	sh.wait()
	c.build = time.Since(t0)
	if c.readings > 0 {
		c.interval = time.Duration(float64(steady) * float64(c.sensors) / float64(c.readings))
	}
	c.twins = sh.twins()
	for _, a := range sh.appliers {
		c.rejected += a.errs
	}
	fmt.Fprintf(out, "%d projects: %d live events (%d readings; %d events rejected by Apply); built in %s\n",
		n, c.live, c.readings, c.rejected, c.build.Round(time.Second))
	return c, nil
}

// The sensors citysim gives a site (buildSlots): nine of the site (PM10,
// PM2.5, noise, wind, gust, temperature, humidity, rainfall, vibration),
// three per tower crane (load, tilt, wind at the jib) and one per pit.
const (
	citySiteSensors     = 9
	citySensorsPerCrane = 3
)

func writeHeapProfile(file string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// seriesFill says, per sensor kind, how many buckets the series hold and
// with what capacity, and counts the recent sensor ids remembered.
func seriesFill(twins []*twin.ProjectTwin, rules *twin.Rules) ([]kindFill, int) {
	byKind := map[string]*kindFill{}
	ids := 0
	for _, p := range twins {
		for _, s := range p.Sites {
			for _, se := range s.Series {
				k := byKind[se.Kind]
				if k == nil {
					spec := rules.SeriesFor(se.Kind)
					k = &kindFill{kind: se.Kind, bucket: fmtDur(spec.Bucket.D()), retention: fmtDur(spec.Retention.D()),
						full: int(spec.Retention.D() / spec.Bucket.D())}
					byKind[se.Kind] = k
				}
				k.series++
				k.held += se.Buckets.Len()
				k.capacity += se.Buckets.Cap()
				k.bytes += se.Buckets.HeapBytes()
			}
		}
		for _, s := range p.Seen.Sites {
			ids += s.Len()
		}
	}
	var out []kindFill
	for _, k := range byKind {
		out = append(out, *k)
	}
	slices.SortFunc(out, func(a, b kindFill) int { return strings.Compare(a.kind, b.kind) })
	return out, ids
}

// fmtDur writes a duration of whole minutes as the rule pack does: 1m,
// 20m, 3h.
func fmtDur(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	if d%time.Minute == 0 {
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return d.String()
}

// peelTwins drops the parts of every twin one after another and returns
// what each held: the fall of the heap in use after a GC. The last part is
// what is left (the twin's own struct and its small fields) when the twins
// themselves go. Memory two parts share (a string kept in both) is
// counted in the part dropped last.
func peelTwins(twins []*twin.ProjectTwin, heap int64) []twinPart {
	eachSite := func(f func(*twin.SiteTwin)) func(*twin.ProjectTwin) {
		return func(p *twin.ProjectTwin) {
			for _, s := range p.Sites {
				f(s)
			}
		}
	}
	steps := []struct {
		name string
		drop func(*twin.ProjectTwin)
	}{
		{"Seen: the index of recent ids (hash set, rebuilt on demand)", func(p *twin.ProjectTwin) {
			p.Seen = twin.Seen{Keep: p.Seen.Keep, Recent: p.Seen.Recent, Sites: p.Seen.Sites}
		}},
		{"Seen.Sites: recent sensor-reading ids per site (dedup horizon)", func(p *twin.ProjectTwin) { p.Seen.Sites = nil }},
		{"Seen.Recent: recent progress ids", func(p *twin.ProjectTwin) { p.Seen.Recent = twin.SeenIDs{} }},
		{"Seen.Keep: ids kept for the twin's life", func(p *twin.ProjectTwin) { p.Seen.Keep = nil }},
		{"site Series: buckets", eachSite(func(s *twin.SiteTwin) {
			for _, se := range s.Series {
				se.Buckets = twin.Buckets{}
			}
		})},
		{"site Series: the rest (map, Series structs, latest reading's id)", eachSite(func(s *twin.SiteTwin) { s.Series = nil })},
		{"site Values (latest windowed value per rule)", eachSite(func(s *twin.SiteTwin) { s.Values = nil })},
		{"site Alarms", eachSite(func(s *twin.SiteTwin) { s.Alarms = nil })},
		{"site Reasons", eachSite(func(s *twin.SiteTwin) { s.Reasons = nil })},
		{"site SensorAlarms", eachSite(func(s *twin.SiteTwin) { s.SensorAlarms = nil })},
		{"site Incidents and EarlierIncidents", eachSite(func(s *twin.SiteTwin) { s.Incidents, s.EarlierIncidents = nil, nil })},
		{"site Equipment", eachSite(func(s *twin.SiteTwin) { s.Equipment = nil })},
		{"Sites: the map and the SiteTwin structs", func(p *twin.ProjectTwin) { p.Sites = nil }},
		{"Audit (hash chain records)", func(p *twin.ProjectTwin) { p.Audit = nil }},
		{"Milestones", func(p *twin.ProjectTwin) { p.Milestones = nil }},
		{"Hazards", func(p *twin.ProjectTwin) { p.Hazards = nil }},
		{"Credit.Changes", func(p *twin.ProjectTwin) { p.Credit.Changes = nil }},
		{"Funds: wage payments and periods", func(p *twin.ProjectTwin) { p.Funds.WagePayments, p.Funds.WagePeriods = nil, nil }},
		{"project Alarms and Reasons", func(p *twin.ProjectTwin) { p.Alarms, p.Reasons = nil, nil }},
		{"Filings, Predictions, Weather advisory", func(p *twin.ProjectTwin) {
			p.Filings, p.Predictions, p.Weather.Advisory = nil, twin.Predictions{}, nil
		}},
	}
	var parts []twinPart
	prev := heap
	for _, st := range steps {
		for _, p := range twins {
			st.drop(p)
		}
		h, _ := memNow()
		parts = append(parts, twinPart{st.name, prev - h})
		prev = h
	}
	clear(twins)
	h, _ := memNow()
	parts = append(parts, twinPart{"the rest: ProjectTwin structs, Info, Schedule, Funds, Weather", prev - h})
	return parts
}

// shards applies events on one goroutine per shard, each owning the twins
// of the projects that hash to it; city-wide events go to every shard.
type shards struct {
	appliers []*applier
	batches  [][]*twin.Event
	chans    []chan []*twin.Event
	wg       sync.WaitGroup
}

const shardBatch = 1024

func newShards(n int, rules *twin.Rules) *shards {
	sh := &shards{}
	for range n {
		sh.appliers = append(sh.appliers, &applier{rules: rules, twins: map[string]*twin.ProjectTwin{}})
	}
	sh.restart()
	return sh
}

// restart starts the shards' goroutines (after wait).
func (sh *shards) restart() {
	sh.batches = make([][]*twin.Event, len(sh.appliers))
	sh.chans = make([]chan []*twin.Event, len(sh.appliers))
	for i, a := range sh.appliers {
		ch := make(chan []*twin.Event, 16)
		sh.chans[i] = ch
		sh.wg.Go(func() {
			for b := range ch {
				for _, e := range b {
					a.apply(e)
				}
			}
		})
	}
}

func (sh *shards) dispatch(e *twin.Event) {
	if e.Project == twin.CityWide {
		for i := range sh.appliers {
			sh.add(i, e)
		}
		return
	}
	h := fnv.New32a()
	h.Write([]byte(e.Project))
	sh.add(int(h.Sum32()%uint32(len(sh.appliers))), e)
}

func (sh *shards) add(i int, e *twin.Event) {
	sh.batches[i] = append(sh.batches[i], e)
	if len(sh.batches[i]) == shardBatch {
		sh.chans[i] <- sh.batches[i]
		sh.batches[i] = make([]*twin.Event, 0, shardBatch)
	}
}

// wait sends what is batched and waits until every shard applied it.
func (sh *shards) wait() {
	for i, ch := range sh.chans {
		if len(sh.batches[i]) > 0 {
			ch <- sh.batches[i]
		}
		close(ch)
	}
	sh.wg.Wait()
	sh.batches, sh.chans = nil, nil
}

// twins returns every shard's twins.
func (sh *shards) twins() []*twin.ProjectTwin {
	var out []*twin.ProjectTwin
	for _, a := range sh.appliers {
		out = append(out, a.order...)
	}
	return out
}
