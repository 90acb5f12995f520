package twin

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// projectTwin returns a twin with P1 registered (planned start 1 March 2026,
// local midnight: 2026-02-28T16:00Z) and S1 added; no wages paid yet.
func projectTwin(t *testing.T) *ProjectTwin {
	t.Helper()
	p := NewProject(testProject, pack())
	mustApply(t, p, registered("2026-02-20T01:00:00Z"), siteAdded("2026-02-20T02:00:00Z", testSite, "C"))
	return p
}

// keyAlerts is alertSummary of the alerts of one key.
func keyAlerts(as []Alert, key string) string {
	var out []Alert
	for _, a := range as {
		if a.Key == key {
			out = append(out, a)
		}
	}
	return alertSummary(out)
}

func TestApplyRegistration(t *testing.T) {
	p := NewProject(testProject, pack())
	e := registered("2026-02-20T01:00:00Z")
	e.Data.(*ProjectRegistered).Deadline = DateWhen(2028, 2, 29)
	eff := applyOne(t, p, e)
	if len(eff.Alerts) != 0 || !p.Registered || p.Health != Green {
		t.Fatalf("effects %+v, registered %v, health %s", eff, p.Registered, p.Health)
	}
	in := p.Info
	want := ProjectInfo{
		Name: "Qianhai Talent Housing Phase II", District: "Nanshan", Kind: "housing",
		Owner: "sz-housing-bureau", Contractor: "cscec-3b", Supervisor: "sz-jianli", BudgetCNY: 860_000_000,
		PlannedStart:  ts("2026-02-28T16:00:00Z"), // 1 March, local midnight
		PlannedFinish: ts("2027-12-31T16:00:00Z"), // end of 31 December, local
		Deadline:      ts("2028-02-29T16:00:00Z"),
		Registered:    ts("2026-02-20T01:00:00Z"),
	}
	if in != want {
		t.Fatalf("info\n%+v\nwant\n%+v", in, want)
	}
	// A corrected registration keeps the first registration time; without a
	// deadline the deadline is the planned finish.
	applyOne(t, p, registered("2026-03-02T01:00:00Z"))
	if !p.Info.Registered.Equal(ts("2026-02-20T01:00:00Z")) || !p.Info.Deadline.Equal(want.PlannedFinish) {
		t.Fatalf("after correction %+v", p.Info)
	}
}

func TestApplyBeforeRegistration(t *testing.T) {
	// A twin takes nothing before its project.registered: every other
	// event, city-wide weather included, is rejected, changes nothing and is
	// not remembered, so the same events apply once the project is
	// registered.
	const notRegistered = "project P1 is not registered (send project.registered first)"
	addressed := rain("2026-02-19T09:00:00Z", RainYellow, "", "Nanshan")
	addressed.Project, addressed.ID = testProject, "p1-"+addressed.ID
	tests := []struct {
		e    *Event
		want string
	}{
		{siteAdded("2026-02-19T01:00:00Z", testSite, "C"), notRegistered},
		{craneInstalled("2026-02-19T02:00:00Z", "TC1", 60, 0), notRegistered},
		{reading("2026-02-19T03:00:00Z", SensorPM10, 230, "µg/m³", ""), notRegistered},
		{hazardFound("2026-02-19T04:00:00Z", "HZ1", SeverityMajor, "scaffolding", "2026-03-10"), notRegistered},
		{changeOrder("CO-1", "2026-02-19T05:00:00Z", 10_000_000, 21), notRegistered},
		{disbursed("2026-02-19T06:00:00Z", 50_000_000, "M1"), notRegistered},
		{progress("2026-02-19T07:00:00Z", "M1", 5), notRegistered},
		{planned("2026-02-19T08:00:00Z", ms("M1", 10, 0.4), ms("M2", 20, 0.6, "M1")), notRegistered},
		{addressed, notRegistered},
		{rain("2026-02-19T09:30:00Z", RainRed, "", ""),
			"city-wide rainfall.warning applied to project P1, which is not registered (deliver city-wide events only to registered twins)"},
	}
	p := NewProject(testProject, pack())
	for _, tt := range tests {
		t.Run(tt.e.Type+" "+tt.e.ID, func(t *testing.T) {
			mustReject(t, p, wire(t, tt.e), tt.want)
		})
	}
	if p.Registered || p.Applied != 0 || len(p.Seen.Keep)+p.Seen.Recent.Len()+len(p.Seen.Sites) != 0 {
		t.Fatalf("registered %v, applied %d, seen %+v", p.Registered, p.Applied, p.Seen)
	}

	// Registered, the twin takes the same events, none as a duplicate.
	applyOne(t, p, registered("2026-02-20T01:00:00Z"))
	var effs []Effects
	for _, tt := range tests {
		eff := applyOne(t, p, tt.e)
		if eff.Duplicate {
			t.Fatalf("%s was remembered although it was rejected", tt.e.ID)
		}
		effs = append(effs, eff)
	}
	if p.Applied != int64(1+len(tests)) || p.Info.BudgetCNY != 870_000_000 || !p.Info.Deadline.Equal(ts("2027-12-31T16:00:00Z").Add(21*24*time.Hour)) {
		t.Fatalf("applied %d, budget %v, deadline %v", p.Applied, p.Info.BudgetCNY, p.Info.Deadline)
	}
	s := p.Sites[testSite]
	if !s.Registered || s.Equipment["TC1"].HeightM != 60 || siteAlarm(p, testSite, "pm10_hourly") != LevelStop {
		t.Fatalf("site %+v", s)
	}
	if a := effs[2].Alerts; len(a) != 1 || a[0].District != "Nanshan" || a[0].Responsible != "cscec-3b" {
		t.Errorf("pm10 alerts %+v", a)
	}
	if o := effs[3].Outbound; len(o) != 1 || o[0].To != "cscec-3b" {
		t.Errorf("rectification notice %+v", o)
	}
	if m := p.Milestones[1]; !m.PlannedStart.Equal(ts("2026-03-10T16:00:00Z")) || !p.Schedule.PlannedFinish.Equal(ts("2026-03-30T16:00:00Z")) {
		t.Fatalf("plan %+v", m)
	}
	if p.Weather.Rainstorm != RainRed || projectAlarm(p, "rainstorm") != LevelStop {
		t.Fatalf("weather %+v", p.Weather)
	}
}

