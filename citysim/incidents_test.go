package citysim

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// daySample is one site-day of the incident test: the site's factors at
// the start of the day, and the incidents of the day.
type daySample struct {
	f         Factors
	incidents int
}

// sampleIncidents runs the city's incident process (with its live weather,
// dust, noise and pit processes, but no readings) for a number of days and
// returns the site-days.
func sampleIncidents(t *testing.T, cfg Config, days int) []daySample {
	t.Helper()
	c := testCity(t, cfg)
	var out []daySample
	for d := range days {
		at := c.start.Add(time.Duration(d) * day)
		type key struct{ p, j int }
		before := map[key]int{}
		for _, p := range c.projects {
			if !at.Before(p.end) {
				continue
			}
			for j := range p.sites {
				before[key{p.idx, j}] = len(out)
				out = append(out, daySample{f: c.factors(p, j, at)})
			}
		}
		n := make([]int, len(c.projects))
		for i, p := range c.projects {
			n[i] = len(p.incs)
		}
		c.advance(at.Add(day))
		c.live.queue = c.live.queue[:0] // the incidents are read from the projects
		for i, p := range c.projects {
			for _, in := range p.incs[n[i]:] {
				if k, ok := before[key{i, in.site.num}]; ok && !in.at.After(at.Add(day)) {
					out[k].incidents++
				}
			}
		}
	}
	return out
}

// TestIncidentRatesFollowFactors: over a long simulated period, the
// incidents that happen follow the documented rate λ = λ0 exp(Σ β x): in
// every group of site-days (with and without overdue or major hazards,
// sensor alarms, cranes, careless contractors, recent incidents) the
// number of incidents is what the rates at the start of each day predict,
// and the groups with a risk factor have the higher empirical rate.
func TestIncidentRatesFollowFactors(t *testing.T) {
	samples := sampleIncidents(t, Config{Projects: 400, Seed: 7, Start: truthStart, Rate: 1}, 300)
	groups := []struct {
		name string
		in   func(f Factors) bool
	}{
		{"all", func(f Factors) bool { return true }},
		{"overdue hazard", func(f Factors) bool { return f.Overdue > 0 }},
		{"major or critical hazard open", func(f Factors) bool { return f.OpenMajor+f.OpenCritical > 0 }},
		{"3 or more sensor alarms in 7 days", func(f Factors) bool { return f.SensorAlarms7d >= 3 }},
		{"crane", func(f Factors) bool { return f.CraneWindExposure > 0 }},
		{"moving pit", func(f Factors) bool { return f.PitTrend > 0.8 }},
		{"careless contractor", func(f Factors) bool { return f.ContractorRisk >= 1.8 }},
		{"credit below 90", func(f Factors) bool { return f.Credit < 90 }},
		{"incident in 90 days", func(f Factors) bool { return f.Incidents90d > 0 }},
	}
	type tally struct {
		days      int
		incidents int
		expected  float64
	}
	rate := func(x tally) float64 { return float64(x.incidents) / float64(x.days) }
	for _, g := range groups {
		var in, out tally
		for _, s := range samples {
			x := &out
			if g.in(s.f) {
				x = &in
			}
			x.days++
			x.incidents += s.incidents
			x.expected += s.f.Rate()
		}
		t.Logf("%-34s %7d site-days: %4d incidents, expected %6.1f (rate %.5f/day; %.5f without)", g.name, in.days, in.incidents, in.expected, rate(in), rate(out))
		if in.expected >= 20 {
			// A Poisson count within 4 standard deviations, and 15% for
			// the rates moving within a day (hazards found in office hours).
			if d := math.Abs(float64(in.incidents) - in.expected); d > 4*math.Sqrt(in.expected)+0.15*in.expected {
				t.Errorf("%s: %d incidents, the documented rates give %.1f", g.name, in.incidents, in.expected)
			}
		}
		if g.name != "all" && out.days > 0 && in.expected >= 10 && rate(in) <= rate(out) {
			t.Errorf("%s: empirical rate %.5f/day is not above the %.5f/day of the other site-days", g.name, rate(in), rate(out))
		}
	}
	var days, incidents int
	for _, s := range samples {
		days++
		incidents += s.incidents
	}
	if perMonth := 30 * float64(incidents) / float64(days); perMonth < 0.015 || perMonth > 0.08 {
		t.Errorf("%.3f incidents per site-month, want a few percent", perMonth)
	}
}

