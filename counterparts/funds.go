package counterparts

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
)

// DisbursementRequest is the body of POST /v1/disbursements.
type DisbursementRequest struct {
	Project   string  `json:"project"`
	Milestone string  `json:"milestone"`
	AmountCNY float64 `json:"amount_cny"`
	Decision  string  `json:"decision"`          // the regulator's decision id
	Account   string  `json:"account,omitempty"` // escrow account; default the project's
	Reasons   string  `json:"reasons,omitempty"` // why it was decided, for the record
}

// Payment is one disbursement in the fund platform's ledger, and the
// answer of an accepted POST /v1/disbursements (201).
type Payment struct {
	Receipt   string    `json:"receipt"`
	Project   string    `json:"project"`
	Milestone string    `json:"milestone"`
	AmountCNY float64   `json:"amount_cny"`
	Decision  string    `json:"decision"`
	Account   string    `json:"account"`
	Key       string    `json:"idempotency_key"`
	Status    string    `json:"status"` // "paid"
	PaidAt    time.Time `json:"paid_at"`
}

// FundsService is the reference fund-supervision platform: it releases
// escrowed project funds on a milestone at the regulator's request, keeps
// the ledger of payments, and refuses some (an insufficient escrow
// balance). Its HTTP JSON API is documented in the package comment. Run
// owns its state; ServeHTTP may be called from any goroutine.
type FundsService struct {
	*core
	payments []Payment // owned by the Run goroutine
}

var _ http.Handler = (*FundsService)(nil)

type fundsLedger struct {
	Payments []Payment         `json:"payments"`
	Answers  map[string]answer `json:"answers"`
}

// NewFunds returns a fund service, with its ledger read from
// cfg.LedgerFile if that exists.
func NewFunds(cfg Config) (*FundsService, error) {
	c, err := newCore(cfg)
	if err != nil {
		return nil, err
	}
	s := &FundsService{core: c}
	var l fundsLedger
	if err := loadLedger(cfg.LedgerFile, &l); err != nil {
		return nil, err
	}
	s.payments = l.Payments
	if l.Answers != nil {
		s.answers = l.Answers
	}
	s.save = func() ([]byte, error) { return json.Marshal(fundsLedger{Payments: s.payments, Answers: s.answers}) }
	return s, nil
}

// Run serves requests until ctx ends; it returns nil then.
func (s *FundsService) Run(ctx context.Context) error { return s.run(ctx) }

// Close stops a service whose Run was never called; it is idempotent.
func (s *FundsService) Close() { s.close() }

// ServeHTTP serves the API.
func (s *FundsService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/v1/disbursements":
		s.handlePost(w, r, s.disburse)
	case p == "/v1/ledger":
		project := r.URL.Query().Get("project")
		s.handleGet(w, r, func() (int, any) {
			out := []Payment{}
			var total float64
			for _, pm := range s.payments {
				if project == "" || pm.Project == project {
					out = append(out, pm)
					total += pm.AmountCNY
				}
			}
			return http.StatusOK, map[string]any{"payments": out, "count": len(out), "total_cny": total}
		})
	case strings.HasPrefix(p, "/v1/disbursements/"):
		receipt := strings.TrimPrefix(p, "/v1/disbursements/")
		s.handleGet(w, r, func() (int, any) {
			for _, pm := range s.payments {
				if pm.Receipt == receipt {
					return http.StatusOK, pm
				}
			}
			return http.StatusNotFound, APIError{Error: "no disbursement " + receipt, Code: CodeNotFound}
		})
	case p == "/healthz":
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	default:
		writeJSON(w, http.StatusNotFound, APIError{Error: "no such endpoint; see POST /v1/disbursements, GET /v1/disbursements/{receipt}, GET /v1/ledger", Code: CodeNotFound})
	}
}

// disburse carries out a POST /v1/disbursements on the owner goroutine.
func (s *FundsService) disburse(key string, body []byte) (int, any) {
	var req DisbursementRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return http.StatusBadRequest, APIError{Error: "the body is not a disbursement request: " + err.Error(), Code: CodeBadRequest}
	}
	invalid := func(field, rule string) (int, any) {
		return http.StatusUnprocessableEntity, APIError{Error: field + ": " + rule, Code: CodeInvalid, Field: field}
	}
	switch {
	case strings.TrimSpace(req.Project) == "" || len(req.Project) > 200:
		return invalid("project", "is required (at most 200 characters)")
	case strings.TrimSpace(req.Milestone) == "" || len(req.Milestone) > 200:
		return invalid("milestone", "is required (at most 200 characters)")
	case strings.TrimSpace(req.Decision) == "" || len(req.Decision) > 200:
		return invalid("decision", "is required: the id of the regulator's decision")
	case math.IsNaN(req.AmountCNY) || req.AmountCNY <= 0:
		return invalid("amount_cny", "must be greater than 0")
	case req.AmountCNY > s.cfg.MaxAmountCNY:
		return invalid("amount_cny", fmt.Sprintf("must be at most %.0f per disbursement", s.cfg.MaxAmountCNY))
	}
	if s.cfg.RefuseRate > 0 && s.rng.Float64() < s.cfg.RefuseRate {
		return http.StatusConflict, APIError{Error: fmt.Sprintf("refused: the escrow balance of project %s is below %.2f CNY", req.Project, req.AmountCNY), Code: CodeRefused}
	}
	account := req.Account
	if account == "" {
		account = "escrow-" + req.Project
	}
	now := s.cfg.Now().UTC()
	pm := Payment{
		Receipt: fmt.Sprintf("FR-%s-%06d", now.Format("20060102"), len(s.payments)+1), Project: req.Project,
		Milestone: req.Milestone, AmountCNY: req.AmountCNY, Decision: req.Decision, Account: account,
		Key: key, Status: "paid", PaidAt: now,
	}
	s.payments = append(s.payments, pm)
	return http.StatusCreated, pm
}
