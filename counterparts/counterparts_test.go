package counterparts

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type runner interface {
	http.Handler
	Run(context.Context) error
}

func serve(t *testing.T, s runner) *httptest.Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }() //nolint:errcheck // returns nil
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return srv
}

func post(t *testing.T, url, key string, body any) (int, []byte, http.Header) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if key != "" {
		req.Header.Set(HeaderIdempotencyKey, key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out, resp.Header
}

func get(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

func registration(project, name, permit string) FilingRequest {
	return FilingRequest{Kind: KindRegistration, Project: project, Name: name, District: "Nanshan",
		Address: "Menghai Blvd 5099, Nanshan", PermitNumber: permit, Owner: "o", Contractor: "c", Supervisor: "s",
		Sites: []string{project + "-S1"}, SupervisionFilingNumber: "JL-1", SafetyFilingNumber: "AQ-1"}
}

func TestFilingReviewAndDuplicates(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	cfg := DefaultConfig()
	cfg.ReturnRate, cfg.StageTime, cfg.Now = 0, time.Hour, clk.Now
	cfg.LedgerFile = filepath.Join(t.TempDir(), "filings.json")
	s, err := NewFiling(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, s)
	url := srv.URL + "/v1/filings"

	status, body, _ := post(t, url, "k1", registration("P-1", "Talent Housing", "440305202602260101"))
	if status != http.StatusCreated {
		t.Fatalf("registration: %d %s", status, body)
	}
	var rc FilingReceipt
	json.Unmarshal(body, &rc)
	if rc.Filing != "FIL-000001" || rc.Stage != StageDistrict || rc.Status != StatusInReview {
		t.Fatalf("receipt %+v", rc)
	}
	// the same key: the same answer, not a second filing
	status2, body2, h := post(t, url, "k1", registration("P-1", "Talent Housing", "440305202602260101"))
	if status2 != status || !bytes.Equal(body, body2) || h.Get(HeaderReplayed) != "true" {
		t.Fatalf("replay: %d %s %v", status2, body2, h)
	}
	for _, tc := range []struct {
		name   string
		key    string
		req    FilingRequest
		status int
		code   string
		field  string
	}{
		{"same permit", "k2", registration("P-2", "Other name", "440305202602260101"), 409, CodeDuplicate, ""},
		{"same name and address", "k3", registration("P-3", " talent  HOUSING", "440305202602269999"), 409, CodeDuplicate, ""},
		{"bad permit", "k4", registration("P-4", "X", "44-03"), 422, CodeInvalid, "permit_number"},
		{"no address", "k5", func() FilingRequest { r := registration("P-5", "Y", "440305202602260555"); r.Address = ""; return r }(), 422, CodeInvalid, "address"},
		{"start before registration", "k6", FilingRequest{Kind: KindStart, Project: "P-9", Name: "Z"}, 409, CodeNotAllowed, ""},
		{"key reused", "k1", registration("P-1", "Talent Housing", "440305202602260102"), 422, CodeKeyReused, ""},
		{"unknown kind", "k7", FilingRequest{Kind: "demolition", Project: "P-1", Name: "n"}, 422, CodeInvalid, "kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := post(t, url, tc.key, tc.req)
			var e APIError
			json.Unmarshal(body, &e)
			if status != tc.status || e.Code != tc.code || e.Field != tc.field {
				t.Fatalf("got %d %s", status, body)
			}
			if tc.code == CodeDuplicate && e.Existing != "FIL-000001" {
				t.Fatalf("duplicate names %q, want FIL-000001", e.Existing)
			}
		})
	}
	if status, body, _ := post(t, url, "", registration("P-6", "A", "440305202602260606")); status != 400 || !strings.Contains(string(body), CodeNoKey) {
		t.Fatalf("no key: %d %s", status, body)
	}
	// a start filing without a safety-measure filing number is returned by the district
	start := FilingRequest{Kind: KindStart, Project: "P-1", Name: "Talent Housing", SupervisionFilingNumber: "JL-1"}
	if status, body, _ := post(t, url, "s1", start); status != 201 {
		t.Fatalf("start: %d %s", status, body)
	}
	// time passes: registration goes district -> city -> expert -> approved
	var page ChangesPage
	get(t, srv.URL+"/v1/changes?after=0", &page)
	if len(page.Changes) != 2 {
		t.Fatalf("changes at submission: %+v", page)
	}
	clk.Add(3 * time.Hour)
	get(t, srv.URL+"/v1/changes?after="+itoa(page.Next), &page)
	var got []string
	for _, c := range page.Changes {
		got = append(got, c.Filing+":"+c.Stage+":"+c.Status)
	}
	want := "FIL-000001:city_review:in_review FIL-000002:district_preliminary:returned FIL-000001:expert_review:in_review FIL-000001:done:approved"
	if strings.Join(got, " ") != want {
		t.Fatalf("changes:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	var f FilingRecord
	get(t, srv.URL+"/v1/filings/FIL-000002", &f)
	if f.Status != StatusReturned || len(f.Reasons) != 1 || !strings.Contains(f.Reasons[0], "safety-measure") {
		t.Fatalf("start filing %+v", f)
	}

	// the ledger survives a restart
	s2, err := NewFiling(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv2 := serve(t, s2)
	var fs struct{ Filings []FilingRecord }
	get(t, srv2.URL+"/v1/filings?project=P-1", &fs)
	if len(fs.Filings) != 2 || fs.Filings[0].Status != StatusApproved {
		t.Fatalf("after restart: %+v", fs)
	}
	if status3, body3, _ := post(t, srv2.URL+"/v1/filings", "k1", registration("P-1", "Talent Housing", "440305202602260101")); status3 != 201 || !bytes.Equal(body3, body) {
		t.Fatalf("replay after restart: %d %s", status3, body3)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestFundsIdempotencyAndFaults(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ErrorRate, cfg.Seed = 0.5, 7
	cfg.Now = (&clock{t: time.Date(2026, 7, 20, 6, 0, 0, 0, time.UTC)}).Now
	s, err := NewFunds(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, s)
	url := srv.URL + "/v1/disbursements"
	req := DisbursementRequest{Project: "P-1", Milestone: "M1", AmountCNY: 1.724e8, Decision: "P-1/M1/d1"}
	// retry each request with its key until it gets a JSON answer below 500
	faults := map[int]int{}
	for i, key := range []string{"a", "b", "c", "d", "e", "f"} {
		r := req
		r.Milestone = string(rune('A' + i))
		for attempt := 0; ; attempt++ {
			if attempt > 50 {
				t.Fatal("never succeeded")
			}
			status, body, _ := post(t, url, key, r)
			var pm Payment
			if status >= 500 || json.Unmarshal(body, &pm) != nil {
				faults[status]++
				continue
			}
			if status != 201 || pm.Receipt == "" || pm.Key != key {
				t.Fatalf("%d %s", status, body)
			}
			break
		}
	}
	if faults[500] == 0 || faults[503] == 0 || faults[201] == 0 {
		t.Fatalf("faults seen %v, want 500s, 503s and garbled 201s", faults)
	}
	var l struct {
		Payments []Payment
		Count    int
	}
	get(t, srv.URL+"/v1/ledger", &l)
	if l.Count != 6 {
		t.Fatalf("ledger has %d payments, want 6 (each key once, whatever the faults): %+v", l.Count, l.Payments)
	}
	for _, tc := range []struct {
		name  string
		req   DisbursementRequest
		field string
	}{
		{"no amount", DisbursementRequest{Project: "P", Milestone: "M", Decision: "d"}, "amount_cny"},
		{"no decision", DisbursementRequest{Project: "P", Milestone: "M", AmountCNY: 1}, "decision"},
		{"too much", DisbursementRequest{Project: "P", Milestone: "M", AmountCNY: 1e12, Decision: "d"}, "amount_cny"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for {
				status, body, _ := post(t, url, "v-"+tc.name, tc.req)
				if status >= 500 || status == 201 {
					continue // injected fault
				}
				var e APIError
				json.Unmarshal(body, &e)
				if status != 422 || e.Field != tc.field {
					t.Fatalf("%d %s", status, body)
				}
				return
			}
		})
	}
}

func TestFundsRefuseAndLatency(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RefuseRate, cfg.Latency = 1, 20*time.Millisecond
	s, err := NewFunds(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, s)
	status, body, _ := post(t, srv.URL+"/v1/disbursements", "k", DisbursementRequest{Project: "P", Milestone: "M", AmountCNY: 5, Decision: "d"})
	if status != 409 || !strings.Contains(string(body), CodeRefused) {
		t.Fatalf("%d %s", status, body)
	}
	if _, err := NewFunds(Config{ErrorRate: 2}); err == nil {
		t.Fatal("error rate 2 accepted")
	}
}

func TestStoppedService(t *testing.T) {
	s, err := NewFunds(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	srv := httptest.NewServer(s)
	defer srv.Close()
	status, _, _ := post(t, srv.URL+"/v1/disbursements", "k", DisbursementRequest{})
	if status != http.StatusServiceUnavailable {
		t.Fatalf("stopped service answered %d", status)
	}
}

// FuzzFilingRequest throws arbitrary bodies at the filing platform's
// decoder and validation: never a panic, never a 5xx.
func FuzzFilingRequest(f *testing.F) {
	for _, s := range []string{`{}`, `{"kind":"registration"}`, `{"kind":"start","project":"P","name":"n"}`, `[`, `null`, `{"sites":[1]}`, `{"kind":"registration","project":"P","name":"n","district":"d","address":"a","permit_number":"4403052026","owner":"o","contractor":"c","supervisor":"s"}`} {
		f.Add([]byte(s))
	}
	s, err := NewFiling(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		status, _ := s.submit("k", b)
		if status >= 500 {
			t.Fatalf("status %d for %q", status, b)
		}
	})
}

// FuzzDisbursementRequest does the same for the fund platform.
func FuzzDisbursementRequest(f *testing.F) {
	for _, s := range []string{`{}`, `{"project":"P","milestone":"M","amount_cny":1,"decision":"d"}`, `{"amount_cny":"1"}`, `{"amount_cny":1e400}`, `x`} {
		f.Add([]byte(s))
	}
	s, err := NewFunds(DefaultConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if status, _ := s.disburse("k", b); status >= 500 {
			t.Fatalf("status %d for %q", status, b)
		}
	})
}
