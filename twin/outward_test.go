package twin

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func outboundOf(effs []Effects, kind string) []Outbound {
	var out []Outbound
	for _, e := range effs {
		for _, o := range e.Outbound {
			if o.Kind == kind {
				out = append(out, o)
			}
		}
	}
	return out
}

func attendance(when, period string, workerDays float64) *Event {
	return mkEvent("att-"+period+"-"+when, TypeAttendanceReported, when, "", &AttendanceReported{Period: period, WorkerDays: workerDays})
}

// TestDisbursementDecisions walks a milestone through the decision: held
// while a hazard in its scope is open and then awaiting re-inspection,
// released once closed (one request, with a key derived from the
// decision), paid once whatever answers come twice; and a wage arrears
// warning holds the next milestone.
func TestDisbursementDecisions(t *testing.T) {
	p := NewProject(testProject, pack())
	reg := registered("2026-02-20T01:00:00Z")
	reg.Data.(*ProjectRegistered).PermitNumber = "440305202602200101"
	effs := mustApply(t, p, reg, siteAdded("2026-02-20T02:00:00Z", testSite, "C"),
		planned("2026-02-26T01:00:00Z", ms("M1", 120, 0.25), ms("M2", 230, 0.75, "M1")),
		deposited("2026-03-01T02:00:00Z", 5e6))
	if fs := outboundOf(effs, OutboundFiling); len(fs) != 1 || fs[0].Key != "P1/filing/registration/1" || fs[0].Fields["permit_number"] != "440305202602200101" || fs[0].Fields["filing_kind"] != FilingRegistration {
		t.Fatalf("registration filing %+v", fs)
	}
	effs = mustApply(t, p, progress("2026-03-20T09:00:00Z", "M1", 10), progress("2026-03-27T09:00:00Z", "M1", 20))
	if fs := outboundOf(effs, OutboundFiling); len(fs) != 1 || fs[0].Key != "P1/filing/start/1" {
		t.Fatalf("start filing %+v", fs)
	}
	hz := hazardFound("2026-03-30T02:00:00Z", "HZ-1", SeverityMajor, "scaffolding", "2026-07-20")
	hz.Data.(*HazardFound).Milestone = "M1"
	effs = mustApply(t, p, wagesPaid("2026-03-31T04:00:00Z", 3e6), hz,
		completed("2026-06-28T09:00:00Z", "M1"), wagesPaid("2026-06-28T10:00:00Z", 1e6), milestoneAccepted("2026-07-01T03:00:00Z", "M1"))
	m := p.milestone("M1")
	if len(outboundOf(effs, OutboundDisbursement)) != 0 || m.Decision.Outcome != DecisionHold || !hasReason(m.Decision.Reasons, "major hazard HZ-1 open") {
		t.Fatalf("M1 with an open hazard: %+v", m.Decision)
	}
	mustApply(t, p, rectified("2026-07-02T03:00:00Z", "HZ-1"))
	if !hasReason(m.Decision.Reasons, "major hazard HZ-1 awaiting re-inspection") || m.Decision.ID != "P1/M1/d1" {
		t.Fatalf("M1 rectified: %+v", m.Decision)
	}
	effs = mustApply(t, p, hazardAccepted("2026-07-03T03:00:00Z", "HZ-1"))
	out := outboundOf(effs, OutboundDisbursement)
	want := disbursementKey("P1", "M1", 215_000_000, "P1/M1/d2")
	if len(out) != 1 || out[0].Key != want || out[0].Fields["amount_cny"] != "215000000.00" || out[0].Fields["decision"] != "P1/M1/d2" || out[0].Drill != "" {
		t.Fatalf("release: %+v (want key %s)", out, want)
	}
	if m.Decision.Status != DisbursementRequested || p.Audit[len(p.Audit)-1].Action != AuditDecision {
		t.Fatalf("M1 released: %+v", m.Decision)
	}
	// later events re-evaluate the project: no second request
	effs = mustApply(t, p, tick("2026-07-03T05:00:00Z"), progress("2026-07-04T09:00:00Z", "M2", 5))
	if n := len(outboundOf(effs, OutboundDisbursement)); n != 0 {
		t.Fatalf("%d more requests", n)
	}
	clock := p.Clock
	paid := &DisbursementAnswer{Request: want, Decision: "P1/M1/d2", Milestone: "M1", AmountCNY: 215_000_000, Receipt: "FR-1"}
	mustApply(t, p, mkEvent("ans-1", TypeDisbursementAccepted, "2026-09-01T00:00:00Z", "", paid))
	// the same answer under another id (a platform's retry) pays nothing more
	mustApply(t, p, mkEvent("ans-1b", TypeDisbursementAccepted, "2026-09-01T00:00:01Z", "", paid))
	if m.Decision.Status != DisbursementPaid || m.Decision.Receipt != "FR-1" || m.DisbursedCNY != 215_000_000 || p.Funds.DisbursedCNY != 215_000_000 || !p.Clock.Equal(clock) {
		t.Fatalf("paid: %+v, disbursed %v, clock %s (was %s)", m.Decision, p.Funds.DisbursedCNY, p.Clock, clock)
	}
	mustReject(t, p, mkEvent("ans-2", TypeDisbursementAccepted, "2026-09-01T00:00:00Z", "", &DisbursementAnswer{Request: "disb-x", Decision: "d", Milestone: "M1", AmountCNY: 1, Receipt: "r"}),
		"project P1 released no disbursement disb-x on milestone M1")

	// wages: July's attendance expects 2000 worker-days x 350 = 700,000;
	// nothing is paid for July by its due date: arrears warning
	mustApply(t, p, attendance("2026-08-01T01:00:00Z", "2026-07", 2000), wagesPaid("2026-08-05T04:00:00Z", 1e5))
	if projectAlarm(p, "wage_account") != LevelOK {
		t.Fatalf("arrears before the pay cycle passed: %+v", p.Funds)
	}
	mustApply(t, p, completed("2026-09-02T09:00:00Z", "M2"), milestoneAccepted("2026-09-03T03:00:00Z", "M2"))
	m2 := p.milestone("M2")
	if projectAlarm(p, "wage_account") != LevelWarn || p.Funds.ArrearsCNY != 700_000 || m2.Decision.Outcome != DecisionHold ||
		!strings.Contains(strings.Join(m2.Decision.Reasons, "|"), "wage arrears warning: ") {
		t.Fatalf("arrears: funds %+v, M2 %+v, reasons %v", p.Funds, m2.Decision, p.Reasons)
	}
	// July paid in full: the warning clears and M2 is released, as a drill
	pay := wagesPaid("2026-09-04T04:00:00Z", 7e5)
	pay.Data.(*Payment).Period = "2026-07"
	pay.Drill = "typhoon-2026"
	effs = mustApply(t, p, pay)
	if out := outboundOf(effs, OutboundDisbursement); len(out) != 1 || out[0].Drill != "typhoon-2026" || m2.Decision.ID != "P1/M2/d2" {
		t.Fatalf("M2: %+v %+v (arrears %q)", out, m2.Decision, p.Funds.ArrearsWarning)
	}
	mustApply(t, p, mkEvent("ans-3", TypeDisbursementRejected, "2026-09-05T00:00:00Z", "", &DisbursementAnswer{Request: m2.Decision.Key, Decision: m2.Decision.ID, Milestone: "M2", AmountCNY: m2.Decision.AmountCNY, Reason: "gave up after 8 attempts: 503", Code: CodeUndelivered}))
	if m2.Decision.Status != DisbursementFailed || projectAlarm(p, "disbursement@M2") != LevelWarn {
		t.Fatalf("undelivered: %+v", m2.Decision)
	}
	// completion: every milestone completed and accepted
	if f := p.filing(FilingCompletion); f == nil || f.Status != FilingRequested {
		t.Fatalf("completion filing %+v", p.Filings)
	}
	twinJSON(t, p)
}

