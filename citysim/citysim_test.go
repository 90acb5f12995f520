package citysim_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/twin"
)

var (
	cst = time.FixedZone("CST", 8*60*60)
	// testStart is 14:00 local on a working day in the dry season.
	testStart = time.Date(2026, 11, 20, 14, 0, 0, 0, cst)
)

func newCity(t testing.TB, cfg citysim.Config) *citysim.City {
	t.Helper()
	c, err := citysim.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return c
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name   string
		cfg    citysim.Config
		fields []string // fields named by the errors; none for a valid config
	}{
		{"valid", citysim.Config{Projects: 5, Seed: 1, Start: testStart, Rate: 10}, nil},
		{"default projects", citysim.Config{Start: testStart}, nil},
		{"negative projects", citysim.Config{Projects: -1, Start: testStart}, []string{"Projects"}},
		{"too many projects", citysim.Config{Projects: citysim.MaxProjects + 1, Start: testStart}, []string{"Projects"}},
		{"negative rate", citysim.Config{Start: testStart, Rate: -1}, []string{"Rate"}},
		{"NaN rate", citysim.Config{Start: testStart, Rate: math.NaN()}, []string{"Rate"}},
		{"infinite rate", citysim.Config{Start: testStart, Rate: math.Inf(1)}, []string{"Rate"}},
		{"zero start", citysim.Config{Projects: 3}, []string{"Start"}},
		{"ancient start", citysim.Config{Start: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{"Start"}},
		{"everything wrong", citysim.Config{Projects: -5, Rate: -1}, []string{"Projects", "Rate", "Start"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := citysim.New(tt.cfg)
			if len(tt.fields) == 0 {
				if err != nil || c == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || c != nil {
				t.Fatalf("New: want an error naming %v, got city %v, err %v", tt.fields, c != nil, err)
			}
			var named []string
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var ce *citysim.ConfigError
				if !errors.As(e, &ce) {
					t.Fatalf("error %v is not a *ConfigError", e)
				}
				if ce.Rule == "" || !strings.Contains(ce.Error(), ce.Field) {
					t.Errorf("error %q does not say the field and the rule", ce.Error())
				}
				named = append(named, ce.Field)
			}
			if !reflect.DeepEqual(named, tt.fields) {
				t.Errorf("errors name %v, want %v", named, tt.fields)
			}
		})
	}
}

