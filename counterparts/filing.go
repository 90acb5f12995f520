package counterparts

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Filing kinds: the three filings a project makes with the platform.
const (
	KindRegistration = "registration" // project registration (工程项目登记)
	KindStart        = "start"        // start of works, with the safety measures (开工/安全措施备案)
	KindCompletion   = "completion"   // completion acceptance (竣工验收备案)
)

// Review stages, in order, and the filing statuses.
const (
	StageDistrict = "district_preliminary" // district construction bureau, preliminary review
	StageCity     = "city_review"          // city housing and construction bureau
	StageExpert   = "expert_review"        // expert panel
	StageDone     = "done"                 // the stage of a filing approved at the end of review

	StatusInReview = "in_review" // at a stage, under review
	StatusApproved = "approved"  // passed every stage (final)
	StatusReturned = "returned"  // returned with reasons at a stage (final; resubmit with a new key)
)

var stages = []string{StageDistrict, StageCity, StageExpert}

// FilingRequest is the body of POST /v1/filings.
type FilingRequest struct {
	Kind                    string   `json:"kind"`
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

// StatusChange is one step of a filing's review, as GET /v1/changes and a
// filing's history list them.
type StatusChange struct {
	Seq       int64     `json:"seq"`
	Filing    string    `json:"filing"`
	Reference string    `json:"reference"` // the Idempotency-Key the filing was submitted with
	Project   string    `json:"project"`
	Kind      string    `json:"kind"`
	Stage     string    `json:"stage"`
	Status    string    `json:"status"`
	Reasons   []string  `json:"reasons,omitempty"`
	At        time.Time `json:"at"`
}

// FilingRecord is a filing in the platform's ledger.
type FilingRecord struct {
	ID        string         `json:"filing"`
	Reference string         `json:"reference"` // the Idempotency-Key it was submitted with
	Receipt   string         `json:"receipt"`
	Request   FilingRequest  `json:"request"`
	Submitted time.Time      `json:"submitted"`
	Stage     string         `json:"stage"`
	Status    string         `json:"status"`
	Reasons   []string       `json:"reasons,omitempty"`
	History   []StatusChange `json:"history"`
	// The review's outcome, drawn at submission: the stage index that
	// returns it (-1: none) and why.
	ReturnAt      int      `json:"return_at"`
	ReturnReasons []string `json:"return_reasons,omitempty"`
}

// FilingReceipt is the answer of an accepted POST /v1/filings (201).
type FilingReceipt struct {
	Filing    string    `json:"filing"`
	Reference string    `json:"reference"`
	Receipt   string    `json:"receipt"`
	Project   string    `json:"project"`
	Kind      string    `json:"kind"`
	Stage     string    `json:"stage"`
	Status    string    `json:"status"`
	Submitted time.Time `json:"submitted"`
}

// ChangesPage is the answer of GET /v1/changes.
type ChangesPage struct {
	Changes []StatusChange `json:"changes"`
	Next    int64          `json:"next"` // pass as after= to read on
}

// reviewReasons are what reviewers return filings for, by stage.
var reviewReasons = [][]string{
	{"site plan does not match the land-use permit boundary", "construction unit's qualification certificate expired"},
	{"funds guarantee (工资保证金) not deposited", "project manager registered on another active project"},
	{"expert review: deep foundation pit support scheme not demonstrated by the expert panel", "expert review: tower crane foundation calculation missing"},
}

// FilingService is the reference filing platform: it registers projects,
// takes start and completion filings, and reviews each through the
// district, the city and an expert panel, where it may be returned with
// reasons. Its HTTP JSON API is documented in the package comment. Run
// owns its state; ServeHTTP may be called from any goroutine.
type FilingService struct {
	*core
	// owned by the Run goroutine:
	filings []*FilingRecord
	byID    map[string]*FilingRecord
	seq     int64
}

var _ http.Handler = (*FilingService)(nil)

// filingLedger is the persisted state.
type filingLedger struct {
	Filings []*FilingRecord   `json:"filings"`
	Seq     int64             `json:"seq"`
	Answers map[string]answer `json:"answers"`
}

// NewFiling returns a filing service, with its ledger read from
// cfg.LedgerFile if that exists.
func NewFiling(cfg Config) (*FilingService, error) {
	c, err := newCore(cfg)
	if err != nil {
		return nil, err
	}
	s := &FilingService{core: c, byID: map[string]*FilingRecord{}}
	var l filingLedger
	if err := loadLedger(cfg.LedgerFile, &l); err != nil {
		return nil, err
	}
	s.filings, s.seq = l.Filings, l.Seq
	for _, f := range s.filings {
		s.byID[f.ID] = f
	}
	if l.Answers != nil {
		s.answers = l.Answers
	}
	s.save = func() ([]byte, error) {
		return json.Marshal(filingLedger{Filings: s.filings, Seq: s.seq, Answers: s.answers})
	}
	return s, nil
}

// Run serves requests until ctx ends; it returns nil then. Requests made
// while it is not running wait (or fail with 503 once it has returned).
func (s *FilingService) Run(ctx context.Context) error { return s.run(ctx) }

// Close stops a service whose Run was never called; it is idempotent.
func (s *FilingService) Close() { s.close() }

// ServeHTTP serves the API.
func (s *FilingService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == "/v1/filings":
		if r.Method == http.MethodGet {
			project := r.URL.Query().Get("project")
			s.handleGet(w, r, func() (int, any) {
				s.advance()
				out := []*FilingRecord{}
				for _, f := range s.filings {
					if project == "" || f.Request.Project == project {
						out = append(out, f)
					}
				}
				return http.StatusOK, map[string]any{"filings": out}
			})
			return
		}
		s.handlePost(w, r, s.submit)
	case strings.HasPrefix(p, "/v1/filings/"):
		id := strings.TrimPrefix(p, "/v1/filings/")
		s.handleGet(w, r, func() (int, any) {
			s.advance()
			f, ok := s.byID[id]
			if !ok {
				return http.StatusNotFound, APIError{Error: "no filing " + id, Code: CodeNotFound}
			}
			return http.StatusOK, f
		})
	case p == "/v1/changes":
		q := r.URL.Query()
		after, err1 := strconv.ParseInt(cmpOr(q.Get("after"), "0"), 10, 64)
		limit, err2 := strconv.Atoi(cmpOr(q.Get("limit"), "500"))
		if err1 != nil || err2 != nil || limit <= 0 || limit > 5000 || after < 0 {
			writeJSON(w, http.StatusBadRequest, APIError{Error: "after must be a sequence number >= 0 and limit from 1 to 5000", Code: CodeBadRequest})
			return
		}
		s.handleGet(w, r, func() (int, any) {
			s.advance()
			return http.StatusOK, s.changes(after, limit)
		})
	case p == "/healthz":
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	default:
		writeJSON(w, http.StatusNotFound, APIError{Error: "no such endpoint; see GET /v1/filings, POST /v1/filings, GET /v1/filings/{id}, GET /v1/changes", Code: CodeNotFound})
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// changes returns the status changes after seq, at most limit.
func (s *FilingService) changes(after int64, limit int) ChangesPage {
	var all []StatusChange
	for _, f := range s.filings {
		for _, c := range f.History {
			if c.Seq > after {
				all = append(all, c)
			}
		}
	}
	slices.SortFunc(all, func(a, b StatusChange) int { return int(a.Seq - b.Seq) })
	if len(all) > limit {
		all = all[:limit]
	}
	next := after
	if len(all) > 0 {
		next = all[len(all)-1].Seq
	}
	if all == nil {
		all = []StatusChange{}
	}
	return ChangesPage{Changes: all, Next: next}
}

// validateFiling checks a filing request and returns the field at fault.
func validateFiling(f *FilingRequest) (field, rule string) {
	req := func(name, v string) bool {
		if strings.TrimSpace(v) == "" {
			field, rule = name, "is required"
			return false
		}
		if len(v) > 500 {
			field, rule = name, "must be at most 500 characters"
			return false
		}
		return true
	}
	switch f.Kind {
	case KindRegistration, KindStart, KindCompletion:
	case "":
		return "kind", "is required (registration, start or completion)"
	default:
		return "kind", fmt.Sprintf("must be registration, start or completion (got %q)", f.Kind)
	}
	if !req("project", f.Project) || !req("name", f.Name) {
		return
	}
	if f.Kind == KindRegistration {
		for _, x := range []struct{ n, v string }{{"district", f.District}, {"address", f.Address}, {"permit_number", f.PermitNumber}, {"owner", f.Owner}, {"contractor", f.Contractor}, {"supervisor", f.Supervisor}} {
			if !req(x.n, x.v) {
				return
			}
		}
		if n := len(f.PermitNumber); n < 10 || n > 30 || strings.Trim(f.PermitNumber, "0123456789") != "" {
			return "permit_number", "must be the 10 to 30 digits of the construction permit"
		}
	}
	if len(f.Sites) > 1000 {
		return "sites", "must list at most 1000 sites"
	}
	return "", ""
}

func norm(s string) string { return strings.Join(strings.Fields(strings.ToLower(s)), " ") }

// submit carries out a POST /v1/filings on the owner goroutine.
func (s *FilingService) submit(key string, body []byte) (int, any) {
	var req FilingRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return http.StatusBadRequest, APIError{Error: "the body is not a filing request: " + err.Error(), Code: CodeBadRequest}
	}
	if field, rule := validateFiling(&req); field != "" {
		return http.StatusUnprocessableEntity, APIError{Error: field + ": " + rule, Code: CodeInvalid, Field: field}
	}
	s.advance()
	var registration *FilingRecord
	for _, f := range s.filings {
		if f.Request.Kind != KindRegistration || f.Status == StatusReturned {
			continue
		}
		if req.Kind == KindRegistration {
			samePermit := f.Request.PermitNumber == req.PermitNumber
			samePlace := norm(f.Request.Name) == norm(req.Name) && norm(f.Request.Address) == norm(req.Address)
			if samePermit || samePlace {
				why := "same permit number " + req.PermitNumber
				if !samePermit {
					why = "same name and address"
				}
				return http.StatusConflict, APIError{Error: fmt.Sprintf("duplicate registration: %s as filing %s (project %s)", why, f.ID, f.Request.Project), Code: CodeDuplicate, Existing: f.ID}
			}
		} else if f.Request.Project == req.Project {
			registration = f
		}
	}
	if req.Kind != KindRegistration && registration == nil {
		return http.StatusConflict, APIError{Error: fmt.Sprintf("project %s has no registration filing under review or approved: register it first", req.Project), Code: CodeNotAllowed}
	}
	now := s.cfg.Now().UTC()
	n := len(s.filings) + 1
	f := &FilingRecord{
		ID: fmt.Sprintf("FIL-%06d", n), Receipt: fmt.Sprintf("RCPT-%s-%06d", now.Format("20060102"), n),
		Request: req, Reference: key, Submitted: now, ReturnAt: -1,
	}
	switch {
	case req.Kind == KindStart && req.SafetyFilingNumber == "":
		f.ReturnAt, f.ReturnReasons = 0, []string{"safety-measure filing number (安全措施备案编号) missing: file the safety measures before work starts"}
	case req.Kind != KindRegistration && req.SupervisionFilingNumber == "":
		f.ReturnAt, f.ReturnReasons = 0, []string{"supervision filing number (监理备案编号) missing"}
	case s.cfg.ReturnRate > 0 && s.rng.Float64() < s.cfg.ReturnRate:
		st := s.rng.IntN(len(stages))
		f.ReturnAt, f.ReturnReasons = st, []string{reviewReasons[st][s.rng.IntN(len(reviewReasons[st]))]}
	}
	s.filings = append(s.filings, f)
	s.byID[f.ID] = f
	s.step(f, StageDistrict, StatusInReview, nil, now)
	s.advance()
	return http.StatusCreated, FilingReceipt{Filing: f.ID, Reference: key, Receipt: f.Receipt, Project: req.Project, Kind: req.Kind, Stage: f.Stage, Status: f.Status, Submitted: now}
}

func (s *FilingService) step(f *FilingRecord, stage, status string, reasons []string, at time.Time) {
	s.seq++
	f.Stage, f.Status, f.Reasons = stage, status, reasons
	f.History = append(f.History, StatusChange{Seq: s.seq, Filing: f.ID, Reference: f.Reference, Project: f.Request.Project, Kind: f.Request.Kind, Stage: stage, Status: status, Reasons: reasons, At: at})
}

// advance moves every filing under review through the stages whose time
// has come: each stage takes StageTime, and a filing is returned at the
// stage drawn at submission or approved after the last.
func (s *FilingService) advance() {
	now := s.cfg.Now().UTC()
	changed := false
	for {
		// the earliest transition due, over every filing under review,
		// so that sequence numbers follow time
		var next *FilingRecord
		var nextAt time.Time
		for _, f := range s.filings {
			if f.Status != StatusInReview {
				continue
			}
			at := f.Submitted.Add(time.Duration(slices.Index(stages, f.Stage)+1) * s.cfg.StageTime)
			if !at.After(now) && (next == nil || at.Before(nextAt)) {
				next, nextAt = f, at
			}
		}
		if next == nil {
			break
		}
		i := slices.Index(stages, next.Stage)
		switch {
		case next.ReturnAt == i:
			s.step(next, next.Stage, StatusReturned, next.ReturnReasons, nextAt)
		case i+1 < len(stages):
			s.step(next, stages[i+1], StatusInReview, nil, nextAt)
		default:
			s.step(next, StageDone, StatusApproved, nil, nextAt)
		}
		changed = true
	}
	if changed {
		s.persist()
	}
}
