package predict

import (
	"errors"
	"math"
	"slices"
	"testing"

	"gonum.org/v1/gonum/stat/distuv"
)

func near2(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func phi(z float64) float64 { return 0.5 * (1 + math.Erf(z/math.Sqrt2)) }

// TestForecastWorkedExample forecasts the worked example of
// TestEarnedSchedule (day 15: A done, B 10%; housing; deadline day 36),
// derived by hand:
//
//	remaining: A none; B 90% of (16, 20, 30) = (14.4, 18, 27) days
//	PERT of the remainder: mean (14.4 + 4·18 + 27)/6 = 18.9, variance (12.6/6)² = 4.41
//	w = EV = 0.46; SPI(t) = 0.8; U = 1.04 (housing: Standard Buildings, +4%)
//	f = (1 − w)·U + w/SPI(t) = 0.54·1.04 + 0.46/0.8 = 0.5616 + 0.575 = 1.1366
//	PERT forecast: mean 1.1366·18.9 = 21.48174 days, variance 1.1366²·4.41 = 5.69710066
//	deadline: day 36 − day 15 = 21 days; P_PERT = Φ((21 − 21.48174)/√5.69710066) = Φ(−0.20183) ≈ 0.4200
//
// B alone remains, so the Monte Carlo T is f·(14.4 + 12.6·X) with X ~
// Beta(α, β), α = 1 + 4·3.6/12.6 = 2.142857, β = 1 + 4·9/12.6 = 3.857143:
// its P50 and P(T <= 21) follow from gonum's Beta quantile and CDF. The
// contributions: of P50 − the planned finish (day 30), SPI(t)'s is
// Q₀·0.46·(1/0.8 − 1) = 0.115·Q₀ and the uplift's Q₀·0.54·0.04 = 0.0216·Q₀,
// Q₀ being the unscaled P50.
func TestForecastWorkedExample(t *testing.T) {
	v := project(t, "housing", workedPlan(), completed(t, "A", 12), progress(t, "B", 15, 10))
	f, err := ForecastProject(v, ForecastOptions{Sim: SimOptions{Iterations: 100_000, Seed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !f.StatusDate.Equal(dayOf(15)) || !f.Deadline.Equal(dayOf(36)) || !f.PlannedFinish.Equal(dayOf(30)) || f.Done {
		t.Errorf("status %v deadline %v planned finish %v done %v", f.StatusDate, f.Deadline, f.PlannedFinish, f.Done)
	}
	if f.Weight != 0.46 || f.SPIt != 0.8 || f.SPItUsed != 0.8 || f.Uplift.Class != "Standard Buildings" || !near2(f.Factor, 1.1366, 1e-12) {
		t.Errorf("w %v SPI(t) %v (%v) uplift %+v factor %v", f.Weight, f.SPIt, f.SPItUsed, f.Uplift, f.Factor)
	}
	if !near2(f.PERTMean, 21.48174, 1e-9) || !near2(f.PERTVariance, 5.69710066, 1e-9) {
		t.Errorf("PERT mean %v variance %v, want 21.48174 and 5.69710066", f.PERTMean, f.PERTVariance)
	}
	if want := phi((21 - 21.48174) / math.Sqrt(5.69710066)); !near2(f.PDeadlinePERT, want, 1e-9) || !near2(want, 0.4200, 1e-4) {
		t.Errorf("P_PERT(deadline) %v, want %v (0.4200)", f.PDeadlinePERT, want)
	}
	beta := distuv.Beta{Alpha: 1 + 4*3.6/12.6, Beta: 1 + 4*9/12.6}
	q0 := 14.4 + 12.6*beta.Quantile(0.5)
	if got, want := f.Sim.P50, 1.1366*q0; !near2(got, want, 0.03) {
		t.Errorf("P50 %v days, want %v", got, want)
	}
	if got, want := f.PDeadline, beta.CDF((21/1.1366-14.4)/12.6); !near2(got, want, 0.005) {
		t.Errorf("P(deadline) %v, want %v", got, want)
	}
	if !f.P50.Equal(f.StatusDate.Add(dayDuration(f.Sim.P50))) || !f.P50.Before(f.P80) || !f.P80.Before(f.P90) {
		t.Errorf("dates %v %v %v", f.P50, f.P80, f.P90)
	}
	wantMs := []MilestoneForecast{
		{ID: "A", Name: "substructure", State: StateDone},
		{ID: "B", Name: "superstructure", State: StateInProgress, RemainingDays: 21.48174, Criticality: 1},
	}
	if len(f.Milestones) != 2 || f.Milestones[0] != wantMs[0] || f.Milestones[1].State != wantMs[1].State ||
		!near2(f.Milestones[1].RemainingDays, 21.48174, 1e-9) || f.Milestones[1].Criticality != 1 {
		t.Errorf("milestones %+v, want %+v", f.Milestones, wantMs)
	}
	// contributions: exact, and they add up to P50 − planned finish
	c := map[string]Contribution{}
	var sum float64
	for _, x := range f.Contributions {
		c[x.Input] = x
		sum += x.Days
	}
	q0sim := f.Sim.P50 / 1.1366
	if !near2(c["spi_t"].Days, 0.115*q0sim, 1e-6) || !near2(c["uplift"].Days, 0.0216*q0sim, 1e-6) || c["spi_t"].Value != 0.8 || c["uplift"].Value != 1.04 {
		t.Errorf("contributions %+v (Q0 %v)", f.Contributions, q0sim)
	}
	if total := days(f.P50.Sub(f.PlannedFinish)); !near2(sum, total, 1e-6) {
		t.Errorf("contributions add up to %v days, P50 − planned finish is %v", sum, total)
	}
	// the same seed gives the same forecast
	again, _ := ForecastProject(v, ForecastOptions{Sim: SimOptions{Iterations: 100_000, Seed: 1, Workers: 3}})
	if !again.P90.Equal(f.P90) || again.PDeadline != f.PDeadline {
		t.Errorf("not reproducible: P90 %v and %v", f.P90, again.P90)
	}
}

func TestForecastCases(t *testing.T) {
	plan := workedPlan()
	t.Run("not started: the remaining work waits for the planned start", func(t *testing.T) {
		// Status date day −5 (the baseline's event), nothing earned: w = 0,
		// f = U = 1.04; PERT mean 5 + 1.04·(62/6 + 126/6) = 37.586667.
		f, err := ForecastProject(project(t, "housing", plan), ForecastOptions{Sim: SimOptions{Iterations: 2000}})
		if err != nil {
			t.Fatal(err)
		}
		if f.StartDays != 5 || f.Weight != 0 || f.Factor != 1.04 || !near2(f.PERTMean, 5+1.04*188.0/6, 1e-9) {
			t.Errorf("start %v w %v factor %v PERT mean %v", f.StartDays, f.Weight, f.Factor, f.PERTMean)
		}
		if f.Sim.Min < 5+1.04*24 || f.Milestones[0].State != StateNotStarted || f.Milestones[0].Criticality != 1 {
			t.Errorf("min %v, milestones %+v", f.Sim.Min, f.Milestones)
		}
	})
	t.Run("done: the actual finish", func(t *testing.T) {
		f, err := ForecastProject(project(t, "housing", plan, completed(t, "A", 12), completed(t, "B", 33)), DefaultForecastOptions())
		if err != nil {
			t.Fatal(err)
		}
		if !f.Done || !f.P50.Equal(dayOf(33)) || !f.P90.Equal(dayOf(33)) || f.PDeadline != 1 || f.Sim != nil {
			t.Errorf("done %v P50 %v P(deadline) %v", f.Done, f.P50, f.PDeadline)
		}
	})
	t.Run("far behind: SPI(t) is bounded", func(t *testing.T) {
		// Day 40, A 50%: EV 0.2, ES 5, AT 40, SPI(t) 0.125 → 0.25;
		// f = 0.8·1.04 + 0.2/0.25 = 1.632.
		f, err := ForecastProject(project(t, "housing", plan, progress(t, "A", 40, 50)), ForecastOptions{Sim: SimOptions{Iterations: 1000}})
		if err != nil {
			t.Fatal(err)
		}
		if f.SPIt != 0.125 || f.SPItUsed != 0.25 || !near2(f.Factor, 1.632, 1e-12) || f.PDeadline != 0 {
			t.Errorf("SPI(t) %v used %v factor %v P(deadline) %v", f.SPIt, f.SPItUsed, f.Factor, f.PDeadline)
		}
	})
	t.Run("kinds", func(t *testing.T) {
		for kind, pct := range map[string]float64{"hospital": 39, "transport": 25, "municipal": 20, "water": 20, "school": 4, "industrial": 4} {
			f, err := ForecastProject(project(t, kind, plan), ForecastOptions{Sim: SimOptions{Iterations: 100}})
			if err != nil {
				t.Fatal(err)
			}
			if f.Uplift.UpperPct != pct || f.Factor != 1+pct/100 {
				t.Errorf("%s: uplift %+v, factor %v", kind, f.Uplift, f.Factor)
			}
		}
		v := project(t, "housing", plan)
		v.Info.Kind = "stadium"
		f, err := ForecastProject(v, ForecastOptions{Sim: SimOptions{Iterations: 100}})
		if err != nil || f.Factor != 1 {
			t.Errorf("unknown kind: factor %v, %v", f.Factor, err)
		}
		// an own table replaces the default
		f, _ = ForecastProject(project(t, "housing", plan), ForecastOptions{Sim: SimOptions{Iterations: 100}, Uplifts: map[string]Uplift{"housing": {UpperPct: 10}}})
		if f.Factor != 1.1 {
			t.Errorf("own table: factor %v", f.Factor)
		}
	})
	t.Run("errors", func(t *testing.T) {
		v := project(t, "housing", plan)
		v.Milestones = nil
		if _, err := ForecastProject(v, DefaultForecastOptions()); !errors.Is(err, ErrNoBaseline) {
			t.Errorf("no baseline: %v", err)
		}
		v = project(t, "housing", plan)
		v.Milestones[1].DependsOn = []string{"B"}
		if _, err := ForecastProject(v, DefaultForecastOptions()); err == nil || err.Error() != `project P1: baseline: row 2 (activity "B"), predecessors: cycle B -> B (each must finish before the next starts)` {
			t.Errorf("cyclic baseline: %v", err)
		}
		if _, err := ForecastProject(project(t, "housing", plan), ForecastOptions{MinSPIt: 2}); err == nil {
			t.Error("bad SPI(t) bounds: no error")
		}
	})
}

// TestForecastUpliftsCoverKinds checks that every project kind the twin
// accepts has a reference class.
func TestForecastUpliftsCoverKinds(t *testing.T) {
	table := DefaultUplifts()
	kinds := []string{"housing", "municipal", "transport", "water", "school", "hospital", "industrial"}
	for _, k := range kinds {
		u, ok := table[k]
		if !ok || u.Kind != k || u.Class == "" || u.UpperPct < u.LowerPct {
			t.Errorf("%s: %+v", k, u)
		}
	}
	for k := range table {
		if !slices.Contains(kinds, k) {
			t.Errorf("uplift for unknown kind %q", k)
		}
	}
	// every kind registers (the twin accepts exactly these)
	for _, k := range kinds {
		project(t, k, workedPlan())
	}
}
