package twin

import (
	"math"
	"testing"
	"time"
)

// TestEarnedSchedule checks PV, EV, ES, SPI(t) and SV(t) against values
// worked out by hand.
//
// The plan starts on 1 March 2026 (local midnight). Sequential: A takes 10
// days (share 0.4), then B 20 days (share 0.6). Planned value rises
// linearly within each milestone:
//
//	PV(t) = 0.04 t             for 0 <= t <= 10
//	PV(t) = 0.4 + 0.03 (t-10)  for 10 <= t <= 30
//
// At day 15 with A 100% and B 10%:
//
//	PV = 0.4 + 0.03 x 5        = 0.55
//	EV = 0.4 x 1 + 0.6 x 0.10  = 0.46
//	ES = 10 + (0.46-0.4)/0.03  = 12 days  (when the plan expected EV 0.46)
//	SPI(t) = ES/AT = 12/15     = 0.8
//	SV(t) = ES-AT              = -3 days
//	SPI = EV/PV = 0.46/0.55    = 0.836364
func TestEarnedSchedule(t *testing.T) {
	seq := []MilestonePlan{ms("A", 10, 0.4), ms("B", 20, 0.6, "A")}
	// Parallel: A 10 days and B 20 days both from day 0, shares 0.5 each:
	// PV(t) = 0.05 t + 0.025 t = 0.075 t up to day 10.
	par := []MilestonePlan{ms("A", 10, 0.5), ms("B", 20, 0.5)}
	// A zero-length milestone (a handover) between two others.
	handover := []MilestonePlan{ms("A", 10, 0.45), {ID: "H", OptimisticDays: 0, LikelyDays: 0, PessimisticDays: 1, BudgetShare: 0.1, DependsOn: []string{"A"}}, ms("B", 10, 0.45, "H")}
	tests := []struct {
		name     string
		plan     []MilestonePlan
		percents map[string]float64
		day      float64
		want     Schedule // PV, EV, SPI, ESDays, ATDays, SPIt, SVtDays
	}{
		{"worked example: day 15, A done, B 10%", seq, map[string]float64{"A": 100, "B": 10}, 15,
			Schedule{PV: 0.55, EV: 0.46, SPI: 0.836364, ESDays: 12, ATDays: 15, SPIt: 0.8, SVtDays: -3}},
		{"day 15, A half done", seq, map[string]float64{"A": 50}, 15,
			Schedule{PV: 0.55, EV: 0.2, SPI: 0.363636, ESDays: 5, ATDays: 15, SPIt: 0.333333, SVtDays: -10}},
		{"day 15, ahead of plan", seq, map[string]float64{"A": 100, "B": 50}, 15,
			Schedule{PV: 0.55, EV: 0.7, SPI: 1.272727, ESDays: 20, ATDays: 15, SPIt: 1.333333, SVtDays: 5}},
		{"day 15, all done", seq, map[string]float64{"A": 100, "B": 100}, 15,
			Schedule{PV: 0.55, EV: 1, SPI: 1.818182, ESDays: 30, ATDays: 15, SPIt: 2, SVtDays: 15}},
		{"day 40, late: ES is capped by the plan", seq, map[string]float64{"A": 100, "B": 90}, 40,
			Schedule{PV: 1, EV: 0.94, SPI: 0.94, ESDays: 28, ATDays: 40, SPIt: 0.7, SVtDays: -12}},
		{"day 15, nothing done", seq, nil, 15,
			Schedule{PV: 0.55, EV: 0, SPI: 0, ESDays: 0, ATDays: 15, SPIt: 0, SVtDays: -15}},
		{"parallel: day 10, EV 0.6", par, map[string]float64{"A": 70, "B": 50}, 10,
			Schedule{PV: 0.75, EV: 0.6, SPI: 0.8, ESDays: 8, ATDays: 10, SPIt: 0.8, SVtDays: -2}},
		// Day 5: A half planned (0.225), the handover and B not started.
		{"zero-length milestone before its date", handover, map[string]float64{"A": 40}, 5,
			Schedule{PV: 0.225, EV: 0.18, SPI: 0.8, ESDays: 4, ATDays: 5, SPIt: 0.8, SVtDays: -1}},
		// Day 15, EV 0.5 lies in the handover's step at day 10: ES = 10.
		{"earned value within a step of the plan", handover, map[string]float64{"A": 100, "H": 50}, 15,
			Schedule{PV: 0.775, EV: 0.5, SPI: 0.645161, ESDays: 10, ATDays: 15, SPIt: 0.666667, SVtDays: -5}},
		// Day 15: A and the handover planned done (0.55), B half (0.225).
		{"zero-length milestone after its date", handover, map[string]float64{"A": 100, "H": 100, "B": 50}, 15,
			Schedule{PV: 0.775, EV: 0.775, SPI: 1, ESDays: 15, ATDays: 15, SPIt: 1, SVtDays: 0}},
	}
	start := ts("2026-02-28T16:00:00Z")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := projectTwin(t)
			mustApply(t, p, planned("2026-02-26T01:00:00Z", tt.plan...))
			// the progress is reported on the measurement day: that is the
			// status (data) date SPI(t) is measured at
			at := start.Add(time.Duration(tt.day * float64(day))).Format(time.RFC3339)
			mustApply(t, p, tick(at))
			for _, m := range tt.plan {
				if pct := tt.percents[m.ID]; pct > 0 {
					mustApply(t, p, progress(at, m.ID, pct))
				}
			}
			got := p.Schedule
			tt.want.PlannedStart, tt.want.PlannedFinish, tt.want.Known, tt.want.StatusDate = got.PlannedStart, got.PlannedFinish, true, ts(at)
			if !close6(got, tt.want) {
				t.Fatalf("schedule\n%+v\nwant\n%+v", got, tt.want)
			}
			if !got.PlannedStart.Equal(start) {
				t.Fatalf("planned start %v", got.PlannedStart)
			}
			twinJSON(t, p)
		})
	}
}

func close6(a, b Schedule) bool {
	eq := func(x, y float64) bool { return math.Abs(x-y) < 1e-6 }
	return a.Known == b.Known && eq(a.PV, b.PV) && eq(a.EV, b.EV) && eq(a.SPI, b.SPI) && eq(a.ESDays, b.ESDays) &&
		eq(a.ATDays, b.ATDays) && eq(a.SPIt, b.SPIt) && eq(a.SVtDays, b.SVtDays)
}

func TestScheduleUnknown(t *testing.T) {
	tests := []struct {
		name   string
		events []*Event
	}{
		{"no plan", one(tick("2026-03-10T00:00:00Z"))},
		{"before the planned start", []*Event{planned("2026-02-26T01:00:00Z", ms("A", 10, 1)), tick("2026-02-28T15:00:00Z")}},
		{"plan without a registration", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := projectTwin(t)
			if tt.events == nil { // both rejected: the project is not registered
				p = NewProject(testProject, pack())
				for _, e := range []*Event{planned("2026-02-26T01:00:00Z", ms("A", 10, 1)), progress("2026-03-10T00:00:00Z", "A", 50)} {
					mustReject(t, p, wire(t, e), "project P1 is not registered (send project.registered first)")
				}
			} else {
				mustApply(t, p, tt.events...)
			}
			if p.Schedule.Known || p.Schedule.SPIt != 0 {
				t.Fatalf("schedule %+v", p.Schedule)
			}
		})
	}
}
