package twin

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// TestHealthRebuiltWhenAlarmsChange guards the shortcut that rebuilds health
// and reasons only when setAlarm changed an alarm: after every event of a
// seeded stream whose readings cross warning and stop-work thresholds up and
// down (dust, noise, crane wind, pit displacement, with hazards and a
// rainstorm between them), the twin's and every site's health and reasons
// equal a summary built from scratch.
func TestHealthRebuiltWhenAlarmsChange(t *testing.T) {
	p := siteTwin(t)
	mustApply(t, p, craneInstalled("2026-03-02T00:00:00Z", "TC1", 60, 20), pitInstalled("2026-03-02T00:00:00Z", "PIT1", 30, 3))
	rng := rand.New(rand.NewPCG(7, 9))
	start := ts("2026-06-01T00:00:00Z")
	kinds := []struct {
		kind, unit, equipment string
		lo, hi                float64
	}{
		{SensorPM10, "µg/m³", "", 20, 400},
		{SensorNoise, "dB(A)", "", 40, 90},
		{SensorWindSpeed, "m/s", "TC1", 2, 30},
		{SensorWindGust, "m/s", "", 2, 30},
		{SensorPitDisplacement, "mm", "PIT1", 0, 60},
	}
	changes := 0
	for i := range 3000 {
		at := start.Add(time.Duration(i) * time.Minute).Format(time.RFC3339)
		var e *Event
		switch {
		case i%500 == 250:
			e = hazardFound(at, fmt.Sprintf("H%d", i), "major", "scaffold", start.Add(time.Duration(i+600)*time.Minute).Format(time.RFC3339))
		case i%700 == 350:
			e = rain(at, "red", start.Add(time.Duration(i+90)*time.Minute).Format(time.RFC3339), "")
		default:
			k := kinds[rng.IntN(len(kinds))]
			e = reading(at, k.kind, k.lo+rng.Float64()*(k.hi-k.lo), k.unit, k.equipment)
		}
		before := p.Health
		eff := applyOne(t, p, e)
		if p.Health != before || len(eff.Alerts) > 0 {
			changes++
		}
		checkHealth(t, i, p)
	}
	if changes < 50 {
		t.Fatalf("only %d events changed an alarm: the stream does not exercise the shortcut", changes)
	}
}

// checkHealth compares the twin's stored health with one rebuilt from its
// alarms.
func checkHealth(t *testing.T, i int, p *ProjectTwin) {
	t.Helper()
	for id, s := range p.Sites {
		h, rs := s.Health, slices.Clone(s.Reasons)
		s.updateHealth()
		if h != s.Health || !slices.Equal(rs, s.Reasons) {
			t.Fatalf("event %d: site %s health %s %q, rebuilt %s %q", i, id, h, rs, s.Health, s.Reasons)
		}
	}
	h, rs := p.Health, slices.Clone(p.Reasons)
	p.updateHealth()
	if h != p.Health || !slices.Equal(rs, p.Reasons) {
		t.Fatalf("event %d: project health %s %q, rebuilt %s %q", i, h, rs, p.Health, p.Reasons)
	}
}