func TestProjects(t *testing.T) {
	c := newCity(t, citysim.Config{Seed: 3, Start: testStart})
	ps := c.Projects()
	if len(ps) != citysim.DefaultProjects {
		t.Fatalf("%d projects, want %d", len(ps), citysim.DefaultProjects)
	}
	if ps[0].ID != "P-001" || len(ps[0].Sites) == 0 || ps[0].Sites[0].ID != "P-001-S1" {
		t.Fatalf("first project %s with sites %+v, want P-001 with site P-001-S1", ps[0].ID, ps[0].Sites)
	}
	districts := map[string]bool{}
	contractors := map[string]int{}
	equipment := map[string]bool{}
	var cranes, pits, trending, behind int
	for i, p := range ps {
		if want := fmt.Sprintf("P-%03d", i+1); p.ID != want {
			t.Fatalf("project %d has id %s, want %s", i, p.ID, want)
		}
		districts[p.District] = true
		contractors[p.Contractor]++
		if p.BudgetCNY < 5e7 || p.BudgetCNY > 5e9 {
			t.Errorf("%s: budget %g outside 50M..5B", p.ID, p.BudgetCNY)
		}
		months := testStart.Sub(p.PlannedStart).Hours() / 24 / 30.4
		if months < 0.95 || months > 18.1 {
			t.Errorf("%s: planned start %.1f months before Start, want 1..18", p.ID, months)
		}
		if !p.PlannedFinish.After(testStart) || p.Deadline.Before(p.PlannedFinish) {
			t.Errorf("%s: planned finish %v, deadline %v: want both after Start", p.ID, p.PlannedFinish, p.Deadline)
		}
		if n := len(p.Milestones); n < 5 || n > 12 {
			t.Errorf("%s: %d milestones, want 5..12", p.ID, n)
		}
		var share float64
		for _, m := range p.Milestones {
			share += m.BudgetShare
		}
		if math.Abs(share-1) > 1e-9 {
			t.Errorf("%s: budget shares sum to %g", p.ID, share)
		}
		if p.Truth.Performance < 0.85 {
			behind++
		}
		if n := len(p.Sites); n < 1 || n > 4 {
			t.Errorf("%s: %d sites, want 1..4", p.ID, n)
		}
		for j, s := range p.Sites {
			if want := fmt.Sprintf("%s-S%d", p.ID, j+1); s.ID != want {
				t.Errorf("site %s, want %s", s.ID, want)
			}
			if s.Lat < 22.45 || s.Lat > 22.9 || s.Lon < 113.75 || s.Lon > 114.55 {
				t.Errorf("%s at %.4f, %.4f: outside Shenzhen", s.ID, s.Lat, s.Lon)
			}
			if !strings.Contains("BCD", s.Terrain) || s.Terrain == "" {
				t.Errorf("%s: terrain %q", s.ID, s.Terrain)
			}
			for _, cr := range s.Cranes {
				cranes++
				if equipment[cr.ID] || !strings.HasPrefix(cr.ID, s.ID+"-TC") {
					t.Errorf("crane id %s is repeated or not of its site", cr.ID)
				}
				equipment[cr.ID] = true
				if cr.HeightM < 40 || cr.HeightM > 220 || cr.JibLengthM < 40 || cr.JibLengthM > 80 || cr.InServiceLimitMS != 20 || cr.OutOfServiceLimitMS != 42 {
					t.Errorf("crane %+v", cr)
				}
			}
			for _, pt := range s.Pits {
				pits++
				if equipment[pt.ID] || !strings.HasPrefix(pt.ID, s.ID+"-PIT") {
					t.Errorf("pit id %s is repeated or not of its site", pt.ID)
				}
				equipment[pt.ID] = true
				if pt.DepthM < 6 || pt.DepthM > 25 || pt.AlarmCumulativeMM != 30 || pt.AlarmRateMMPerDay != 2 {
					t.Errorf("pit %+v", pt)
				}
				if pt.Trending {
					trending++
				}
			}
		}
	}
	if len(districts) != 10 {
		t.Errorf("projects in %d districts, want all 10", len(districts))
	}
	several := 0
	for _, n := range contractors {
		if n >= 3 {
			several++
		}
	}
	if several < len(contractors)/2 {
		t.Errorf("only %d of %d contractors have 3 or more projects", several, len(contractors))
	}
	if cranes < len(ps) || pits < len(ps)/2 || trending < 1 || trending > 2 || behind == 0 || behind > len(ps)/3 {
		t.Errorf("%d cranes, %d pits (%d trending), %d projects behind: implausible", cranes, pits, trending, behind)
	}

	// Projects returns a copy.
	ps[0].Sites[0].ID = "changed"
	if c.Projects()[0].Sites[0].ID != "P-001-S1" {
		t.Error("changing the result of Projects changed the city")
	}
}

func TestProjectIDWidth(t *testing.T) {
	tests := []struct {
		projects    int
		first, last string
	}{
		{1, "P-001", "P-001"},
		{999, "P-001", "P-999"},
		{1000, "P-0001", "P-1000"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.projects), func(t *testing.T) {
			ps := newCity(t, citysim.Config{Projects: tt.projects, Start: testStart}).Projects()
			if ps[0].ID != tt.first || ps[len(ps)-1].ID != tt.last {
				t.Errorf("ids %s..%s, want %s..%s", ps[0].ID, ps[len(ps)-1].ID, tt.first, tt.last)
			}
		})
	}
}

