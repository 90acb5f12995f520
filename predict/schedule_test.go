package predict

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// The worked example of the earned-schedule tests and the forecast tests:
// project P1 (housing) planned to start on 1 March 2026 (midnight in
// Shenzhen, UTC+8, where the default rules date the plan), with a deadline
// of 5 April 2026 (its end, day 36). The baseline is sequential:
// A (10 days likely, share 0.4), then B (20 days likely, share 0.6). On day
// 15 A is complete (since day 12) and B reports 10%.

var planStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))

func dayOf(d float64) time.Time { return planStart.Add(dayDuration(d)) }

// event builds a valid event of P1 at a day of the plan, through the wire
// form as a runtime receives it.
func event(t testing.TB, id, typ string, day float64, data twin.Data) *twin.Event {
	t.Helper()
	e := &twin.Event{ID: id, Type: typ, Source: "test/predict", Time: dayOf(day), Project: "P1", Data: data}
	b, err := twin.Encode(e)
	if err != nil {
		t.Fatalf("encode %s: %v", id, err)
	}
	d, err := twin.Decode(b)
	if err != nil {
		t.Fatalf("event %s is not valid: %v", id, err)
	}
	return d
}

// project applies events to a new twin of P1 registered with the plan and
// returns its view.
func project(t testing.TB, kind string, plan []twin.MilestonePlan, events ...*twin.Event) *twin.ProjectView {
	t.Helper()
	rules := twin.DefaultRules()
	p := twin.NewProject("P1", rules)
	all := append([]*twin.Event{
		event(t, "reg", twin.TypeProjectRegistered, -10, &twin.ProjectRegistered{
			Name: "Worked Example Housing", District: "Nanshan", Kind: kind, Owner: "owner", Contractor: "builder", Supervisor: "supervisor",
			BudgetCNY: 100_000_000, PlannedStart: twin.DateWhen(2026, 3, 1), PlannedFinish: twin.DateWhen(2026, 3, 31),
			Deadline: twin.DateWhen(2026, 4, 5),
		}),
		event(t, "plan", twin.TypePlanBaselined, -5, &twin.PlanBaselined{Milestones: plan}),
	}, events...)
	for _, e := range all {
		if _, err := twin.Apply(p, e, rules); err != nil {
			t.Fatalf("apply %s: %v", e.ID, err)
		}
	}
	return p.View()
}

func workedPlan() []twin.MilestonePlan {
	return []twin.MilestonePlan{
		{ID: "A", Name: "substructure", OptimisticDays: 8, LikelyDays: 10, PessimisticDays: 14, BudgetShare: 0.4},
		{ID: "B", Name: "superstructure", OptimisticDays: 16, LikelyDays: 20, PessimisticDays: 30, BudgetShare: 0.6, DependsOn: []string{"A"}},
	}
}

func progress(t testing.TB, m string, day, pct float64) *twin.Event {
	return event(t, fmt.Sprintf("progress-%s-%g", m, day), twin.TypeProgressReported, day, &twin.ProgressReported{Milestone: m, PercentComplete: pct})
}

func completed(t testing.TB, m string, day float64) *twin.Event {
	return event(t, fmt.Sprintf("done-%s-%g", m, day), twin.TypeMilestoneCompleted, day, &twin.MilestoneCompleted{Milestone: m})
}

// TestEarnedSchedule checks the earned-schedule indicators on the worked
// example, derived by hand:
//
//	PD = 30 days (A 10 then B 20, by the likely durations)
//	PV(t) = 0.04 t for t <= 10, 0.4 + 0.03 (t − 10) for 10 <= t <= 30
//	EV = 0.4 × 1 + 0.6 × 0.10 = 0.46 at the status date, day 15
//	ES = 10 + (0.46 − 0.4) / 0.03 = 12 days; AT = 15 days
//	SPI(t) = ES / AT = 12 / 15 = 0.8; SV(t) = ES − AT = −3 days
//	IEAC(t) = PD / SPI(t) = 30 / 0.8 = 37.5 days → 7 April 2026, 12:00
//	TSPI = (PD − ES) / (PD − AT) = 18 / 15 = 1.2
//	deadline day 36: TSPI(36) = (PD − ES) / (36 − AT) = 18 / 21 = 0.857143
func TestEarnedSchedule(t *testing.T) {
	v := project(t, "housing", workedPlan(), completed(t, "A", 12), progress(t, "B", 15, 10))
	got := EarnedScheduleOf(v)
	want := EarnedSchedule{
		Known: true, StatusDate: dayOf(15), PDDays: 30, ESDays: 12, ATDays: 15, SPIt: 0.8, SVtDays: -3,
		IEACtDays: 37.5, IEACtDate: dayOf(37.5), TSPI: 1.2, TSPIKnown: true,
		DeadlineDays: 36, TSPIDeadline: 18.0 / 21, TSPIDeadlineKnown: true,
	}
	if !closeES(got, want) {
		t.Errorf("earned schedule\n got %+v\nwant %+v", got, want)
	}
}