// TestIncidentEvents: the incidents of the history and of the live stream
// are valid incident.reported events in working hours, the twin takes them,
// and Incidents reports each with the time it was sent.
func TestIncidentEvents(t *testing.T) {
	c := testCity(t, Config{Projects: 200, Seed: 3, Start: truthStart, Rate: 0.2})
	sent := map[string]time.Time{}
	check := func(e *twin.Event) {
		d := e.Data.(*twin.IncidentReported)
		b, err := twin.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := twin.Decode(b); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if e.ID != c.idPrefix+d.Incident || e.Site == "" || e.Source != srcSafety {
			t.Errorf("event %+v", e)
		}
		sent[e.ID] = e.Time
	}
	var history int
	for _, e := range c.Bootstrap() {
		if e.Type == twin.TypeIncidentReported {
			check(e)
			history++
		}
	}
	for range 60000 { // about 3.5 days
		if e := c.Next(); e.Type == twin.TypeIncidentReported {
			check(e)
		}
	}
	ins := c.Incidents()
	var live int
	for _, in := range ins {
		if h := in.Occurred.In(cst).Hour(); h < 7 || h >= 20 {
			t.Errorf("%s happened at %v, outside working hours", in.ID, in.Occurred.In(cst))
		}
		if !in.Occurred.After(c.start) {
			if !in.Reported.Equal(in.Occurred) {
				t.Errorf("history incident %s reported %v, happened %v", in.ID, in.Reported, in.Occurred)
			}
		} else if !in.Reported.IsZero() {
			live++
			if lag := in.Reported.Sub(in.Occurred); lag < 0 || lag > time.Hour+time.Minute {
				t.Errorf("%s reported %v after it happened", in.ID, lag)
			}
		}
		if at, ok := sent[in.Event]; !in.Reported.IsZero() && (!ok || !at.Equal(in.Reported)) {
			t.Errorf("%s: reported %v, the event says %v (%v)", in.ID, in.Reported, at, ok)
		}
		if math.Abs(in.Factors.Rate()-in.Rate) > 1e-12 {
			t.Errorf("%s: rate %v, factors give %v", in.ID, in.Rate, in.Factors.Rate())
		}
	}
	t.Logf("%d incidents in the history, %d live in 3.5 days", history, live)
	if history == 0 || len(sent) != history+live {
		t.Errorf("%d history incidents, %d sent, %d live in Incidents", history, len(sent), live)
	}
}

// TestIncidentHistoryShiftsWithStart: the history's incidents depend on
// Start only by being placed relative to it (a restart a day later sends
// the same ids, a day later).
func TestIncidentHistoryShiftsWithStart(t *testing.T) {
	a := testCity(t, Config{Projects: 150, Seed: 8, Start: truthStart})
	b := testCity(t, Config{Projects: 150, Seed: 8, Start: truthStart.Add(24 * time.Hour)})
	ia, ib := a.Incidents(), b.Incidents()
	if len(ia) == 0 || len(ia) != len(ib) {
		t.Fatalf("%d and %d incidents", len(ia), len(ib))
	}
	for i := range ia {
		x, y := ia[i], ib[i]
		if x.ID != y.ID || y.Occurred.Sub(x.Occurred) != 24*time.Hour || x.Severity != y.Severity || x.Factors != y.Factors {
			t.Fatalf("%+v\n%+v", x, y)
		}
	}
}

// TestPitSurges: after Start pits surge as documented, fast enough to warn
// on the rate alarm, and never past 27 mm.
func TestPitSurges(t *testing.T) {
	c := testCity(t, Config{Seed: 6, Start: truthStart})
	var pits, surges int
	for _, s := range c.sites {
		for _, pt := range s.pits {
			pits++
			for dt := 0.0; dt < 400; dt += 0.25 {
				_, added := c.surgeAt(pt, dt)
				if d := pt.displacement(dt) + added; d > surgeCapMM+1e-9 {
					t.Fatalf("pit %s at %.1f mm after %.1f days", pt.id, d, dt)
				}
			}
			for _, sg := range c.pitSurges(pt, 400) {
				if !sg.ok || sg.from >= 400 {
					continue
				}
				surges++
				mid := c.start.Add(-24 * time.Hour).Add(time.Duration((sg.from + sg.to) / 2 * float64(day)))
				if x := c.pitRatio(pt, mid); x < 0.9 || sg.from < 1 {
					t.Errorf("pit %s surge %+v: rate ratio %.2f", pt.id, sg, x)
				}
			}
		}
	}
	t.Logf("%d surges of %d pits in 400 days", surges, pits)
	if per := float64(surges) / float64(pits); per < 0.5 || per > 6 {
		t.Errorf("%.2f surges per pit in 400 days", per)
	}
}

func TestWorkClock(t *testing.T) {
	tests := []struct {
		local string
		frac  float64 // of the day's working hours gone by
	}{
		{"2026-03-02 03:00", 0}, {"2026-03-02 07:00", 0}, {"2026-03-02 13:30", 0.5},
		{"2026-03-02 20:00", 1}, {"2026-03-02 23:59", 1},
	}
	for _, tt := range tests {
		at, _ := time.ParseInLocation("2006-01-02 15:04", tt.local, cst)
		w := workClock(at)
		if got := w - math.Floor(w-1e-9); math.Abs(got-tt.frac) > 1e-9 && !(tt.frac == 0 && math.Abs(got-1) < 1e-9) {
			t.Errorf("%s: fraction %v, want %v", tt.local, got, tt.frac)
		}
		if back := fromWorkClock(w); tt.frac > 0 && tt.frac < 1 && !back.Equal(at) {
			t.Errorf("%s: back %v", tt.local, back.In(cst))
		}
	}
	a, _ := time.ParseInLocation("2006-01-02 15:04", "2026-03-02 10:00", cst)
	if got := workClock(a.Add(72*time.Hour)) - workClock(a); math.Abs(got-3) > 1e-9 {
		t.Errorf("three days: %v working days", got)
	}
	// 12 working hours after 10:00: 10 to 20:00, then 07:00 to 09:00.
	if got := fromWorkClock(workClock(a) + 12.0/13); !got.Equal(a.Add(23 * time.Hour)) {
		t.Errorf("12 working hours after 10:00: %v", got.In(cst))
	}
}

