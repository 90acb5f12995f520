package twin

import (
	"fmt"
	"time"
)

// Event types of the outward loop: attendance for the wage reconciliation,
// and the answers of the filing and fund platforms to the requests the twin
// decided on (Outbound), which the connectors' sender brings back.
const (
	TypeAttendanceReported   = "attendance.reported"
	TypeFilingAccepted       = "filing.accepted"
	TypeFilingRejected       = "filing.rejected"
	TypeFilingStatusChanged  = "filing.status_changed"
	TypeDisbursementAccepted = "disbursement.accepted"
	TypeDisbursementRejected = "disbursement.rejected"
)

func init() {
	types[TypeAttendanceReported] = typeInfo{StreamPayment, false, func() Data { return new(AttendanceReported) }}
	types[TypeFilingAccepted] = typeInfo{StreamRegistry, false, func() Data { return new(FilingAnswer) }}
	types[TypeFilingRejected] = typeInfo{StreamRegistry, false, func() Data { return new(FilingAnswer) }}
	types[TypeFilingStatusChanged] = typeInfo{StreamRegistry, false, func() Data { return new(FilingStatusChanged) }}
	types[TypeDisbursementAccepted] = typeInfo{StreamPayment, false, func() Data { return new(DisbursementAnswer) }}
	types[TypeDisbursementRejected] = typeInfo{StreamPayment, false, func() Data { return new(DisbursementAnswer) }}
	for _, t := range []string{TypeFilingAccepted, TypeFilingRejected, TypeFilingStatusChanged, TypeDisbursementAccepted, TypeDisbursementRejected} {
		answerTypes[t] = true
	}
}

// answerTypes are the platforms' answers: their time is the platform's
// clock, so they do not move the project's clock.
var answerTypes = map[string]bool{}

// Outbound kinds.
const (
	OutboundRectificationNotice = "rectification_notice"
	OutboundFiling              = "filing"
	OutboundDisbursement        = "disbursement"
)

// Filing kinds, as the filing platform names them.
const (
	FilingRegistration = "registration"
	FilingStart        = "start"
	FilingCompletion   = "completion"
)

// Filing statuses in the twin: requested (the request is in the outbox),
// then the platform's (in_review at a stage, approved, returned), or
// rejected (refused outright: invalid, a duplicate) or failed (could not
// be delivered; the outcome is unknown).
const (
	FilingRequested = "requested"
	FilingInReview  = "in_review"
	FilingApproved  = "approved"
	FilingReturned  = "returned"
	FilingRejected  = "rejected"
	FilingFailed    = "failed"
)

// CodeUndelivered is the code of a rejection event the sender writes when
// it gave up delivering a request: the outcome is unknown (failed), not a
// refusal.
const CodeUndelivered = "undelivered"

// AttendanceReported is the data of attendance.reported: the worker-days
// a project's real-name attendance system recorded in a month. Expected
// payroll is worker-days times the rule pack's day rate.
type AttendanceReported struct {
	Period     string  `json:"period"` // YYYY-MM
	WorkerDays float64 `json:"worker_days"`
	Workers    int     `json:"workers,omitempty"`
}

func (d *AttendanceReported) validate(v *validator) {
	if _, err := time.Parse("2006-01", d.Period); err != nil {
		v.fail("data.period", "must be a month YYYY-MM")
		return
	}
	v.between("worker_days", d.WorkerDays, 0, 1e7)
	if d.Workers < 0 || d.Workers > 1e6 {
		v.fail("data.workers", "must be between 0 and 1000000")
	}
}

