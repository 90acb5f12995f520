package twin

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The outward loop: the twin decides, outside platforms act. Filings are
// requested on registration, at the start of works and on completion;
// disbursements are released on a milestone only when the rule pack's
// conditions hold, and held with reasons otherwise; the platforms' answers
// come back as events. Every request is an Outbound with an idempotency
// key derived from the decision, so a retried request never acts twice.

// AuditDecision is the audit action of a disbursement released by the twin.
const AuditDecision = "disbursement_decision"

// Decision outcomes and the statuses of a released disbursement.
const (
	DecisionRelease = "release"
	DecisionHold    = "hold"

	DisbursementHeld      = "held"      // conditions not met; Reasons say which
	DisbursementRequested = "requested" // released: the request is in the outbox
	DisbursementPaid      = "paid"      // the fund platform paid (Receipt)
	DisbursementRejected  = "rejected"  // the fund platform refused (Answer)
	DisbursementFailed    = "failed"    // could not be delivered; outcome unknown (Answer)
)

// Decision is the twin's latest disbursement decision on a milestone, with
// its reasons and, once released, what the fund platform answered.
type Decision struct {
	ID        string    `json:"id"`      // project/milestone/dN
	Outcome   string    `json:"outcome"` // release or hold
	Reasons   []string  `json:"reasons"` // why held; for a release, what was checked
	AmountCNY float64   `json:"amount_cny"`
	Key       string    `json:"key,omitempty"` // idempotency key of the request (release)
	Time      time.Time `json:"time"`
	Event     string    `json:"event"` // the event that led to it
	Status    string    `json:"status"`
	Receipt   string    `json:"receipt,omitempty"`
	Answer    string    `json:"answer,omitempty"` // the platform's reason for a refusal
}

// Filing is one filing the twin requested and what the filing platform
// has said about it since.
type Filing struct {
	Kind      string    `json:"kind"`    // registration, start, completion
	Request   string    `json:"request"` // idempotency key of the request
	Requested time.Time `json:"requested"`
	Status    string    `json:"status"`
	Stage     string    `json:"stage,omitempty"`
	ID        string    `json:"filing,omitempty"` // the platform's filing id
	Receipt   string    `json:"receipt,omitempty"`
	Reasons   []string  `json:"reasons,omitempty"`
	Existing  string    `json:"existing,omitempty"` // the filing a duplicate registration duplicates
	Updated   time.Time `json:"updated,omitzero"`   // platform time of the latest status
	// History is every step the platform reported (its receipt's stage,
	// each review step, a refusal), in platform time, oldest first; the
	// request itself is Requested. A step reported twice is kept once, at
	// its earliest time; at most 32 are kept.
	History []FilingStep `json:"history,omitempty"`
}

// FilingStep is one step of a filing's review: the stage it entered
// (district_preliminary, city_review, expert_review, done; empty for a
// refusal) and the status it had there, at the platform's time.
type FilingStep struct {
	Stage  string    `json:"stage,omitempty"`
	Status string    `json:"status"`
	Time   time.Time `json:"time"`
}

const maxFilingSteps = 32

// record adds a step to the filing's history in time order (the list is
// replaced, never changed in place: views share it).
func (f *Filing) record(stage, status string, at time.Time) {
	h := slices.Clone(f.History)
	if i := slices.IndexFunc(h, func(s FilingStep) bool { return s.Stage == stage && s.Status == status }); i >= 0 {
		if !at.Before(h[i].Time) {
			return
		}
		h = slices.Delete(h, i, i+1)
	}
	i, _ := slices.BinarySearchFunc(h, at, func(s FilingStep, t time.Time) int {
		if s.Time.After(t) {
			return 1
		}
		return -1 // equal times keep arrival order
	})
	h = slices.Insert(h, i, FilingStep{Stage: stage, Status: status, Time: at})
	if len(h) > maxFilingSteps {
		h = h[len(h)-maxFilingSteps:]
	}
	f.History = h
}