func TestApplyPlanAndProgress(t *testing.T) {
	p := projectTwin(t)
	mustApply(t, p, progress("2026-02-25T01:00:00Z", "M9", 10)) // a milestone the plan does not know yet
	mustApply(t, p, planned("2026-02-26T01:00:00Z", ms("M1", 10, 0.4), ms("M2", 20, 0.6, "M1"), ms("M3", 0, 0, "M1")))
	got := map[string][2]time.Time{}
	for _, m := range p.Milestones {
		got[m.ID] = [2]time.Time{m.PlannedStart, m.PlannedFinish}
	}
	start := ts("2026-02-28T16:00:00Z")
	wantDates := map[string][2]time.Time{
		"M1": {start, start.Add(10 * day)},
		"M2": {start.Add(10 * day), start.Add(30 * day)},
		"M3": {start.Add(10 * day), start.Add(10 * day)},
		"M9": {},
	}
	for id, w := range wantDates {
		if got[id] != w {
			t.Errorf("%s planned %v, want %v", id, got[id], w)
		}
	}
	if ids := milestoneIDs(p); ids != "M1 M2 M3 M9" || p.Milestones[3].Baselined {
		t.Fatalf("milestones %s", ids)
	}
	if !p.Schedule.PlannedFinish.Equal(start.Add(30 * day)) {
		t.Fatalf("schedule %+v", p.Schedule)
	}
	steps := []struct {
		name string
		e    *Event
		want float64 // M1 percent after
	}{
		{"progress", progress("2026-03-05T01:00:00Z", "M1", 40), 40},
		{"progress may be revised down", progress("2026-03-06T01:00:00Z", "M1", 35), 35},
		{"an older report does not move progress", progress("2026-03-05T12:00:00Z", "M1", 80), 35},
		{"completed", completed("2026-03-10T01:00:00Z", "M1"), 100},
		{"progress after completion is ignored", progress("2026-03-11T01:00:00Z", "M1", 90), 100},
	}
	for _, st := range steps {
		applyOne(t, p, st.e)
		if m := p.milestone("M1"); m.Percent != st.want {
			t.Fatalf("%s: M1 at %v%%, want %v", st.name, m.Percent, st.want)
		}
	}
	// Re-baselining without M3 keeps it, unbaselined.
	mustApply(t, p, planned("2026-03-12T01:00:00Z", ms("M1", 10, 0.4), ms("M2", 25, 0.6, "M1")))
	if m := p.milestone("M3"); m.Baselined || !m.PlannedStart.IsZero() {
		t.Fatalf("M3 after re-baselining: %+v", m)
	}
	if ids := milestoneIDs(p); ids != "M1 M2 M3 M9" {
		t.Fatalf("milestones %s", ids)
	}
	twinJSON(t, p)
}

func milestoneIDs(p *ProjectTwin) string {
	ids := make([]string, len(p.Milestones))
	for i, m := range p.Milestones {
		ids[i] = m.ID
	}
	return strings.Join(ids, " ")
}

func TestApplyScheduleAlarm(t *testing.T) {
	// Two sequential milestones from 1 March (local): A 10 days, share 0.4;
	// B 20 days, share 0.6. PV rises 0.04/day to 0.4 at day 10, then
	// 0.03/day to 1.0 at day 30.
	start := ts("2026-02-28T16:00:00Z")
	at := func(days float64) string { return start.Add(time.Duration(days * float64(day))).Format(time.RFC3339) }
	p := projectTwin(t)
	mustApply(t, p, planned("2026-02-26T01:00:00Z", ms("A", 10, 0.4), ms("B", 20, 0.6, "A")), completed(at(10), "A"))
	steps := []struct {
		name   string
		e      *Event
		alerts string
		reason string
	}{
		// Day 13, nothing of B done: ES = 10, SPI(t) 0.77, but no alarm in the first 14 days.
		{"no alarm before 14 days", progress(at(13), "B", 0), "", ""},
		// Day 20, B 24%: EV 0.544, ES = 10 + 0.144/0.03 = 14.8, SPI(t) 0.74, SV(t) -5.2.
		{"SPI(t) 0.74 is red", progress(at(20), "B", 24), "schedule raised stop", "SPI(t) 0.74 < 0.80 (5.2 days behind plan)"},
		// Day 21, B 35%: EV 0.61, ES 17, SPI(t) 0.81: red holds until above 0.92.
		{"SPI(t) 0.81 holds red", progress(at(21), "B", 35), "", "SPI(t) 0.81, held until > 0.92 (4.0 days behind plan)"},
		// Day 22, B 55%: EV 0.73, ES 21, SPI(t) 0.9545: clears.
		{"SPI(t) 0.95 clears", progress(at(22), "B", 55), "schedule cleared ok", ""},
		// Day 24, no report: the schedule is still measured at the data
		// date of the last report (day 22), so nothing changes.
		{"the clock alone does not move the data date", tick(at(24)), "", ""},
		// Day 25, a report of B still at 55%: ES 21, SPI(t) 0.84: warn.
		{"SPI(t) 0.84 warns", progress(at(25), "B", 55), "schedule raised warn", "SPI(t) 0.84 < 0.90 (4.0 days behind plan)"},
		// Day 61, no report for 36 days (> 35): measured at the clock. ES
		// 21, AT 61: SPI(t) 0.34 is red.
		{"a stale data date gives way to the clock", tick(at(61)), "schedule escalated stop", "SPI(t) 0.34 < 0.80 (40.0 days behind plan)"},
	}
	for _, st := range steps {
		eff := applyOne(t, p, st.e)
		if got := keyAlerts(eff.Alerts, "schedule"); got != st.alerts {
			t.Fatalf("%s: alerts %q, want %q (schedule %+v)", st.name, got, st.alerts, p.Schedule)
		}
		if st.reason != "" {
			if al := p.Alarms["schedule"]; al == nil || al.Reason != st.reason {
				t.Fatalf("%s: alarm %+v, want reason %q", st.name, al, st.reason)
			}
			if !hasReason(p.Reasons, st.reason) {
				t.Fatalf("%s: project reasons %q", st.name, p.Reasons)
			}
		}
	}
}