// TestFilingAnswers: the platform's answers move a filing through review,
// in whatever order they arrive; a returned filing raises an alarm.
func TestFilingAnswers(t *testing.T) {
	p := NewProject(testProject, pack())
	mustApply(t, p, registered("2026-02-20T01:00:00Z"))
	key := "P1/filing/registration/1"
	status := func(id, when, stage, st string, reasons ...string) *Event {
		return mkEvent(id, TypeFilingStatusChanged, when, "", &FilingStatusChanged{Request: key, Kind: FilingRegistration, Filing: "FIL-7", Stage: stage, Status: st, Reasons: reasons})
	}
	// the city stage arrives before the platform's receipt
	mustApply(t, p, status("s2", "2026-02-20T03:00:00Z", "city_review", FilingInReview),
		mkEvent("acc", TypeFilingAccepted, "2026-02-20T01:00:05Z", "", &FilingAnswer{Request: key, Kind: FilingRegistration, Filing: "FIL-7", Receipt: "R-7", Stage: "district_preliminary"}),
		status("s1", "2026-02-20T01:00:05Z", "district_preliminary", FilingInReview))
	f := p.filing(FilingRegistration)
	if f.Stage != "city_review" || f.Receipt != "R-7" || f.ID != "FIL-7" || f.Status != FilingInReview {
		t.Fatalf("filing %+v", f)
	}
	// the history is in platform time whatever the arrival order; the
	// receipt's stage and the district step are one step
	steps := func() string {
		var b strings.Builder
		for _, s := range f.History {
			fmt.Fprintf(&b, "%s/%s@%s ", s.Stage, s.Status, s.Time.Format("02T15:04:05"))
		}
		return b.String()
	}
	if got, want := steps(), "district_preliminary/in_review@20T01:00:05 city_review/in_review@20T03:00:00 "; got != want {
		t.Fatalf("history %q, want %q", got, want)
	}
	view := p.View()
	mustApply(t, p, status("s3", "2026-02-21T03:00:00Z", "expert_review", FilingReturned, "tower crane foundation calculation missing"))
	if got, want := steps(), "district_preliminary/in_review@20T01:00:05 city_review/in_review@20T03:00:00 expert_review/returned@21T03:00:00 "; got != want {
		t.Fatalf("history %q, want %q", got, want)
	}
	if n := len(view.Filings[0].History); n != 2 {
		t.Fatalf("an earlier view's history changed: %d steps", n)
	}
	if f.Status != FilingReturned || projectAlarm(p, "filing@registration") != LevelWarn || !hasReason(p.Reasons, "registration filing returned at expert_review: tower crane foundation calculation missing") {
		t.Fatalf("returned: %+v %v", f, p.Reasons)
	}
	mustReject(t, p, mkEvent("x", TypeFilingAccepted, "2026-02-20T01:00:05Z", "", &FilingAnswer{Request: "other", Kind: FilingRegistration, Filing: "F"}),
		"project P1 made no registration filing request other")
	if p.View().Filings[0].Status != FilingReturned {
		t.Fatal("view has no filings")
	}
}