// TestCreditRecomputedWhenItCanChange guards the shortcuts that leave the
// credit score alone on sensor readings until the clock reaches the next
// time a term could change, and reuse the earned schedule between them: over a seeded year and a half of hourly readings
// with hazards (some rectified in time, some not), wage payments with gaps
// longer than the pay cycle, incidents that age out of a site's recent list
// milestones reported and accepted, and a new baseline, the stored score, its changes,
// every hazard's overdue flag and the schedule equal a computation from
// scratch after every event.
func TestCreditRecomputedWhenItCanChange(t *testing.T) {
	p := siteTwin(t)
	mustApply(t, p, craneInstalled("2026-03-02T00:00:00Z", "TC1", 60, 20),
		planned("2026-03-03T00:00:00Z", ms("A", 100, 0.5), ms("B", 200, 0.5, "A")))
	rng := rand.New(rand.NewPCG(11, 13))
	start := ts("2026-06-02T00:00:00Z")
	sevs, incSevs := []string{SeverityGeneral, SeverityMajor}, IncidentSeverities()
	changed := 0
	for i := range 13000 {
		at := start.Add(time.Duration(i) * time.Hour)
		when := at.Format(time.RFC3339)
		var e *Event
		switch {
		case i == 3001:
			e = milestoneAccepted(when, "A")
		case i == 6001:
			e = planned(when, ms("A", 140, 0.5), ms("B", 320, 0.5, "A")) // a new baseline: the same EV, another ES
		case i == 10351: // the work is done while wages are in arrears: the arrears no longer count
			e = progress(when, "B", 100)
		case i%400 == 100:
			e = hazardFound(when, fmt.Sprintf("H%d", i), sevs[rng.IntN(2)], "scaffold", at.Add(time.Duration(48+rng.IntN(96))*time.Hour).Format(time.RFC3339))
		case i%400 == 200 && rng.IntN(2) == 0:
			e = rectified(when, fmt.Sprintf("H%d", i-100))
		case i%1000 == 500:
			e = wagesPaid(when, 1_000_000)
		case i%900 == 450:
			e = incident(when, fmt.Sprintf("I%d", i), incSevs[rng.IntN(len(incSevs))], "fall", "", rng.IntN(2))
		case i%300 == 150:
			e = progress(when, []string{"A", "B"}[i/3000%2], float64(min(99, i/100)))
		default:
			e = tick(when)
		}
		before := p.Credit.Score
		applyOne(t, p, e)
		if p.Credit.Score != before {
			changed++
		}
		checkCredit(t, i, p)
	}
	if changed < 10 {
		t.Fatalf("the score changed %d times: the stream does not exercise the shortcut", changed)
	}
}

// checkCredit compares the twin's schedule, credit and overdue flags with a
// computation from scratch.
func checkCredit(t *testing.T, i int, p *ProjectTwin) {
	t.Helper()
	credit := p.Credit
	credit.Changes = slices.Clone(credit.Changes)
	overdue := map[string]bool{}
	for id, h := range p.Hazards {
		overdue[id] = h.Overdue
	}
	schedule := p.Schedule
	p.esKnown = false
	p.updateSchedule(time.Duration(pack().Schedule.StatusMaxAgeDays * float64(day)))
	if schedule != p.Schedule {
		t.Fatalf("event %d at %s: schedule %+v, from scratch %+v", i, p.Clock.Format(time.RFC3339), schedule, p.Schedule)
	}
	a := &applier{p: p, r: pack()}
	a.updateCredit()
	if !reflect.DeepEqual(credit, p.Credit) {
		t.Fatalf("event %d at %s: credit %+v, from scratch %+v", i, p.Clock.Format(time.RFC3339), credit, p.Credit)
	}
	for id, h := range p.Hazards {
		if overdue[id] != h.Overdue {
			t.Fatalf("event %d: hazard %s overdue %v, from scratch %v", i, id, overdue[id], h.Overdue)
		}
	}
}

// TestCreditIncidentAgesOut checks the credit score's wording when an
// incident leaves the site's recent list on a sensor reading: the change
// then reads "earlier incidents", as a computation from scratch says.
func TestCreditIncidentAgesOut(t *testing.T) {
	p := siteTwin(t)
	start := ts("2026-06-02T00:00:00Z")
	mustApply(t, p, incident(start.Format(time.RFC3339), "I1", IncidentSeverities()[0], "fall", "", 1))
	for d := 1; d <= 400; d++ {
		when := start.Add(time.Duration(d) * day).Format(time.RFC3339)
		e := tick(when)
		if d%20 == 0 {
			e = wagesPaid(when, 1_000_000)
		}
		applyOne(t, p, e)
		checkCredit(t, d, p)
	}
	if ei := p.Sites[testSite].EarlierIncidents; ei == nil {
		t.Fatal("the incident did not age out")
	}
}