func TestApplyWages(t *testing.T) {
	tests := []struct {
		name    string
		events  []*Event
		want    Level
		reason  string
		alerts  string
		arrears float64
		credit  float64
	}{
		{name: "31 days after the start is within the cycle", events: one(tick("2026-03-31T16:00:00Z")), want: LevelOK, credit: 100},
		{name: "32 days after the start: 1 day of arrears", events: one(tick("2026-04-01T16:00:00Z")), want: LevelWarn,
			reason: "wage arrears 1 day (no wages paid since the planned start 2026-03-01)", alerts: "wages raised warn", arrears: 1, credit: 95},
		{name: "43 days: 12 days of arrears is red", events: one(tick("2026-04-12T16:00:00Z")), want: LevelStop,
			reason: "wage arrears 12 days (no wages paid since the planned start 2026-03-01)", alerts: "wages raised stop", arrears: 12, credit: 95},
		{name: "7 days of arrears is amber, 8 red", events: []*Event{tick("2026-04-07T16:00:00Z"), tick("2026-04-08T16:00:00Z")}, want: LevelStop,
			alerts: "wages raised warn; wages escalated stop", arrears: 8, credit: 95},
		{name: "paid monthly", events: []*Event{wagesPaid("2026-03-31T02:00:00Z", 3e6), wagesPaid("2026-04-30T02:00:00Z", 3e6), tick("2026-05-31T02:00:00Z")}, want: LevelOK, credit: 100},
		{name: "last paid 43 days ago", events: []*Event{wagesPaid("2026-03-31T02:00:00Z", 3e6), wagesPaid("2026-04-30T02:00:00Z", 3e6), tick("2026-06-12T02:00:00Z")}, want: LevelStop,
			reason: "wage arrears 12 days (last paid 2026-04-30)", alerts: "wages raised stop", arrears: 12, credit: 95},
		{name: "paying clears the arrears", events: []*Event{tick("2026-04-12T16:00:00Z"), wagesPaid("2026-04-13T02:00:00Z", 3e6)}, want: LevelOK,
			alerts: "wages raised stop; wages cleared ok", credit: 95},
		{name: "one deduction per episode", events: []*Event{tick("2026-04-12T16:00:00Z"), tick("2026-04-20T16:00:00Z"), wagesPaid("2026-04-21T02:00:00Z", 3e6), tick("2026-05-23T02:00:00Z")}, want: LevelWarn,
			alerts: "wages raised stop; wages cleared ok; wages raised warn", arrears: 8 - 7, credit: 90},
		{name: "a first payment two months after the start was late", events: []*Event{wagesPaid("2026-04-30T02:00:00Z", 3e6), tick("2026-05-20T02:00:00Z")}, want: LevelOK, credit: 95},
		{name: "a late wage payment does not move the last payment back", events: []*Event{wagesPaid("2026-04-30T02:00:00Z", 3e6), wagesPaid("2026-03-31T02:00:00Z", 3e6), tick("2026-05-31T02:00:00Z")}, want: LevelOK, credit: 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := projectTwin(t)
			got := keyAlerts(allAlerts(mustApply(t, p, tt.events...)), "wages")
			if got != tt.alerts {
				t.Errorf("alerts %q, want %q", got, tt.alerts)
			}
			if lvl := projectAlarm(p, "wages"); lvl != tt.want {
				t.Fatalf("wages %v, want %v", lvl, tt.want)
			}
			if tt.reason != "" && p.Alarms["wages"].Reason != tt.reason {
				t.Errorf("reason %q, want %q", p.Alarms["wages"].Reason, tt.reason)
			}
			if p.Funds.ArrearsDays != tt.arrears || p.Credit.Score != tt.credit {
				t.Errorf("arrears %v credit %v, want %v %v", p.Funds.ArrearsDays, p.Credit.Score, tt.arrears, tt.credit)
			}
		})
	}
	t.Run("no wages due once the work is complete", func(t *testing.T) {
		p := projectTwin(t)
		mustApply(t, p, planned("2026-02-26T01:00:00Z", ms("A", 10, 1)), completed("2026-03-20T01:00:00Z", "A"), tick("2026-06-12T16:00:00Z"))
		if projectAlarm(p, "wages") != LevelOK {
			t.Fatalf("wages alarm after completion: %+v", p.Alarms["wages"])
		}
	})
	t.Run("no wages due once the work is complete, shares summing to 0.999", func(t *testing.T) {
		// The plan's shares may sum to 1 within 0.01: EV then ends below 1.
		p := projectTwin(t)
		mustApply(t, p, planned("2026-02-26T01:00:00Z", ms("A", 10, 0.333), ms("B", 10, 0.333), ms("C", 10, 0.333)),
			completed("2026-03-20T01:00:00Z", "A"), completed("2026-03-20T02:00:00Z", "B"), completed("2026-03-20T03:00:00Z", "C"),
			tick("2026-06-12T16:00:00Z"))
		if projectAlarm(p, "wages") != LevelOK {
			t.Fatalf("wages alarm after completion: %+v", p.Alarms["wages"])
		}
	})
	t.Run("balance of the wage account", func(t *testing.T) {
		p := projectTwin(t)
		effs := mustApply(t, p, deposited("2026-03-01T02:00:00Z", 5e6), wagesPaid("2026-03-31T02:00:00Z", 3.86e6))
		if p.Funds.WageBalanceCNY != 1.14e6 || p.Funds.WageDepositedCNY != 5e6 || p.Funds.WagesPaidCNY != 3.86e6 {
			t.Fatalf("funds %+v", p.Funds)
		}
		if effs[0].Audit[0].Action != AuditWageDeposit || effs[1].Audit[0].Action != AuditWagesPaid || effs[1].Audit[0].Subject != "2026-03" {
			t.Fatalf("audit %+v %+v", effs[0].Audit, effs[1].Audit)
		}
	})
}

