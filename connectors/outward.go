package connectors

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// FilingRequest is what the sender files with a filing platform, from a
// filing Outbound of the twin.
type FilingRequest struct {
	Kind                    string   `json:"kind"` // registration, start, completion
	Project                 string   `json:"project"`
	Name                    string   `json:"name"`
	District                string   `json:"district,omitempty"`
	Address                 string   `json:"address,omitempty"`
	PermitNumber            string   `json:"permit_number,omitempty"`
	Owner                   string   `json:"owner,omitempty"`
	Contractor              string   `json:"contractor,omitempty"`
	Supervisor              string   `json:"supervisor,omitempty"`
	Sites                   []string `json:"sites,omitempty"`
	SupervisionFilingNumber string   `json:"supervision_filing_number,omitempty"`
	SafetyFilingNumber      string   `json:"safety_filing_number,omitempty"`
}

// FilingReceipt is a filing platform's acceptance of a filing.
type FilingReceipt struct {
	Filing    string    // the platform's filing id
	Receipt   string    // receipt number
	Stage     string    // review stage it entered
	Submitted time.Time // the platform's time of the submission
}

// FilingChange is one step of a filing's review on the platform.
type FilingChange struct {
	Seq       int64 // the platform's cursor
	Filing    string
	Reference string // the idempotency key the filing was submitted with
	Project   string
	Kind      string
	Stage     string
	Status    string // in_review, approved, returned
	Reasons   []string
	At        time.Time
}

// Disbursement is what the sender asks a fund platform to pay, from a
// disbursement Outbound of the twin.
type Disbursement struct {
	Project   string  `json:"project"`
	Milestone string  `json:"milestone"`
	AmountCNY float64 `json:"amount_cny"`
	Decision  string  `json:"decision"`
	Reasons   string  `json:"reasons,omitempty"`
}

// DisbursementReceipt is a fund platform's record of a payment.
type DisbursementReceipt struct {
	Receipt string
	Account string
	PaidAt  time.Time
}

// FilingPlatform is a filing platform as the sender uses it. The reference
// implementation speaks counterparts' documented HTTP JSON API
// (HTTPFiling); an adapter to a real platform implements this in a file of
// its own.
type FilingPlatform interface {
	// Submit files a request under an idempotency key and blocks until the
	// platform answers or ctx ends. The same key always gets the same
	// answer, and the platform acts on it once, so a retry is safe. A
	// refusal (invalid, a duplicate, not allowed) is a *Refusal; any
	// other error (a 5xx, a timeout, an answer that cannot be read) wraps
	// ErrTransient: retry with the same key.
	Submit(ctx context.Context, key string, req FilingRequest) (FilingReceipt, error)
	// Changes returns the review steps of every filing after the cursor,
	// oldest first, and the cursor to pass next. It blocks until the
	// platform answers or ctx ends; its errors wrap ErrTransient.
	Changes(ctx context.Context, after int64) ([]FilingChange, int64, error)
}

// FundPlatform is a fund-supervision platform as the sender uses it
// (HTTPFunds for the reference API).
type FundPlatform interface {
	// Disburse asks the platform to pay under an idempotency key and
	// blocks until it answers or ctx ends. The same key is paid once,
	// however often it is asked. A refusal is a *Refusal; any other error
	// wraps ErrTransient.
	Disburse(ctx context.Context, key string, d Disbursement) (DisbursementReceipt, error)
}

// ErrTransient is wrapped by a platform's error that may pass: a 5xx, a
// timeout, a connection refused, an answer that is not the documented
// JSON. The sender retries such a request with the same key.
var ErrTransient = errors.New("transient platform error")

// ErrRefused is wrapped by every *Refusal.
var ErrRefused = errors.New("refused by the platform")

// Refusal is a platform's definite no: its code and reason, and for a
// duplicate registration the filing it duplicates.
type Refusal struct {
	Status   int    // HTTP status, when HTTP
	Code     string // the platform's code (invalid, duplicate, refused, ...)
	Reason   string
	Existing string
}

func (r *Refusal) Error() string { return fmt.Sprintf("refused (%s): %s", r.Code, r.Reason) }

// Unwrap makes errors.Is(err, ErrRefused) true.
func (r *Refusal) Unwrap() error { return ErrRefused }