// WagePeriod reconciles one month's expected payroll (worker-days from
// attendance times the pack's day rate) with the wages paid for it.
type WagePeriod struct {
	Period      string  `json:"period"` // YYYY-MM
	WorkerDays  float64 `json:"worker_days"`
	Workers     int     `json:"workers,omitempty"`
	ExpectedCNY float64 `json:"expected_cny"`
	PaidCNY     float64 `json:"paid_cny"`
}

const maxWagePeriods = 36

// DisbursementRule says whether the twin decides disbursements: a
// milestone's share of the budget is released only when the milestone is
// completed, its acceptance passed, no hazard in its scope (naming it, or
// naming no milestone) is open or awaiting re-inspection, no site of the
// project is in alarm, and no wage arrears warning stands. A pack without
// the section (Decide false) decides none.
type DisbursementRule struct {
	Decide bool   `json:"decide"`
	Source string `json:"source"`
}

// filingKey is the idempotency key of a filing request.
func filingKey(project, kind string) string { return project + "/filing/" + kind + "/1" }

// disbursementKey is the idempotency key of a released disbursement: it
// derives from the project, milestone, amount and decision id alone, so
// the same decision always gives the same key.
func disbursementKey(project, milestone string, amount float64, decision string) string {
	h := sha256.Sum256([]byte(strings.Join([]string{project, milestone, strconv.FormatFloat(amount, 'f', 2, 64), decision}, "\x1f")))
	return "disb-" + hex.EncodeToString(h[:12])
}

func (p *ProjectTwin) filing(kind string) *Filing {
	for _, f := range p.Filings {
		if f.Kind == kind {
			return f
		}
	}
	return nil
}

// requestFiling puts a filing request in the outbox, once per kind.
func (a *applier) requestFiling(kind string) {
	p, e := a.p, a.e
	if p.filing(kind) != nil {
		return
	}
	f := &Filing{Kind: kind, Request: filingKey(p.ID, kind), Requested: e.Time, Status: FilingRequested}
	p.Filings = append(p.Filings, f)
	var sites []string
	for _, id := range sortedKeys(p.Sites) {
		if p.Sites[id].Registered {
			sites = append(sites, id)
		}
	}
	in := &p.Info
	a.eff.Outbound = append(a.eff.Outbound, Outbound{
		Key: f.Request, Kind: OutboundFiling, Project: p.ID, To: "filing-platform", Time: e.Time, Event: e.ID, Drill: e.Drill,
		Fields: map[string]string{
			"filing_kind": kind, "name": in.Name, "district": in.District, "address": in.Address,
			"permit_number": in.PermitNumber, "owner": in.Owner, "contractor": in.Contractor, "supervisor": in.Supervisor,
			"sites": strings.Join(sites, ","), "supervision_filing_number": in.SupervisionFilingNumber,
			"safety_filing_number": in.SafetyFilingNumber,
		},
	})
}

// checkAnswer rejects a platform's answer to a request the twin never made.
func (p *ProjectTwin) checkAnswer(e *Event) error {
	switch d := e.Data.(type) {
	case *FilingAnswer:
		if f := p.filing(d.Kind); f == nil || f.Request != d.Request {
			return reject("project %s made no %s filing request %s", p.ID, d.Kind, d.Request)
		}
	case *FilingStatusChanged:
		if f := p.filing(d.Kind); f == nil || f.Request != d.Request {
			return reject("project %s made no %s filing request %s", p.ID, d.Kind, d.Request)
		}
	case *DisbursementAnswer:
		for _, m := range p.Milestones {
			if m.ID == d.Milestone && m.Decision.Key == d.Request && m.Decision.Key != "" {
				return nil
			}
		}
		return reject("project %s released no disbursement %s on milestone %s", p.ID, d.Request, d.Milestone)
	}
	return nil
}