// encodeAll returns the encoded events, one per line.
func encodeAll(t testing.TB, evs []*twin.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, e := range evs {
		b, err := twin.Encode(e)
		if err != nil {
			t.Fatalf("encode %s: %v", e.ID, err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func stream(c *citysim.City, n int) []*twin.Event {
	out := make([]*twin.Event, n)
	for i := range out {
		out[i] = c.Next()
	}
	return out
}

func TestDeterminism(t *testing.T) {
	cfg := citysim.Config{Projects: 120, Seed: 42, Start: testStart, Rate: 20}
	a, b := newCity(t, cfg), newCity(t, cfg)
	if !bytes.Equal(encodeAll(t, a.Bootstrap()), encodeAll(t, b.Bootstrap())) {
		t.Error("same config, different bootstrap")
	}
	liveA := encodeAll(t, stream(a, 5000))
	if !bytes.Equal(liveA, encodeAll(t, stream(b, 5000))) {
		t.Error("same config, different live stream")
	}
	// Bootstrap does not disturb the live stream.
	if !bytes.Equal(encodeAll(t, a.Bootstrap()), encodeAll(t, b.Bootstrap())) {
		t.Error("a second Bootstrap differs from the first")
	}
	if !bytes.Equal(encodeAll(t, stream(a, 100)), encodeAll(t, stream(newCity(t, cfg), 5100)[5000:])) {
		t.Error("Bootstrap between Next calls changed the live stream")
	}

	other := cfg
	other.Seed = 43
	c := newCity(t, other)
	if bytes.Equal(encodeAll(t, a.Bootstrap()), encodeAll(t, c.Bootstrap())) {
		t.Error("another seed, same bootstrap")
	}
	if bytes.Equal(liveA, encodeAll(t, stream(c, 5000))) {
		t.Error("another seed, same live stream")
	}
}

func TestIDsAcrossRestarts(t *testing.T) {
	cfg := citysim.Config{Projects: 60, Seed: 9, Start: testStart, Rate: 10}
	later := cfg
	later.Start = testStart.Add(24 * time.Hour)
	a, b := newCity(t, cfg), newCity(t, later)
	ids := func(evs []*twin.Event) []string {
		out := make([]string, len(evs))
		for i, e := range evs {
			out[i] = e.ID
		}
		return out
	}
	bootA, bootB := ids(a.Bootstrap()), ids(b.Bootstrap())
	if !reflect.DeepEqual(bootA, bootB) {
		t.Errorf("bootstrap ids depend on Start: %d and %d ids", len(bootA), len(bootB))
	}
	seen := map[string]bool{}
	for _, id := range bootA {
		if seen[id] {
			t.Fatalf("bootstrap id %s repeated", id)
		}
		seen[id] = true
		if !strings.HasPrefix(id, "sim-9-P-") {
			t.Fatalf("bootstrap id %s", id)
		}
	}
	liveA, liveB := stream(a, 2000), stream(b, 2000)
	prefixA := fmt.Sprintf("sim-9-live-%d-", testStart.Unix())
	var sawLive bool
	for i, e := range liveA {
		if seen[e.ID] {
			t.Fatalf("live id %s repeated", e.ID)
		}
		seen[e.ID] = true
		if strings.HasPrefix(e.ID, prefixA) {
			sawLive = true
		} else if !strings.HasPrefix(e.ID, "sim-9-P-") {
			t.Fatalf("live id %s is neither live nor scripted", e.ID)
		}
		if strings.HasPrefix(liveB[i].ID, prefixA) {
			t.Fatalf("live id %s of a later Start has the earlier Start's prefix", liveB[i].ID)
		}
	}
	if !sawLive {
		t.Error("no live ids")
	}
}

// TestBootstrapOrder: the history is in time order, and registers what
// the twin needs before it is named (the twin rejects the rest): a
// project's registration comes before anything else of it, a site's
// site.added before any event at the site, and equipment's
// equipment.installed before its readings.
func TestBootstrapOrder(t *testing.T) {
	c := newCity(t, citysim.Config{Projects: 100, Seed: 5, Start: testStart})
	evs := c.Bootstrap()
	first := map[string]string{}
	added := map[string]bool{}     // project/site
	installed := map[string]bool{} // project/site/equipment
	for i, e := range evs {
		if e.Time.After(testStart) {
			t.Fatalf("%s at %v, after Start", e.ID, e.Time)
		}
		if i > 0 && e.Time.Before(evs[i-1].Time) {
			t.Fatalf("%s at %v before %s at %v", e.ID, e.Time, evs[i-1].ID, evs[i-1].Time)
		}
		if _, ok := first[e.Project]; !ok {
			first[e.Project] = e.Type
		}
		site := e.Project + "/" + e.Site
		switch d := e.Data.(type) {
		case *twin.SiteAdded:
			added[site] = true
		case *twin.EquipmentInstalled:
			installed[site+"/"+d.Equipment] = true
		case *twin.SensorReading:
			if d.Equipment != "" && !installed[site+"/"+d.Equipment] {
				t.Errorf("%s reads %s before it is installed at %s", e.ID, d.Equipment, e.Site)
			}
		}
		if e.Site != "" && !added[site] {
			t.Errorf("%s (%s) names site %s before its site.added", e.ID, e.Type, e.Site)
		}
	}
	if len(first) != 100 {
		t.Errorf("bootstrap covers %d projects, want 100", len(first))
	}
	for p, typ := range first {
		if typ != twin.TypeProjectRegistered {
			t.Errorf("%s starts with %s", p, typ)
		}
	}
	if c.Next() != nil {
		t.Error("Next with Rate 0 returned an event")
	}
}

func TestNextTiming(t *testing.T) {
	tests := []struct {
		rate float64
		n    int
	}{
		{0.5, 5000},
		{5, 5000},
		{250, 20000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rate), func(t *testing.T) {
			c := newCity(t, citysim.Config{Projects: 50, Seed: 11, Start: testStart, Rate: tt.rate})
			evs := stream(c, tt.n)
			if !evs[0].Time.Equal(testStart) {
				t.Errorf("first live event at %v, want Start %v", evs[0].Time, testStart)
			}
			sensors := 0
			for i, e := range evs {
				if i > 0 && e.Time.Before(evs[i-1].Time) {
					t.Fatalf("event %d at %v before event %d at %v", i, e.Time, i-1, evs[i-1].Time)
				}
				if e.Type == twin.TypeSensorReading {
					sensors++
				}
			}
			mean := evs[len(evs)-1].Time.Sub(evs[0].Time).Seconds() / float64(len(evs)-1)
			if want := 1 / tt.rate; math.Abs(mean-want) > 0.05*want {
				t.Errorf("mean spacing %.4g s, want %.4g s ± 5%%", mean, want)
			}
			if share := float64(sensors) / float64(len(evs)); share < 0.85 || share > 0.93 {
				t.Errorf("%.1f%% sensor readings, want about 90%%", 100*share)
			}
		})
	}
}

// run is a city's bootstrap and live stream applied to twins, one per
// project, with everything that went wrong.
type run struct {
	city     *citysim.City
	projects []citysim.Project
	twins    map[string]*twin.ProjectTwin
	spi      map[string]float64 // SPI(t) after the bootstrap
	live     map[string]int     // live events by type
	raised   map[string]int     // alerts raised during the live stream, by rule
	problems []string
}

func (r *run) problem(format string, args ...any) {
	if len(r.problems) < 20 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

// simulate checks that every event round-trips through Encode and Decode
// and applies without error, to twins held the way a runtime holds them: an
// event of a project without a twin is applied to a fresh one, which is kept
// only if Apply accepts it (so the project's first event must be its
// registration), and a city-wide event goes to every twin held.
func simulate(cfg citysim.Config, live int) *run {
	c, err := citysim.New(cfg)
	if err != nil {
		return &run{problems: []string{err.Error()}}
	}
	rules := twin.DefaultRules()
	r := &run{
		city: c, projects: c.Projects(), twins: map[string]*twin.ProjectTwin{},
		spi: map[string]float64{}, live: map[string]int{}, raised: map[string]int{},
	}
	known := map[string]bool{}
	for _, p := range r.projects {
		known[p.ID] = true
	}
	var all []*twin.ProjectTwin // the twins held, in the order they were registered
	apply := func(e *twin.Event, isLive bool) {
		b, err := twin.Encode(e)
		if err != nil {
			r.problem("encode %s: %v", e.ID, err)
			return
		}
		d, err := twin.Decode(b)
		if err != nil {
			r.problem("decode %s: %v", b, err)
			return
		}
		if !reflect.DeepEqual(d, e) {
			r.problem("%s changed in Encode/Decode:\n%+v\n%+v", e.ID, e, d)
		}
		if b2, _ := twin.Encode(d); !bytes.Equal(b, b2) {
			r.problem("%s encodes differently after Decode:\n%s\n%s", e.ID, b, b2)
		}
		targets := all
		if d.Project != twin.CityWide {
			if !known[d.Project] {
				r.problem("%s: unknown project %s", d.ID, d.Project)
				return
			}
			tw, ok := r.twins[d.Project]
			if !ok {
				tw = twin.NewProject(d.Project, rules)
			}
			targets = []*twin.ProjectTwin{tw}
		}
		for _, tw := range targets {
			eff, err := twin.Apply(tw, d, rules)
			if err != nil {
				r.problem("apply %s to %s: %v", b, tw.ID, err)
				continue
			}
			if _, ok := r.twins[tw.ID]; !ok {
				r.twins[tw.ID] = tw
				all = append(all, tw)
			}
			if eff.Duplicate {
				r.problem("%s applied twice", d.ID)
			}
			for _, a := range eff.Alerts {
				if isLive && a.Change == twin.ChangeRaised {
					r.raised[a.Rule]++
				}
			}
		}
		if isLive {
			r.live[d.Type]++
		}
	}
	for _, e := range c.Bootstrap() {
		apply(e, false)
	}
	for _, p := range r.projects {
		tw, ok := r.twins[p.ID]
		if !ok || !tw.Registered {
			r.problem("%s is not registered after the bootstrap", p.ID)
			return r
		}
		r.spi[p.ID] = tw.Schedule.SPIt
	}
	for range live {
		apply(c.Next(), true)
	}
	return r
}

// The dense run samples every sensor about once or twice in the hour after
// Start (300 projects, 5 events/s); the sparse run covers four and a half
// days of 150 projects, where scripted milestones, inspections, hazards and
// payments come due.
var (
	denseRun  = sync.OnceValue(func() *run { return simulate(citysim.Config{Seed: 1, Start: testStart, Rate: 5}, 20000) })
	sparseRun = sync.OnceValue(func() *run {
		return simulate(citysim.Config{Projects: 150, Seed: 2, Start: testStart, Rate: 0.05}, 20000)
	})
)

func TestRoundTripAndApply(t *testing.T) {
	for _, tt := range []struct {
		name string
		run  func() *run
	}{{"dense", denseRun}, {"sparse", sparseRun}} {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.run()
			for _, p := range r.problems {
				t.Error(p)
			}
		})
	}
	t.Run("live types", func(t *testing.T) {
		r := sparseRun()
		for _, typ := range []string{
			twin.TypeSensorReading, twin.TypeProgressReported, twin.TypeMilestoneCompleted,
			twin.TypeFundsDisbursed, twin.TypeWagesPaid, twin.TypeHazardFound, twin.TypeHazardRectified,
			twin.TypeAcceptancePassed, twin.TypeInspectionCompleted,
		} {
			if r.live[typ] == 0 {
				t.Errorf("no %s in the live stream (%v)", typ, r.live)
			}
		}
	})
}

func TestHealthMix(t *testing.T) {
	r := denseRun()
	if len(r.problems) > 0 {
		t.Fatalf("the run had problems: %v", r.problems[0])
	}
	health := map[twin.Health]int{}
	found := map[string]int{}
	for _, p := range r.projects {
		tw := r.twins[p.ID]
		health[tw.Health]++
		if _, ok := tw.Alarms["wages"]; ok {
			found["wage arrears"]++
		} else if p.Truth.WageArrears && p.Truth.LastWagesPaid.Before(testStart.Add(-33*24*time.Hour)) {
			t.Errorf("%s: in arrears since %v but no wages alarm", p.ID, p.Truth.LastWagesPaid)
		}
		if _, ok := tw.Alarms["schedule"]; ok {
			found["SPI behind"]++
		}
		for _, h := range tw.Hazards {
			if h.Overdue && h.Status == twin.StatusOpen {
				found["overdue hazard"]++
			}
		}
		for _, s := range tw.Sites {
			for _, al := range s.Alarms {
				if al.Rule == "pit_rate" {
					found["pit rate"]++
				}
			}
		}
		if spi := r.spi[p.ID]; math.Abs(spi-p.Truth.SPIAtStart) > 0.05 {
			t.Errorf("%s: SPI(t) %.3f after the bootstrap, true %.3f", p.ID, spi, p.Truth.SPIAtStart)
		}
	}
	found["dust or noise alarm"] = r.raised["pm10_hourly"] + r.raised["noise_leq"] + r.raised["noise_night_max"]
	t.Logf("health %v, incidents %v, alarms raised live %v", health, found, r.raised)
	for _, h := range []twin.Health{twin.Red, twin.Amber, twin.Green} {
		if health[h] == 0 {
			t.Errorf("no %s project (%v)", h, health)
		}
	}
	if health[twin.Green] < len(r.projects)/2 {
		t.Errorf("only %d of %d projects green", health[twin.Green], len(r.projects))
	}
	for _, kind := range []string{"wage arrears", "overdue hazard", "pit rate", "SPI behind", "dust or noise alarm"} {
		if found[kind] == 0 {
			t.Errorf("no %s", kind)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	c := newCity(b, citysim.Config{Seed: 1, Start: testStart, Rate: 100})
	b.ReportAllocs()
	for b.Loop() {
		if c.Next() == nil {
			b.Fatal("nil event")
		}
	}
}
