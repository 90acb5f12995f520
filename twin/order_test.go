package twin

import (
	"testing"
	"time"
)

// TestCreditIndependentOfArrivalOrder: the facts of a project arrive on
// several topics, so a runtime may apply a later sensor reading before an
// earlier rectification. The credit score is derived from the facts, so
// both orders give the same score.
func TestCreditIndependentOfArrivalOrder(t *testing.T) {
	found := hazardFound("2026-07-06T02:00:00Z", "HZ1", SeverityMajor, "scaffolding", "2026-07-10")
	fix := rectified("2026-07-09T02:00:00Z", "HZ1") // before the deadline
	later := tick("2026-07-20T02:00:00Z")           // a reading of after the deadline
	inOrder := paidOnTime(t)
	mustApply(t, inOrder, found, fix, later)
	outOfOrder := paidOnTime(t)
	mustApply(t, outOfOrder, found, later, fix)
	if inOrder.Credit.Score != outOfOrder.Credit.Score || inOrder.Credit.Score != 97 {
		t.Fatalf("credit in order %v, out of order %v; want 97 both (major hazard found, rectified in time)",
			inOrder.Credit.Score, outOfOrder.Credit.Score)
	}
	if outOfOrder.Hazards["HZ1"].Overdue {
		t.Fatal("a hazard rectified before its deadline is marked overdue")
	}
}

// TestNoiseWindowClippedToPeriod: at 22:00 the night limit judges only the
// readings of the night, not the day's 20 minutes before it.
func TestNoiseWindowClippedToPeriod(t *testing.T) {
	p := siteTwin(t)
	// 21:40 to 21:59 local (13:40Z to 13:59Z): 65 dB(A), legal by day.
	start := ts("2026-07-06T13:40:00Z")
	for i := range 20 {
		mustApply(t, p, reading(start.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), SensorNoise, 65, "dB(A)", ""))
	}
	if lvl := siteAlarm(p, testSite, "noise_leq"); lvl != LevelOK {
		t.Fatalf("day: noise alarm %v", lvl)
	}
	// 22:00:30 local, quiet: 50 dB(A) is within the night limit of 55.
	mustApply(t, p, reading("2026-07-06T14:00:30Z", SensorNoise, 50, "dB(A)", ""))
	if lvl := siteAlarm(p, testSite, "noise_leq"); lvl != LevelOK {
		t.Fatalf("night: the day's readings were judged by the night limit (%v)", lvl)
	}
	// 22:01 local, loud: 65 dB(A) at night breaks 55.
	mustApply(t, p, reading("2026-07-06T14:01:00Z", SensorNoise, 65, "dB(A)", ""))
	if lvl := siteAlarm(p, testSite, "noise_leq"); lvl != LevelStop {
		t.Fatalf("night: 65 dB(A) raised %v, want stop", lvl)
	}
}