// answer applies a platform's answer.
func (a *applier) answer() {
	p, e := a.p, a.e
	switch d := e.Data.(type) {
	case *FilingAnswer:
		f := p.filing(d.Kind)
		if e.Type == TypeFilingRejected {
			f.Status, f.Reasons, f.Existing, f.Updated = FilingRejected, []string{d.Reason}, d.Existing, e.Time
			if d.Code == CodeUndelivered {
				f.Status = FilingFailed
			}
			f.record("", f.Status, e.Time)
			return
		}
		f.ID, f.Receipt = d.Filing, d.Receipt
		if d.Stage != "" {
			f.record(d.Stage, FilingInReview, e.Time)
		}
		if f.Status == FilingRequested || !e.Time.Before(f.Updated) && f.Status == FilingInReview {
			f.Status, f.Stage, f.Updated = FilingInReview, d.Stage, e.Time
		}
	case *FilingStatusChanged:
		f := p.filing(d.Kind)
		if f.ID == "" {
			f.ID = d.Filing
		}
		f.record(d.Stage, d.Status, e.Time)
		if e.Time.Before(f.Updated) || f.Status == FilingRejected || f.Status == FilingFailed {
			return // an older step than the one known
		}
		f.Status, f.Stage, f.Reasons, f.Updated = d.Status, d.Stage, slices.Clone(d.Reasons), e.Time
	case *DisbursementAnswer:
		m := p.milestone(d.Milestone)
		dec := m.Decision
		if dec.Status == DisbursementPaid {
			return // paid once; a later answer changes nothing
		}
		if e.Type == TypeDisbursementRejected {
			dec.Status, dec.Answer = DisbursementRejected, d.Reason
			if d.Code == CodeUndelivered {
				dec.Status = DisbursementFailed
			}
			m.Decision = dec
			return
		}
		dec.Status, dec.Receipt, dec.Answer = DisbursementPaid, d.Receipt, ""
		m.Decision = dec
		p.Funds.DisbursedCNY += d.AmountCNY
		m.DisbursedCNY += d.AmountCNY
		a.eff.Audit = append(a.eff.Audit, p.audit(e, AuditDisbursement, m.ID, d.AmountCNY))
	}
}

// attendance records a month's worker-days (a corrected report replaces it).
func (a *applier) attendance(d *AttendanceReported) {
	w := a.wagePeriod(d.Period)
	w.WorkerDays, w.Workers = d.WorkerDays, d.Workers
	w.ExpectedCNY = round6(d.WorkerDays * a.r.Wages.DayRateCNY)
}

// wagePeriod returns the reconciliation of a month, creating it (the list
// is replaced, never changed in place: views share it).
func (a *applier) wagePeriod(period string) *WagePeriod {
	f := &a.p.Funds
	f.WagePeriods = slices.Clone(f.WagePeriods)
	i, found := slices.BinarySearchFunc(f.WagePeriods, period, func(w WagePeriod, p string) int { return strings.Compare(w.Period, p) })
	if !found {
		f.WagePeriods = slices.Insert(f.WagePeriods, i, WagePeriod{Period: period})
		if n := len(f.WagePeriods); n > maxWagePeriods {
			f.WagePeriods = f.WagePeriods[n-maxWagePeriods:]
			i -= n - maxWagePeriods
			if i < 0 {
				return &WagePeriod{} // older than every period kept
			}
		}
	}
	return &f.WagePeriods[i]
}