// TestFactorsMatchTheTwin: the factors the process uses are what a twin of
// the project shows after the bootstrap: open and overdue hazards per
// site, the credit score, the incidents of the last 90 days.
func TestFactorsMatchTheTwin(t *testing.T) {
	for _, cfg := range []Config{
		{Projects: 300, Seed: 12, Start: truthStart},
		{Projects: 300, Seed: 13, Start: truthStart.Add(200*24*time.Hour + 14*time.Hour + 30*time.Minute)},
	} {
		t.Run(cfg.Start.Format(time.DateOnly), func(t *testing.T) { factorsMatchTheTwin(t, cfg) })
	}
}

func factorsMatchTheTwin(t *testing.T, cfg Config) {
	c := testCity(t, cfg)
	rules := twin.DefaultRules()
	twins := map[string]*twin.ProjectTwin{}
	for _, e := range c.Bootstrap() {
		tw, ok := twins[e.Project]
		if !ok {
			tw = twin.NewProject(e.Project, rules)
			twins[e.Project] = tw
		}
		if _, err := twin.Apply(tw, e, rules); err != nil {
			t.Fatal(err)
		}
	}
	var checked, incidents int
	for _, p := range c.projects {
		tw := twins[p.id]
		// a reading no rule reads brings the twin's clock to Start
		tick := &twin.Event{ID: "tick-" + p.id, Type: twin.TypeSensorReading, Source: "test", Time: c.start, Project: p.id, Site: p.sites[0].id,
			Data: &twin.SensorReading{Kind: twin.SensorHumidity, Value: 70, Unit: "%"}}
		if _, err := twin.Apply(tw, tick, rules); err != nil {
			t.Fatal(err)
		}
		v := tw.View()
		for j, s := range p.sites {
			f := c.factors(p, j, c.start)
			var open [3]int
			overdue := 0
			for _, h := range tw.Hazards {
				if h.Site != s.id || h.Status != twin.StatusOpen {
					continue
				}
				open[slices.Index(hazardSeverities[:], h.Severity)]++
				if tw.Clock.After(h.Deadline) {
					overdue++
				}
			}
			if got := [3]int{f.OpenGeneral, f.OpenMajor, f.OpenCritical}; got != open || f.Overdue != overdue {
				t.Errorf("%s: process open %v overdue %d, twin open %v overdue %d", s.id, got, f.Overdue, open, overdue)
			}
			if f.Credit != tw.Credit.Score {
				t.Errorf("%s: process credit %v, twin %v (%+v)", p.id, f.Credit, tw.Credit.Score, tw.Credit.Changes)
			}
			if sv := v.Sites[j]; sv.ID != s.id || sv.IncidentsLast90d != f.Incidents90d {
				t.Errorf("%s: process %d incidents in 90 days, twin %d", s.id, f.Incidents90d, sv.IncidentsLast90d)
			}
			incidents += f.Incidents90d
			checked++
		}
	}
	t.Logf("%d sites checked, %d incidents in their last 90 days", checked, incidents)
}

// TestFinishTruth: every project's true finish is set against the deadline
// a twin holds it to (the deadline date's end plus the change orders'
// extensions approved by then).
func TestFinishTruth(t *testing.T) {
	c := testCity(t, Config{Seed: 2, Start: truthStart})
	late, extended := 0, 0
	for _, p := range c.Projects() {
		tr := p.Truth
		if tr.FinalDeadline.Before(p.Deadline.Add(24*time.Hour)) || tr.OnTime == tr.ActualFinish.After(tr.FinalDeadline) {
			t.Errorf("%s: deadline %v, final %v, finish %v, on time %v", p.ID, p.Deadline, tr.FinalDeadline, tr.ActualFinish, tr.OnTime)
		}
		if tr.FinalDeadline.After(p.Deadline.Add(24 * time.Hour)) {
			extended++
		}
		if !tr.OnTime {
			late++
			if tr.Performance > 1 {
				t.Errorf("%s is late at performance %v", p.ID, tr.Performance)
			}
		}
	}
	t.Logf("%d of %d projects late, %d deadlines extended", late, len(c.projects), extended)
	if late == 0 || late == len(c.projects) || extended == 0 {
		t.Errorf("%d late, %d extended: implausible", late, extended)
	}
}