func TestOutwardValidation(t *testing.T) {
	for _, tc := range []struct {
		name, typ, data, field string
	}{
		{"attendance ok", TypeAttendanceReported, `{"period":"2026-06","worker_days":100}`, ""},
		{"attendance bad period", TypeAttendanceReported, `{"period":"June","worker_days":100}`, "data.period"},
		{"attendance negative", TypeAttendanceReported, `{"period":"2026-06","worker_days":-1}`, "data.worker_days"},
		{"accepted without filing", TypeFilingAccepted, `{"request":"k","filing_kind":"start"}`, "data.filing"},
		{"rejected without reason", TypeFilingRejected, `{"request":"k","filing_kind":"start"}`, "data.reason"},
		{"bad kind", TypeFilingRejected, `{"request":"k","filing_kind":"demolition","reason":"r"}`, "data.filing_kind"},
		{"returned without reasons", TypeFilingStatusChanged, `{"request":"k","filing_kind":"start","filing":"F","stage":"city_review","status":"returned"}`, "data.reasons"},
		{"unknown stage", TypeFilingStatusChanged, `{"request":"k","filing_kind":"start","filing":"F","stage":"mayor","status":"in_review"}`, "data.stage"},
		{"paid without receipt", TypeDisbursementAccepted, `{"request":"k","decision":"d","milestone":"M1","amount_cny":5}`, "data.receipt"},
		{"paid nothing", TypeDisbursementAccepted, `{"request":"k","decision":"d","milestone":"M1","amount_cny":0,"receipt":"r"}`, "data.amount_cny"},
		{"refused without reason", TypeDisbursementRejected, `{"request":"k","decision":"d","milestone":"M1","amount_cny":5}`, "data.reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeData(tc.typ, tc.data)
			if got := validationField(err); got != tc.field {
				t.Fatalf("field %q, want %q (%v)", got, tc.field, err)
			}
		})
	}
}

// TestMonthStart checks monthStart against time.ParseInLocation.
func TestMonthStart(t *testing.T) {
	loc := pack().loc
	for _, s := range []string{"2026-01", "2026-12", "0000-01", "9999-09", "2026-00", "2026-13", "2026-1", "2026_01", "20a6-01", "2026-01 ", "", "-026-01", "+026-01", "2026--1"} {
		want, err := time.ParseInLocation("2006-01", s, loc)
		got, ok := monthStart(s, loc)
		if ok != (err == nil) || ok && !got.Equal(want) {
			t.Errorf("monthStart(%q) = %v, %v; ParseInLocation %v, %v", s, got, ok, want, err)
		}
	}
}