// evaluateWageAccount reconciles expected payroll with the wages paid:
// a month paid short once its pay cycle has passed, or a wage account
// balance below the latest month's payroll, raises the wage_account
// alarm; with a pay cycle over a month (the wages alarm) it makes the
// arrears warning that holds disbursements.
func (a *applier) evaluateWageAccount() {
	p, r := a.p, a.r
	f := &p.Funds
	var reasons []string
	f.ArrearsCNY = 0
	if r.Wages.DayRateCNY > 0 {
		for _, w := range f.WagePeriods {
			start, ok := monthStart(w.Period, r.loc)
			if !ok || w.ExpectedCNY <= 0 {
				continue
			}
			due := start.AddDate(0, 1, 0).Add(time.Duration(r.Wages.MaxCycleDays * float64(day)))
			if p.Clock.Before(due) || w.PaidCNY >= w.ExpectedCNY*(1-r.Wages.ReconcileTolerance) {
				continue
			}
			f.ArrearsCNY += w.ExpectedCNY - w.PaidCNY
			reasons = append(reasons, fmt.Sprintf("wages for %s paid %s of %s expected (%s worker-days)", w.Period, cny(w.PaidCNY), cny(w.ExpectedCNY), num(w.WorkerDays)))
		}
		if n := len(f.WagePeriods); n > 0 && !p.workDone() {
			if next := f.WagePeriods[n-1].ExpectedCNY; next > 0 && f.WageBalanceCNY < next {
				reasons = append(reasons, fmt.Sprintf("wage account balance %s below a month's payroll %s", cny(f.WageBalanceCNY), cny(next)))
			}
		}
	}
	f.ArrearsCNY = round6(f.ArrearsCNY)
	lvl := LevelOK
	if len(reasons) > 0 {
		lvl = LevelWarn
	}
	reason := ""
	if lvl != LevelOK {
		reason = "wage account: " + strings.Join(reasons, "; ")
	}
	a.setAlarm(p.Alarms, "", "wage_account", nil, "", lvl, f.ArrearsCNY, 0, "CNY", reason)
	if f.ArrearsDays > 0 {
		reasons = append([]string{"wage payment cycle over a month (" + days(f.ArrearsDays) + " overdue)"}, reasons...)
	}
	f.ArrearsWarning = strings.Join(reasons, "; ")
}

// monthStart reads a "2006-01" month as time.ParseInLocation does, without
// its cost (it runs for every wage period at every evaluation).
func monthStart(period string, loc *time.Location) (time.Time, bool) {
	if len(period) != 7 || period[4] != '-' {
		return time.Time{}, false
	}
	n := 0
	for i, c := range []byte(period) {
		if i == 4 {
			continue
		}
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		n = n*10 + int(c-'0')
	}
	year, month := n/100, n%100
	if month < 1 || month > 12 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), 1, 0, 0, 0, 0, loc), true
}

// holdReasons says why a milestone's disbursement cannot be released now
// (none: it can).
func (a *applier) holdReasons(m *Milestone) []string {
	p := a.p
	var rs []string
	for _, id := range sortedKeys(p.Hazards) {
		h := p.Hazards[id]
		if h.Status == StatusClosed || h.Milestone != "" && h.Milestone != m.ID {
			continue
		}
		rs = append(rs, fmt.Sprintf("%s hazard %s %s", h.Severity, h.ID, map[string]string{StatusOpen: "open", StatusRectified: "awaiting re-inspection"}[h.Status]))
	}
	for _, id := range sortedKeys(p.Sites) {
		if al := p.Sites[id].Alarms; len(al) > 0 {
			rs = append(rs, fmt.Sprintf("site %s in alarm (%s)", id, strings.Join(sortedKeys(al), ", ")))
		}
	}
	if w := p.Funds.ArrearsWarning; w != "" {
		rs = append(rs, "wage arrears warning: "+w)
	}
	return rs
}

