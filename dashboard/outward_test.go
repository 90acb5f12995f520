package dashboard

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// outwardEvents take P-001 (contractor C-1) through its registration
// filing's review (accepted at the district, the city, returned at the
// expert review with a reason that names a person) and a milestone
// completed and accepted with a major hazard open in its scope, so that
// its disbursement is held; and a month's attendance for the wage
// reconciliation.
func outwardEvents() []string {
	ev := func(id, typ, at, site, data string) string {
		s := ""
		if site != "" {
			s = `,"site":"` + site + `"`
		}
		return fmt.Sprintf(`{"specversion":"1.0","id":%q,"type":%q,"source":"t","time":%q,"project":"P-001"%s,"data":%s}`, id, typ, at, s, data)
	}
	const key = `"request":"P-001/filing/registration/1","filing_kind":"registration"`
	return []string{
		ev("fa", "filing.accepted", "2026-11-20T01:10:00Z", "", `{`+key+`,"filing":"FIL-000042","receipt":"RCPT-42","stage":"district_preliminary"}`),
		ev("fs1", "filing.status_changed", "2026-11-20T02:00:00Z", "", `{`+key+`,"filing":"FIL-000042","stage":"city_review","status":"in_review"}`),
		ev("fs2", "filing.status_changed", "2026-11-20T02:30:00Z", "", `{`+key+`,"filing":"FIL-000042","stage":"expert_review","status":"returned","reasons":["safety officer Zhang Wei holds no valid certificate"]}`),
		ev("plan", "plan.baselined", "2026-11-20T04:00:00Z", "", `{"milestones":[{"id":"M1","name":"Piling","optimistic_days":10,"likely_days":12,"pessimistic_days":16,"budget_share":0.25},{"id":"M2","name":"Structure","optimistic_days":100,"likely_days":120,"pessimistic_days":160,"depends_on":["M1"],"budget_share":0.75}]}`),
		ev("att", "attendance.reported", "2026-11-20T04:10:00Z", "", `{"period":"2026-11","worker_days":1200,"workers":60}`),
		ev("hz", "hazard.found", "2026-11-20T04:20:00Z", "P-001-S1", `{"hazard":"HZ-1","severity":"major","category":"scaffolding","deadline":"2026-11-30","milestone":"M1","description":"wall ties missing"}`),
		ev("prog", "progress.reported", "2026-11-20T04:30:00Z", "", `{"milestone":"M1","percent_complete":100}`),
		ev("done", "milestone.completed", "2026-11-20T04:40:00Z", "", `{"milestone":"M1"}`),
		ev("acc", "acceptance.passed", "2026-11-20T04:50:00Z", "", `{"milestone":"M1"}`),
	}
}