func TestApplyFunds(t *testing.T) {
	// Budget ¥8.6亿; A (share 0.5) at 20% earns 0.1: ¥8600万.
	setup := func(t *testing.T) *ProjectTwin {
		p := siteTwin(t)
		mustApply(t, p, planned("2026-02-26T01:00:00Z", ms("A", 100, 0.5), ms("B", 100, 0.5, "A")), progress("2026-06-01T01:00:00Z", "A", 20))
		return p
	}
	tests := []struct {
		name   string
		events []*Event
		want   Level
		reason string
	}{
		{"within earned value", one(disbursed("2026-06-02T01:00:00Z", 86e6, "A")), LevelOK, ""},
		{"5% ahead is tolerated", one(disbursed("2026-06-02T01:00:00Z", 90.3e6, "A")), LevelOK, ""},
		{"¥1.2亿 against ¥8600万 is flagged", one(disbursed("2026-06-02T01:00:00Z", 120e6, "A")), LevelWarn, "disbursed ¥1.20亿 exceeds earned value ¥8600.0万"},
		{"progress catches up", []*Event{disbursed("2026-06-02T01:00:00Z", 120e6, "A"), progress("2026-06-03T01:00:00Z", "A", 30)}, LevelOK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := setup(t)
			mustApply(t, p, tt.events...)
			if lvl := projectAlarm(p, "funds"); lvl != tt.want {
				t.Fatalf("funds %v, want %v (%+v)", lvl, tt.want, p.Funds)
			}
			if tt.want != LevelOK {
				al := p.Alarms["funds"]
				if al.Reason != tt.reason || al.Responsible != "sz-housing-bureau" {
					t.Fatalf("alarm %+v", al)
				}
			}
		})
	}
	t.Run("a payment never counts twice", func(t *testing.T) {
		p := setup(t)
		e := disbursed("2026-06-02T01:00:00Z", 43e6, "A")
		first := applyOne(t, p, e)
		again := applyOne(t, p, e)
		// A retry a year later is still a duplicate.
		mustApply(t, p, tick("2027-06-02T01:00:00Z"))
		later := applyOne(t, p, e)
		if len(first.Audit) != 1 || !again.Duplicate || len(again.Audit) != 0 || !later.Duplicate {
			t.Fatalf("first %+v again %+v later %+v", first, again, later)
		}
		if p.Funds.DisbursedCNY != 43e6 || p.Funds.Payments != 2 || p.milestone("A").DisbursedCNY != 43e6 || len(p.Audit) != 2 {
			t.Fatalf("funds %+v audit %d", p.Funds, len(p.Audit))
		}
	})
}

func TestApplyChangeOrders(t *testing.T) {
	p := projectTwin(t)
	deadline := p.Info.Deadline
	effs := mustApply(t, p, changeOrder("CO-1", "2026-04-01T01:00:00Z", 12_500_000, 21), changeOrder("CO-2", "2026-05-01T01:00:00Z", -2_500_000, -3.5))
	if p.Info.BudgetCNY != 870_000_000 || !p.Info.Deadline.Equal(deadline.Add(17*day+12*time.Hour)) {
		t.Fatalf("budget %v deadline %v", p.Info.BudgetCNY, p.Info.Deadline)
	}
	if p.Funds.ChangeOrdersCNY != 10_000_000 || p.Funds.ChangeOrderDays != 17.5 {
		t.Fatalf("funds %+v", p.Funds)
	}
	a := effs[0].Audit
	if len(a) != 1 || a[0].Action != AuditChangeOrder || a[0].Subject != "CO-1" || a[0].AmountCNY != 12_500_000 || a[0].Actor != "test/payment" {
		t.Fatalf("audit %+v", a)
	}
	// A correction of the registration keeps the approved changes.
	mustApply(t, p, registered("2026-05-02T01:00:00Z"))
	if p.Info.BudgetCNY != 870_000_000 || !p.Info.Deadline.Equal(deadline.Add(17*day+12*time.Hour)) {
		t.Fatalf("after re-registration: budget %v deadline %v", p.Info.BudgetCNY, p.Info.Deadline)
	}
	// The same change order under another event id is rejected.
	before := twinJSON(t, p)
	_, err := Apply(p, wire(t, changeOrder("CO-1", "2026-05-03T01:00:00Z", 12_500_000, 21)), pack())
	if !errors.Is(err, ErrRejected) || !bytes.Equal(before, twinJSON(t, p)) {
		t.Fatalf("second approval of CO-1: %v", err)
	}
}

func TestApplyHazardLoop(t *testing.T) {
	// A major hazard, due 10 July (local): due at 2026-07-10T16:00Z.
	p := paidOnTime(t)
	mustApply(t, p, wagesPaid("2026-07-01T00:00:00Z", 3e6))
	steps := []struct {
		name     string
		e        *Event
		alerts   string
		status   string
		level    Level
		notice   string // key of the notice sent, if any
		audit    string // action audited, if any
		credit   float64
		reasonIn string
	}{
		{"found: notice, amber", hazardFound("2026-07-06T02:40:00Z", "HZ1", SeverityMajor, "scaffolding", "2026-07-10"),
			"hazard@HZ1 raised warn", StatusOpen, LevelWarn, "P1/HZ1/notice-1", "", 97, "major hazard HZ1 (scaffolding) open, due 2026-07-10"},
		{"a second before the deadline", tick("2026-07-10T15:59:59Z"), "", StatusOpen, LevelWarn, "", "", 97, ""},
		// Readings evaluate the project rules once the clock has moved a
		// minute since the last evaluation.
		{"overdue: red", tick("2026-07-10T16:00:59Z"), "hazard@HZ1 escalated stop", StatusOpen, LevelStop, "", "", 95, "major hazard HZ1 (scaffolding) overdue (due 2026-07-10)"},
		{"two days overdue", tick("2026-07-12T17:00:00Z"), "", StatusOpen, LevelStop, "", "", 95, "major hazard HZ1 (scaffolding) overdue by 2 days (due 2026-07-10)"},
		{"rectified: awaiting re-inspection", rectified("2026-07-13T03:00:00Z", "HZ1"), "hazard@HZ1 cleared ok", StatusRectified, LevelOK, "", "", 95, ""},
		{"re-inspection fails: reopened with a new deadline", inspected("2026-07-14T03:00:00Z", "HZ1", "fail", "2026-07-16"),
			"hazard@HZ1 raised warn", StatusOpen, LevelWarn, "P1/HZ1/notice-2", "", 95, "open, due 2026-07-16"},
		{"rectified again", rectified("2026-07-15T03:00:00Z", "HZ1"), "hazard@HZ1 cleared ok", StatusRectified, LevelOK, "", "", 95, ""},
		{"re-inspection passes: closed", hazardAccepted("2026-07-16T03:00:00Z", "HZ1"), "", StatusClosed, LevelOK, "", AuditHazardClosure, 95, ""},
	}
	for _, st := range steps {
		eff := applyOne(t, p, st.e)
		h := p.Hazards["HZ1"]
		if got := keyAlerts(eff.Alerts, "hazard@HZ1"); got != st.alerts {
			t.Fatalf("%s: alerts %q, want %q", st.name, got, st.alerts)
		}
		if h.Status != st.status || projectAlarm(p, "hazard@HZ1") != st.level || p.Credit.Score != st.credit {
			t.Fatalf("%s: status %s level %v credit %v", st.name, h.Status, projectAlarm(p, "hazard@HZ1"), p.Credit.Score)
		}
		switch {
		case st.notice == "" && len(eff.Outbound) != 0:
			t.Fatalf("%s: unexpected outbound %+v", st.name, eff.Outbound)
		case st.notice != "":
			if len(eff.Outbound) != 1 {
				t.Fatalf("%s: outbound %+v", st.name, eff.Outbound)
			}
			o := eff.Outbound[0]
			if o.Key != st.notice || o.Kind != "rectification_notice" || o.To != "cscec-3b" || o.Fields["hazard"] != "HZ1" ||
				o.Fields["deadline"] != h.Deadline.Format(time.RFC3339) || o.Fields["supervisor"] != "sz-jianli" || o.Event != st.e.ID || h.Notice != st.notice {
				t.Fatalf("%s: notice %+v", st.name, o)
			}
		}
		if got := len(eff.Audit); (st.audit == "") != (got == 0) || got > 0 && (eff.Audit[0].Action != st.audit || eff.Audit[0].Subject != "HZ1") {
			t.Fatalf("%s: audit %+v", st.name, eff.Audit)
		}
		if st.reasonIn != "" && !hasReason(p.Reasons, st.reasonIn) {
			t.Fatalf("%s: reasons %q lack %q", st.name, p.Reasons, st.reasonIn)
		}
	}
	h := p.Hazards["HZ1"]
	if h.Reopened != 1 || !h.Closed.Equal(ts("2026-07-16T03:00:00Z")) || !h.Rectified.Equal(ts("2026-07-15T03:00:00Z")) || h.Site != testSite {
		t.Fatalf("hazard %+v", h)
	}
}