func closeES(a, b EarnedSchedule) bool {
	c := func(x, y float64) bool { return math.Abs(x-y) < 1e-9 }
	return a.Known == b.Known && a.StatusDate.Equal(b.StatusDate) && c(a.PDDays, b.PDDays) && c(a.ESDays, b.ESDays) &&
		c(a.ATDays, b.ATDays) && c(a.SPIt, b.SPIt) && c(a.SVtDays, b.SVtDays) && c(a.IEACtDays, b.IEACtDays) &&
		a.IEACtDate.Equal(b.IEACtDate) && c(a.TSPI, b.TSPI) && a.TSPIKnown == b.TSPIKnown && c(a.DeadlineDays, b.DeadlineDays) &&
		c(a.TSPIDeadline, b.TSPIDeadline) && a.TSPIDeadlineKnown == b.TSPIDeadlineKnown
}

func TestComputeEarnedSchedule(t *testing.T) {
	tests := []struct {
		name                 string
		pd, es, at, deadline float64
		want                 EarnedSchedule
	}{
		{"worked example", 30, 12, 15, 36, EarnedSchedule{Known: true, PDDays: 30, ESDays: 12, ATDays: 15, SPIt: 0.8, SVtDays: -3,
			IEACtDays: 37.5, TSPI: 1.2, TSPIKnown: true, DeadlineDays: 36, TSPIDeadline: 18.0 / 21, TSPIDeadlineKnown: true}},
		// ahead: ES 20 at AT 15: SPI(t) 4/3, IEAC(t) 22.5, TSPI 10/15
		{"ahead of plan", 30, 20, 15, 0, EarnedSchedule{Known: true, PDDays: 30, ESDays: 20, ATDays: 15, SPIt: 4.0 / 3, SVtDays: 5,
			IEACtDays: 22.5, TSPI: 10.0 / 15, TSPIKnown: true}},
		// day 40 of 30 with ES 28: TSPI undefined (PD passed); against the
		// deadline 45: (30 − 28)/(45 − 40) = 0.4; IEAC(t) = 30/0.7
		{"past the planned duration", 30, 28, 40, 45, EarnedSchedule{Known: true, PDDays: 30, ESDays: 28, ATDays: 40, SPIt: 0.7, SVtDays: -12,
			IEACtDays: 30 / 0.7, DeadlineDays: 45, TSPIDeadline: 0.4, TSPIDeadlineKnown: true}},
		{"past the deadline too", 30, 28, 50, 45, EarnedSchedule{Known: true, PDDays: 30, ESDays: 28, ATDays: 50, SPIt: 0.56, SVtDays: -22,
			IEACtDays: 30 / 0.56, DeadlineDays: 45}},
		{"all earned", 30, 30, 35, 0, EarnedSchedule{Known: true, PDDays: 30, ESDays: 30, ATDays: 35, SPIt: 30.0 / 35, SVtDays: -5,
			IEACtDays: 35, TSPIKnown: true}},
		{"nothing earned", 30, 0, 5, 0, EarnedSchedule{Known: true, PDDays: 30, ATDays: 5, SVtDays: -5, TSPI: 30.0 / 25, TSPIKnown: true}},
		{"not started", 30, 0, 0, 0, EarnedSchedule{PDDays: 30}},
		{"NaN", 30, math.NaN(), 5, 0, EarnedSchedule{}},
		{"infinite", math.Inf(1), 3, 5, 0, EarnedSchedule{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ComputeEarnedSchedule(tc.pd, tc.es, tc.at, tc.deadline); !closeES(got, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