// TestFilingsAndDecisionsByRole: the filing's review and the held
// disbursement reach a regulator and the project's contractor in full,
// the public as stages with dates only (no reasons, receipts, funds or
// decisions), on REST and on the websocket, before and after a change.
func TestFilingsAndDecisionsByRole(t *testing.T) {
	srv, src, _, _ := wsServer(t, nil)
	src.apply(t, outwardEvents()...)

	full := []string{`"filings"`, `"history"`, `"stage":"city_review"`, `"status":"returned"`, `Zhang Wei`, `"receipt":"RCPT-42"`,
		`"outcome":"hold"`, `"status":"held"`, `major hazard HZ-1 open`, `"wage_periods"`, `"expected_cny"`}
	const registration = `{"kind":"registration","stage":"returned","at":"expert","steps":[{"stage":"requested","time":"2026-11-20T01:00:00Z"},` +
		`{"stage":"district","time":"2026-11-20T01:10:00Z"},{"stage":"city","time":"2026-11-20T02:00:00Z"},{"stage":"returned","at":"expert","time":"2026-11-20T02:30:00Z"}]}`
	public := []string{`"filings":[` + registration}
	private := []string{`Zhang Wei`, `"reasons"`, `"receipt"`, `RCPT-`, `FIL-`, `"decision"`, `"wage_periods"`, `"arrears`, `"funds"`, `hazard`}

	get := func(t *testing.T, token, path string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	check := func(t *testing.T, body string, contains, lacks []string) {
		t.Helper()
		for _, w := range contains {
			if !strings.Contains(body, w) {
				t.Errorf("lacks %s: %s", w, body)
			}
		}
		for _, w := range lacks {
			if strings.Contains(body, w) {
				t.Errorf("has %s: %s", w, body)
			}
		}
	}

	for _, c := range []struct {
		name, token, path string
		status            int
		contains, lacks   []string
	}{
		{"regulator twin", "regulator-token-0001", "/api/twins/P-001", 200, full, nil},
		{"contractor own twin", "contractor-token-c1x", "/api/twins/P-001", 200, full, nil},
		{"contractor other twin", "contractor-token-c2x", "/api/twins/P-001", 403, []string{"not one of its parties"}, []string{"Zhang Wei"}},
		{"public twin", "public-token-000001", "/api/twins/P-001", 200, public, private},
		{"regulator filing alerts", "regulator-token-0001", "/api/alerts?kind=filing", 200, []string{`"rule":"filing"`, `"kind":"filing"`, `Zhang Wei`}, []string{`"rule":"noise_leq"`}},
		{"public filing alerts", "public-token-000001", "/api/alerts?kind=filing", 200, nil, []string{`Zhang Wei`, `"rule":"filing"`}},
		{"bad kind", "regulator-token-0001", "/api/alerts?kind=filings", 400, []string{`"error"`, "kind"}, nil},
	} {
		t.Run("REST "+c.name, func(t *testing.T) {
			status, body := get(t, c.token, c.path)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
			check(t, body, c.contains, c.lacks)
		})
	}

	t.Run("websocket", func(t *testing.T) {
		pub, _, err := dial(t, srv, "public-token-000001", nil)
		if err != nil {
			t.Fatal(err)
		}
		reg, _, err := dial(t, srv, "regulator-token-0001", nil)
		if err != nil {
			t.Fatal(err)
		}
		con, _, err := dial(t, srv, "contractor-token-c2x", nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*wsClient{pub, reg, con} {
			c.send(map[string]any{"op": "subscribe", "topic": "twin", "project": "P-001"})
		}
		if m := con.until("error", isType("error", "")); m["status"] != 403.0 {
			t.Errorf("another contractor subscribing: %v", m)
		}
		// a map re-encoded sorts its keys: compare the filings decoded
		publicTwin := func(m map[string]any) {
			t.Helper()
			b, _ := json.Marshal(m["twin"])
			check(t, string(b), nil, private)
			var got struct{ Filings []PublicFiling }
			json.Unmarshal(b, &got)
			if len(got.Filings) == 0 {
				t.Fatalf("public twin without filings: %s", b)
			}
			if g, _ := json.Marshal(got.Filings[0]); string(g) != registration {
				t.Errorf("public filing %s, want %s", g, registration)
			}
		}
		publicTwin(pub.until("public snapshot", isType("snapshot", "twin")))
		b, _ := json.Marshal(reg.until("regulator snapshot", isType("snapshot", "twin"))["twin"])
		check(t, string(b), full, nil)

		// the hazard is closed: the disbursement stays held, for the site's
		// noise alarm alone
		src.apply(t,
			`{"specversion":"1.0","id":"rect","type":"hazard.rectified","source":"t","time":"2026-11-20T05:00:00Z","project":"P-001","site":"P-001-S1","data":{"hazard":"HZ-1"}}`,
			`{"specversion":"1.0","id":"reinsp","type":"inspection.completed","source":"t","time":"2026-11-20T05:10:00Z","project":"P-001","site":"P-001-S1","data":{"inspection":"IN-1","result":"pass","hazard":"HZ-1"}}`)
		m := reg.until("hazard closed", func(m map[string]any) bool {
			b, _ := json.Marshal(m)
			return m["type"] == "twin" && !strings.Contains(string(b), `HZ-1 open`) && !strings.Contains(string(b), `awaiting re-inspection`)
		})
		b, _ = json.Marshal(m["twin"])
		check(t, string(b), []string{`"outcome":"hold"`, `site P-001-S1 in alarm (noise_leq)`}, nil)
		publicTwin(pub.until("public change", isType("twin", "")))
	})
}