func TestApplyHazardLevels(t *testing.T) {
	found := func(sev string) *Event {
		return hazardFound("2026-07-06T02:00:00Z", "HZ1", sev, "housekeeping", "2026-07-10")
	}
	tests := []struct {
		name   string
		events []*Event
		want   Level
		alerts string
		credit float64
	}{
		{"general open: no alarm", one(found(SeverityGeneral)), LevelOK, "", 99},
		{"general overdue: amber", []*Event{found(SeverityGeneral), tick("2026-07-11T16:00:00Z")}, LevelWarn, "hazard@HZ1 raised warn", 97},
		{"general 7 days overdue: amber", []*Event{found(SeverityGeneral), tick("2026-07-17T17:00:00Z")}, LevelWarn, "hazard@HZ1 raised warn", 97},
		{"general 8 days overdue escalates", []*Event{found(SeverityGeneral), tick("2026-07-11T16:00:00Z"), tick("2026-07-18T17:00:00Z")}, LevelStop,
			"hazard@HZ1 raised warn; hazard@HZ1 escalated stop", 97},
		{"major open: amber", one(found(SeverityMajor)), LevelWarn, "hazard@HZ1 raised warn", 97},
		{"critical open: red", one(found(SeverityCritical)), LevelStop, "hazard@HZ1 raised stop", 94},
		{"critical closed by inspection", []*Event{found(SeverityCritical), rectified("2026-07-07T02:00:00Z", "HZ1"), inspected("2026-07-08T02:00:00Z", "HZ1", "pass", "")}, LevelOK,
			"hazard@HZ1 raised stop; hazard@HZ1 cleared ok", 94},
		{"closed without a rectification report", []*Event{found(SeverityCritical), inspected("2026-07-08T02:00:00Z", "HZ1", "pass", "")}, LevelOK,
			"hazard@HZ1 raised stop; hazard@HZ1 cleared ok", 94},
		{"rectified after the deadline", []*Event{found(SeverityMajor), tick("2026-07-11T16:00:00Z"), rectified("2026-07-12T02:00:00Z", "HZ1")}, LevelOK,
			"hazard@HZ1 raised warn; hazard@HZ1 escalated stop; hazard@HZ1 cleared ok", 95},
		{"reopened without a new deadline is overdue at once", []*Event{found(SeverityMajor), rectified("2026-07-09T02:00:00Z", "HZ1"), inspected("2026-07-12T02:00:00Z", "HZ1", "fail", "")}, LevelStop,
			"hazard@HZ1 raised warn; hazard@HZ1 cleared ok; hazard@HZ1 raised stop", 95},
		{"red eases to amber when reopened with a new deadline", []*Event{found(SeverityMajor), tick("2026-07-11T16:00:00Z"), inspected("2026-07-12T02:00:00Z", "HZ1", "fail", "2026-07-20")}, LevelWarn,
			"hazard@HZ1 raised warn; hazard@HZ1 escalated stop; hazard@HZ1 eased warn", 95},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := paidOnTime(t)
			mustApply(t, p, wagesPaid("2026-07-01T00:00:00Z", 3e6))
			got := keyAlerts(allAlerts(mustApply(t, p, tt.events...)), "hazard@HZ1")
			if got != tt.alerts {
				t.Errorf("alerts %q, want %q", got, tt.alerts)
			}
			if lvl := projectAlarm(p, "hazard@HZ1"); lvl != tt.want || p.Credit.Score != tt.credit {
				t.Fatalf("level %v credit %v, want %v %v", lvl, p.Credit.Score, tt.want, tt.credit)
			}
		})
	}
}

func TestApplyHazardDeadlineText(t *testing.T) {
	tests := []struct {
		name     string
		deadline string
		tick     string
		want     string
	}{
		{"a date is due at the end of that local day", "2026-07-10", "", "major hazard HZ1 (scaffolding) open, due 2026-07-10"},
		{"a timestamp is due at its local time", "2026-07-10T10:00:00Z", "", "major hazard HZ1 (scaffolding) open, due 2026-07-10 18:00"},
		{"overdue by less than a day", "2026-07-10T10:00:00Z", "2026-07-11T09:00:00Z", "major hazard HZ1 (scaffolding) overdue (due 2026-07-10 18:00)"},
		{"overdue by one day", "2026-07-10T10:00:00Z", "2026-07-11T10:00:00Z", "major hazard HZ1 (scaffolding) overdue by 1 day (due 2026-07-10 18:00)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := siteTwin(t)
			mustApply(t, p, wagesPaid("2026-07-01T00:00:00Z", 3e6), hazardFound("2026-07-06T02:00:00Z", "HZ1", SeverityMajor, "scaffolding", tt.deadline))
			if tt.tick != "" {
				mustApply(t, p, tick(tt.tick))
			}
			if got := p.Alarms["hazard@HZ1"].Reason; got != tt.want {
				t.Fatalf("reason %q, want %q", got, tt.want)
			}
		})
	}
}