// FilingAnswer is the data of filing.accepted and filing.rejected: the
// filing platform's answer to a request (Request is its idempotency key,
// the Outbound's Key).
type FilingAnswer struct {
	Request  string `json:"request"`
	Kind     string `json:"filing_kind"`
	Filing   string `json:"filing,omitempty"`   // the platform's filing id (accepted)
	Receipt  string `json:"receipt,omitempty"`  // receipt number (accepted)
	Stage    string `json:"stage,omitempty"`    // review stage (accepted)
	Reason   string `json:"reason,omitempty"`   // why (rejected)
	Code     string `json:"code,omitempty"`     // the platform's error code (rejected); "undelivered" when never delivered
	Existing string `json:"existing,omitempty"` // the filing a duplicate registration duplicates
}

func (d *FilingAnswer) validate(v *validator) {
	v.text("request", d.Request, true)
	v.oneOf("filing_kind", d.Kind, FilingRegistration, FilingStart, FilingCompletion)
	v.optID("filing", d.Filing)
	v.text("receipt", d.Receipt, false)
	v.text("stage", d.Stage, false)
	v.text("reason", d.Reason, false)
	v.text("code", d.Code, false)
	v.optID("existing", d.Existing)
	if v.err != nil {
		return
	}
	if v.eventType == TypeFilingAccepted && d.Filing == "" {
		v.fail("data.filing", "is required (the platform's filing id)")
	}
	if v.eventType == TypeFilingRejected && d.Reason == "" {
		v.fail("data.reason", "is required (why the platform refused it)")
	}
}

// FilingStatusChanged is the data of filing.status_changed: a step of a
// filing's multi-level review.
type FilingStatusChanged struct {
	Request string   `json:"request"`
	Kind    string   `json:"filing_kind"`
	Filing  string   `json:"filing"`
	Stage   string   `json:"stage"`
	Status  string   `json:"status"`
	Reasons []string `json:"reasons,omitempty"`
}

func (d *FilingStatusChanged) validate(v *validator) {
	v.text("request", d.Request, true)
	v.oneOf("filing_kind", d.Kind, FilingRegistration, FilingStart, FilingCompletion)
	v.id("filing", d.Filing)
	v.oneOf("stage", d.Stage, "district_preliminary", "city_review", "expert_review", "done")
	v.oneOf("status", d.Status, FilingInReview, FilingApproved, FilingReturned)
	if len(d.Reasons) > 20 {
		v.fail("data.reasons", "must list at most 20 reasons")
	}
	for i, r := range d.Reasons {
		v.text(fmt.Sprintf("reasons[%d]", i), r, true)
	}
	if v.err == nil && d.Status == FilingReturned && len(d.Reasons) == 0 {
		v.fail("data.reasons", "a returned filing needs its reasons")
	}
}

// DisbursementAnswer is the data of disbursement.accepted and
// disbursement.rejected: the fund platform's answer to a disbursement the
// twin decided on.
type DisbursementAnswer struct {
	Request   string  `json:"request"`
	Decision  string  `json:"decision"`
	Milestone string  `json:"milestone"`
	AmountCNY float64 `json:"amount_cny"`
	Receipt   string  `json:"receipt,omitempty"` // accepted
	Account   string  `json:"account,omitempty"`
	Reason    string  `json:"reason,omitempty"` // rejected
	Code      string  `json:"code,omitempty"`   // rejected; "undelivered" when never delivered
}

func (d *DisbursementAnswer) validate(v *validator) {
	v.text("request", d.Request, true)
	v.text("decision", d.Decision, true)
	v.id("milestone", d.Milestone)
	v.positive("amount_cny", d.AmountCNY)
	v.between("amount_cny", d.AmountCNY, 0, maxAmountCNY)
	v.text("receipt", d.Receipt, false)
	v.optID("account", d.Account)
	v.text("reason", d.Reason, false)
	v.text("code", d.Code, false)
	if v.err != nil {
		return
	}
	if v.eventType == TypeDisbursementAccepted && d.Receipt == "" {
		v.fail("data.receipt", "is required (the platform's receipt number)")
	}
	if v.eventType == TypeDisbursementRejected && d.Reason == "" {
		v.fail("data.reason", "is required (why the platform refused it)")
	}
}