// decideDisbursements decides, for every milestone completed and accepted
// whose share of the budget is not disbursed, to release it or to hold it
// with reasons. A release emits the request to the fund platform; a hold
// is re-decided whenever the project rules are evaluated.
func (a *applier) decideDisbursements() {
	p, e, r := a.p, a.e, a.r
	if !r.Disbursement.Decide {
		return
	}
	for _, m := range p.Milestones {
		if !m.Baselined || m.Completed.IsZero() || m.Accepted.IsZero() || m.Decision.Outcome == DecisionRelease {
			continue
		}
		amount := math.Round((p.Info.BudgetCNY*m.BudgetShare-m.DisbursedCNY)*100) / 100
		if amount <= 0 {
			continue
		}
		if rs := a.holdReasons(m); len(rs) > 0 {
			if m.Decision.Outcome != DecisionHold {
				m.Decisions++
				m.Decision = Decision{ID: fmt.Sprintf("%s/%s/d%d", p.ID, m.ID, m.Decisions), Outcome: DecisionHold, Status: DisbursementHeld}
			}
			if !slices.Equal(m.Decision.Reasons, rs) || m.Decision.AmountCNY != amount {
				m.Decision.Reasons, m.Decision.AmountCNY, m.Decision.Time, m.Decision.Event = rs, amount, e.Time, e.ID
			}
			continue
		}
		m.Decisions++
		id := fmt.Sprintf("%s/%s/d%d", p.ID, m.ID, m.Decisions)
		key := disbursementKey(p.ID, m.ID, amount, id)
		why := []string{
			"completed " + m.Completed.Format(time.RFC3339), "acceptance passed " + m.Accepted.Format(time.RFC3339),
			"no open hazard in its scope", "no site in alarm", "no wage arrears warning",
		}
		m.Decision = Decision{ID: id, Outcome: DecisionRelease, Reasons: why, AmountCNY: amount, Key: key, Time: e.Time, Event: e.ID, Status: DisbursementRequested}
		a.eff.Audit = append(a.eff.Audit, p.audit(e, AuditDecision, m.ID, amount))
		a.eff.Outbound = append(a.eff.Outbound, Outbound{
			Key: key, Kind: OutboundDisbursement, Project: p.ID, To: "fund-supervision", Time: e.Time, Event: e.ID, Drill: e.Drill,
			Fields: map[string]string{
				"milestone": m.ID, "amount_cny": strconv.FormatFloat(amount, 'f', 2, 64), "decision": id,
				"reasons": strings.Join(why, "; "),
			},
		})
	}
}

// evaluateOutward requests the completion filing once the work is done and
// accepted, raises alarms for filings and disbursements the platforms
// refused or returned, and decides disbursements.
func (a *applier) evaluateOutward() {
	p := a.p
	if p.workDone() && p.filing(FilingRegistration) != nil {
		accepted := true
		for _, m := range p.Milestones {
			if m.Baselined && m.Accepted.IsZero() {
				accepted = false
			}
		}
		if accepted {
			a.requestFiling(FilingCompletion)
		}
	}
	for _, f := range p.Filings {
		lvl, reason := LevelOK, ""
		switch f.Status {
		case FilingReturned, FilingRejected, FilingFailed:
			lvl = LevelWarn
			at := ""
			if f.Status == FilingReturned {
				at = " at " + f.Stage
			}
			reason = fmt.Sprintf("%s filing %s%s: %s", f.Kind, f.Status, at, strings.Join(f.Reasons, "; "))
		}
		a.setAlarm(p.Alarms, "", "filing@"+f.Kind, nil, "", lvl, 0, 0, "", reason)
	}
	a.decideDisbursements()
	for _, m := range p.Milestones {
		lvl, reason := LevelOK, ""
		if s := m.Decision.Status; s == DisbursementRejected || s == DisbursementFailed {
			lvl, reason = LevelWarn, fmt.Sprintf("disbursement %s of %s on %s %s: %s", m.Decision.ID, cny(m.Decision.AmountCNY), m.ID, s, m.Decision.Answer)
		}
		if lvl != LevelOK || p.Alarms["disbursement@"+m.ID] != nil {
			a.setAlarm(p.Alarms, "", "disbursement@"+m.ID, nil, "", lvl, m.Decision.AmountCNY, 0, "CNY", reason)
		}
	}
}