func TestApplyRejections(t *testing.T) {
	base := func(t *testing.T) *ProjectTwin {
		p := siteTwin(t)
		mustApply(t, p,
			hazardFound("2026-07-06T02:00:00Z", "HZ1", SeverityMajor, "scaffolding", "2026-07-10"),
			hazardFound("2026-07-06T02:01:00Z", "HZ2", SeverityGeneral, "housekeeping", "2026-07-10"),
			rectified("2026-07-07T02:00:00Z", "HZ2"),
			hazardFound("2026-07-06T02:02:00Z", "HZ3", SeverityGeneral, "fire", "2026-07-10"),
			hazardAccepted("2026-07-07T03:00:00Z", "HZ3"),
		)
		return p
	}
	tests := []struct {
		name string
		e    *Event
		want string // part of the error
	}{
		{"rectification of an unknown hazard", rectified("2026-07-08T02:00:00Z", "HZ9"), "HZ9 is not recorded"},
		{"rectification of a rectified hazard", rectified("2026-07-08T02:00:00Z", "HZ2"), "HZ2 is rectified, not open"},
		{"rectification of a closed hazard", rectified("2026-07-08T02:00:00Z", "HZ3"), "HZ3 is closed, not open"},
		{"acceptance of an unknown hazard", hazardAccepted("2026-07-08T02:00:00Z", "HZ9"), "HZ9 is not recorded"},
		{"acceptance of a closed hazard", hazardAccepted("2026-07-08T02:00:00Z", "HZ3"), "already closed"},
		{"inspection of an unknown hazard", inspected("2026-07-08T02:00:00Z", "HZ9", "pass", ""), "HZ9 is not recorded"},
		{"inspection of a closed hazard", inspected("2026-07-08T02:00:00Z", "HZ3", "fail", "2026-07-20"), "already closed"},
		{"a hazard id found again", hazardFound("2026-07-08T02:00:00Z", "HZ1", SeverityCritical, "scaffolding", "2026-07-10"), "already recorded"},
		{"an event of another project", func() *Event { e := tick("2026-07-08T02:00:00Z"); e.Project = "P2"; return e }(), `project "P2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base(t)
			before := twinJSON(t, p)
			e := wire(t, tt.e)
			eff, err := Apply(p, e, pack())
			if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Apply: %v, want ErrRejected mentioning %q", err, tt.want)
			}
			if eff.Duplicate || len(eff.Alerts)+len(eff.Audit)+len(eff.Outbound) != 0 {
				t.Fatalf("effects of a rejected event %+v", eff)
			}
			if after := twinJSON(t, p); !bytes.Equal(before, after) {
				t.Fatalf("a rejected event changed the twin:\n%s\n%s", before, after)
			}
		})
	}
	t.Run("a rejected event is not remembered", func(t *testing.T) {
		p := base(t)
		e := rectified("2026-07-08T02:00:00Z", "HZ4")
		if _, err := Apply(p, wire(t, e), pack()); !errors.Is(err, ErrRejected) {
			t.Fatal(err)
		}
		mustApply(t, p, hazardFound("2026-07-08T01:00:00Z", "HZ4", SeverityGeneral, "fire", "2026-07-10"))
		if eff := applyOne(t, p, e); eff.Duplicate || p.Hazards["HZ4"].Status != StatusRectified {
			t.Fatalf("redelivered rectification: %+v", eff)
		}
	})
}

// paidOnTime is a project whose wages have been paid within every cycle
// since its planned start (1 March 2026), so its credit starts full.
func paidOnTime(t *testing.T) *ProjectTwin {
	t.Helper()
	p := projectTwin(t)
	for _, d := range []string{"2026-03-25", "2026-04-24", "2026-05-24", "2026-06-23"} {
		mustApply(t, p, wagesPaid(d+"T00:00:00Z", 3_860_000))
	}
	return p
}

func TestApplyCreditCappedAtInitial(t *testing.T) {
	p := paidOnTime(t)
	eff := applyOne(t, p, milestoneAccepted("2026-06-05T01:00:00Z", "M1"))
	if p.Credit.Score != 100 || len(p.Credit.Changes) != 1 || p.Credit.Changes[0].Delta != 0.5 || len(eff.Audit) != 1 {
		t.Fatalf("credit %+v after an acceptance at full score", p.Credit)
	}
}

func TestApplyCreditAndAcceptance(t *testing.T) {
	p := paidOnTime(t)
	mustApply(t, p, wagesPaid("2026-07-01T00:00:00Z", 3e6), planned("2026-02-26T01:00:00Z", ms("A", 100, 0.5), ms("B", 100, 0.5, "A")))
	var effs []Effects
	for i, id := range []string{"HZ1", "HZ2", "HZ3", "HZ4"} {
		effs = append(effs, mustApply(t, p, hazardFound(ts("2026-07-06T02:00:00Z").Add(time.Duration(i)*time.Minute).Format(time.RFC3339), id, SeverityCritical, "formwork", "2026-07-20"))...)
	}
	// 100 - 4 x 6 = 76 < 80.
	if p.Credit.Score != 76 || projectAlarm(p, "credit") != LevelWarn || p.Alarms["credit"].Reason != "contractor credit 76.0 < 80.0" {
		t.Fatalf("credit %v alarm %+v", p.Credit.Score, p.Alarms["credit"])
	}
	if keyAlerts(allAlerts(effs), "credit") != "credit raised warn" {
		t.Fatalf("alerts %q", alertSummary(allAlerts(effs)))
	}
	// Each acceptance credits 0.5 and is audited; the score holds amber until above 82.
	for i := range 10 {
		eff := applyOne(t, p, milestoneAccepted(ts("2026-07-07T02:00:00Z").Add(time.Duration(i)*time.Hour).Format(time.RFC3339), []string{"A", "B"}[i%2]))
		if len(eff.Audit) != 1 || eff.Audit[0].Action != AuditAcceptance {
			t.Fatalf("acceptance audit %+v", eff.Audit)
		}
	}
	// Only the first acceptance of each milestone credits.
	if p.Credit.Score != 77 || p.Alarms["credit"].Reason != "contractor credit 77.0 < 80.0" {
		t.Fatalf("credit %v %+v", p.Credit.Score, p.Alarms["credit"])
	}
	last := p.Credit.Changes[len(p.Credit.Changes)-1]
	if last.Delta != 0.5 || last.Reason != "milestone B accepted" {
		t.Fatalf("credit change %+v", last)
	}
	if m := p.milestone("A"); m.Percent != 100 || m.Completed.IsZero() || !m.Accepted.Equal(ts("2026-07-07T02:00:00Z")) {
		t.Fatalf("milestone A %+v", m)
	}
}

func TestApplyRainstorm(t *testing.T) {
	tests := []struct {
		name   string
		events []*Event
		want   Level
		alerts string
		reason string
	}{
		{"yellow: amber", one(rain("2026-06-12T07:20:00Z", RainYellow, "", "")), LevelWarn, "rainstorm raised warn", "yellow rainstorm signal in effect"},
		{"red for Nanshan: red", one(rain("2026-06-12T07:20:00Z", RainRed, "", "Nanshan")), LevelStop, "rainstorm raised stop", "red rainstorm signal in effect"},
		{"red for Futian does not concern Nanshan", one(rain("2026-06-12T07:20:00Z", RainRed, "", "Futian")), LevelOK, "", ""},
		{"orange after red eases", []*Event{rain("2026-06-12T07:20:00Z", RainRed, "", ""), rain("2026-06-12T09:20:00Z", RainOrange, "", "")}, LevelWarn,
			"rainstorm raised stop; rainstorm eased warn", "orange rainstorm signal in effect"},
		{"cancelled", []*Event{rain("2026-06-12T07:20:00Z", RainRed, "", ""), rain("2026-06-12T09:20:00Z", RainCancelled, "", "")}, LevelOK,
			"rainstorm raised stop; rainstorm cleared ok", ""},
		{"in force until valid_until", []*Event{rain("2026-06-12T07:20:00Z", RainOrange, "2026-06-12T13:00:00Z", ""), tick("2026-06-12T12:59:00Z")}, LevelWarn, "rainstorm raised warn", ""},
		{"expires at valid_until", []*Event{rain("2026-06-12T07:20:00Z", RainOrange, "2026-06-12T13:00:00Z", ""), tick("2026-06-12T13:00:00Z")}, LevelOK,
			"rainstorm raised warn; rainstorm cleared ok", ""},
		{"valid until a date: to its local end", []*Event{rain("2026-06-12T07:20:00Z", RainRed, "2026-06-12", ""), tick("2026-06-12T15:59:00Z"), tick("2026-06-12T16:00:00Z")}, LevelOK,
			"rainstorm raised stop; rainstorm cleared ok", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := siteTwin(t)
			got := keyAlerts(allAlerts(mustApply(t, p, tt.events...)), "rainstorm")
			if got != tt.alerts {
				t.Errorf("alerts %q, want %q", got, tt.alerts)
			}
			if lvl := projectAlarm(p, "rainstorm"); lvl != tt.want {
				t.Fatalf("rainstorm %v, want %v", lvl, tt.want)
			}
			if tt.reason != "" && p.Alarms["rainstorm"].Reason != tt.reason {
				t.Fatalf("reason %q", p.Alarms["rainstorm"].Reason)
			}
			if tt.want == LevelOK && p.Weather.Rainstorm != "" && got != "" {
				t.Fatalf("weather %+v", p.Weather)
			}
		})
	}
}

func TestApplyTyphoon(t *testing.T) {
	// Wutip's track runs from the South China Sea over the Pearl River
	// estuary, within 40 km of S1 (22.53 N, 113.90 E); Koinu stays east of
	// Luzon, more than 1200 km away.
	wutip := func(when string) *Event {
		return typhoon(when, "Wutip", "2026-08-14T00:00:00Z", 19.8, 117.9, 20.7, 116.6, 21.6, 115.3, 22.4, 114.2, 23.3, 113.1)
	}
	koinu := typhoon("2026-08-14T00:30:00Z", "Koinu", "2026-08-14T00:00:00Z", 14.0, 126.0, 15.0, 125.0)
	tests := []struct {
		name   string
		events []*Event
		want   Level
		alerts string
		check  func(t *testing.T, w Weather)
	}{
		{name: "within 500 km: amber with the closest approach", events: one(wutip("2026-08-14T00:30:00Z")), want: LevelWarn, alerts: "typhoon raised warn",
			check: func(t *testing.T, w Weather) {
				if w.Typhoon != "Wutip" || w.TyphoonSite != testSite || w.TyphoonMinKm > 40 || w.TyphoonAt.Before(ts("2026-08-14T18:00:00Z")) || w.TyphoonAt.After(ts("2026-08-15T00:00:00Z")) {
					t.Fatalf("weather %+v", w)
				}
				if !w.TyphoonUntil.Equal(ts("2026-08-15T12:00:00Z")) {
					t.Fatalf("until %v", w.TyphoonUntil)
				}
			}},
		{name: "more than 500 km away: no alarm", events: one(koinu), want: LevelOK,
			check: func(t *testing.T, w Weather) {
				if w.Typhoon != "Koinu" || w.TyphoonMinKm < 1200 {
					t.Fatalf("weather %+v", w)
				}
			}},
		{name: "ends 12 h after the last track point", events: []*Event{wutip("2026-08-14T00:30:00Z"), tick("2026-08-15T11:59:00Z"), tick("2026-08-15T12:00:00Z")}, want: LevelOK,
			alerts: "typhoon raised warn; typhoon cleared ok",
			check: func(t *testing.T, w Weather) {
				if w.Typhoon != "" || w.Advisory != nil {
					t.Fatalf("weather %+v", w)
				}
			}},
		{name: "a new advisory moves the track away", events: []*Event{wutip("2026-08-14T00:30:00Z"),
			typhoon("2026-08-14T06:30:00Z", "Wutip", "2026-08-14T06:00:00Z", 18.0, 119.0, 18.5, 121.0)}, want: LevelOK,
			alerts: "typhoon raised warn; typhoon cleared ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := siteTwin(t)
			mustApply(t, p, wagesPaid("2026-08-01T00:00:00Z", 3e6))
			got := keyAlerts(allAlerts(mustApply(t, p, tt.events...)), "typhoon")
			if got != tt.alerts {
				t.Errorf("alerts %q, want %q", got, tt.alerts)
			}
			if lvl := projectAlarm(p, "typhoon"); lvl != tt.want {
				t.Fatalf("typhoon %v, want %v (%+v)", lvl, tt.want, p.Weather)
			}
			if tt.want != LevelOK && !strings.HasPrefix(p.Alarms["typhoon"].Reason, "typhoon Wutip passes ") {
				t.Fatalf("reason %q", p.Alarms["typhoon"].Reason)
			}
			if tt.check != nil {
				tt.check(t, p.Weather)
			}
			twinJSON(t, p)
		})
	}
	t.Run("advisory before any site", func(t *testing.T) {
		p := NewProject(testProject, pack())
		mustApply(t, p, registered("2026-02-20T01:00:00Z"), wagesPaid("2026-08-01T00:00:00Z", 3e6), wutip("2026-08-14T00:30:00Z"))
		if projectAlarm(p, "typhoon") != LevelOK {
			t.Fatal("typhoon alarm without a site")
		}
		eff := applyOne(t, p, siteAdded("2026-08-14T01:00:00Z", testSite, "C"))
		if keyAlerts(eff.Alerts, "typhoon") != "typhoon raised warn" || p.Weather.TyphoonSite != testSite {
			t.Fatalf("after the site: %+v", p.Weather)
		}
	})
}

func TestApplyCityWideEvents(t *testing.T) {
	// One city-wide event reaches every registered twin; each twin
	// de-duplicates it on its own.
	e := rain("2026-06-12T07:20:00Z", RainRed, "", "")
	p1 := siteTwin(t)
	p2 := NewProject("P2", pack())
	reg2 := registered("2026-02-21T01:00:00Z")
	reg2.Project = "P2"
	mustApply(t, p2, reg2)
	for _, p := range []*ProjectTwin{p1, p2} {
		eff := applyOne(t, p, e)
		if len(eff.Alerts) == 0 || eff.Alerts[0].Project != p.ID || eff.Alerts[0].ID != p.ID+"#"+strconv.FormatInt(p.AlertSeq-int64(len(eff.Alerts))+1, 10) {
			t.Fatalf("%s: alerts %+v", p.ID, eff.Alerts)
		}
		if again := applyOne(t, p, e); !again.Duplicate {
			t.Fatalf("%s: city-wide event applied twice", p.ID)
		}
	}
	if p2.Health != Red {
		t.Fatalf("P2 %s", p2.Health)
	}
	// A runtime delivers city-wide events only to the twins it keeps; a
	// twin never registered rejects one, and takes it once registered.
	p3 := NewProject("P3", pack())
	mustReject(t, p3, wire(t, e), "city-wide rainfall.warning applied to project P3, which is not registered (deliver city-wide events only to registered twins)")
	reg3 := registered("2026-02-22T01:00:00Z")
	reg3.Project = "P3"
	mustApply(t, p3, reg3)
	if eff := applyOne(t, p3, e); eff.Duplicate || p3.Health != Red {
		t.Fatalf("P3 after registration: %+v, %s", eff, p3.Health)
	}
}

// TestApplyExamples applies the README's example of every event type
// (testdata/events), in the order a project lives them, to one twin.
func TestApplyExamples(t *testing.T) {
	order := []string{
		TypeProjectRegistered, TypeSiteAdded, TypePlanBaselined, TypeEquipmentInstalled,
		TypeSensorReading, TypeProgressReported, TypeWageAccountDeposited, TypeHazardFound,
		TypeHazardRectified, TypeMilestoneCompleted, TypeInspectionCompleted, TypeIncidentReported, TypeWagesPaid,
		TypeAcceptancePassed, TypeFundsDisbursed, TypeChangeOrderApproved, TypeRainfallWarning, TypeTyphoonAdvisory,
		TypeAttendanceReported, TypeFilingAccepted, TypeFilingStatusChanged, TypeFilingRejected,
		TypeDisbursementAccepted, TypeDisbursementRejected,
	}
	// The twin held M1's disbursement (a hazard is open, sites are in
	// alarm) and released none: the fund platform's answers name requests
	// it never made, and are rejected.
	unasked := map[string]bool{TypeDisbursementAccepted: true, TypeDisbursementRejected: true}
	if len(order) != len(Types()) {
		t.Fatalf("the order lists %d of %d types", len(order), len(Types()))
	}
	p := NewProject("NS-2026-0142", pack())
	var effs []Effects
	for _, typ := range order {
		b, err := os.ReadFile(filepath.Join("testdata", "events", typ+".json"))
		if err != nil {
			t.Fatal(err)
		}
		e, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		eff, err := Apply(p, e, pack())
		if unasked[typ] {
			if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "released no disbursement") {
				t.Fatalf("%s: %v, want a rejection", typ, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		effs = append(effs, eff)
	}
	if m := p.milestone("M1-foundation"); m.Decision.Outcome != DecisionHold || len(m.Decision.Reasons) == 0 {
		t.Fatalf("M1 decision %+v", m.Decision)
	}
	if f := p.filing(FilingStart); f == nil || f.Status != FilingReturned || f.Stage != "city_review" || p.Alarms["filing@start"] == nil {
		t.Fatalf("start filing %+v", f)
	}
	h := p.Hazards["HZ-0142-017"]
	if p.Applied != int64(len(order)-len(unasked)) || !p.Registered || h.Status != StatusOpen || h.Reopened != 1 || h.Notice != "NS-2026-0142/HZ-0142-017/notice-2" {
		t.Fatalf("applied %d, hazard %+v", p.Applied, h)
	}
	if m := p.milestone("M1-foundation"); m.Accepted.IsZero() || m.DisbursedCNY != 172_400_000 {
		t.Fatalf("M1 %+v", m)
	}
	if p.Weather.Typhoon != "Wutip" || p.Weather.TyphoonSite != "NS-2026-0142-S1" || len(p.Audit) != 5 || VerifyChain(p.ID, p.Audit) != nil {
		t.Fatalf("weather %+v, audit %d", p.Weather, len(p.Audit))
	}
	if n := p.OpenAlarms(); n != len(p.View().Alarms) || n == 0 {
		t.Fatalf("open alarms %d, view %d", n, len(p.View().Alarms))
	}
	twinJSON(t, p)
}

func TestApplyInspectionWithoutHazard(t *testing.T) {
	p := siteTwin(t)
	before := p.Hazards
	eff := applyOne(t, p, mkEvent("insp-routine", TypeInspectionCompleted, "2026-06-12T02:00:00Z", testSite, &InspectionCompleted{Inspection: "IN-9", Result: "pass", Findings: 0}))
	if len(eff.Alerts)+len(eff.Audit)+len(eff.Outbound) != 0 || len(before) != 0 || p.Applied != 4 {
		t.Fatalf("a routine inspection had effects %+v", eff)
	}
}

func TestValidationErrorText(t *testing.T) {
	_, err := decodeData(TypeProgressReported, `{"milestone":"M1","percent_complete":120}`)
	if err == nil || err.Error() != "data.percent_complete: must be between 0 and 100" {
		t.Fatalf("error text %q", err)
	}
}
