package dashboard

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sitetwin/sitetwin/twin"
)

// memSource is a Source over twins built with twin.Apply.
type memSource struct {
	twins  map[string]*twin.ProjectTwin
	alerts []twin.Alert
}

func (m *memSource) Twin(id string) (*twin.ProjectView, bool) {
	p, ok := m.twins[id]
	if !ok {
		return nil, false
	}
	return p.View(), true
}

func (m *memSource) Twins() []*twin.ProjectView {
	var out []*twin.ProjectView
	for _, id := range []string{"P-001", "P-002", "P-003"} {
		if p, ok := m.twins[id]; ok {
			out = append(out, p.View())
		}
	}
	return out
}

func (m *memSource) Alerts(n int) []twin.Alert {
	out := make([]twin.Alert, 0, len(m.alerts))
	for i := len(m.alerts) - 1; i >= 0; i-- {
		out = append(out, m.alerts[i])
	}
	if n > 0 && n < len(out) {
		out = out[:n]
	}
	return out
}

func mustDecode(t testing.TB, s string) *twin.Event {
	t.Helper()
	e, err := twin.Decode([]byte(s))
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return e
}

// newSource builds three projects: P-001 red (noise) in Nanshan with a
// crane, P-002 green in Futian, P-003 amber (PM10) in Nanshan, far away.
func newSource(t testing.TB) *memSource {
	t.Helper()
	r := twin.DefaultRules()
	src := &memSource{twins: map[string]*twin.ProjectTwin{}}
	apply := func(js string) {
		e := mustDecode(t, js)
		p, ok := src.twins[e.Project]
		if !ok {
			p = twin.NewProject(e.Project, r)
			src.twins[e.Project] = p
		}
		eff, err := twin.Apply(p, e, r)
		if err != nil {
			t.Fatalf("apply %s: %v", js, err)
		}
		src.alerts = append(src.alerts, eff.Alerts...)
	}
	reg := func(id, name, district string) string {
		contractor := "C-1"
		if id == "P-002" {
			contractor = "C-2"
		}
		return `{"specversion":"1.0","id":"reg-` + id + `","type":"project.registered","source":"t","time":"2026-11-20T01:00:00Z","project":"` + id +
			`","data":{"name":"` + name + `","district":"` + district + `","kind":"housing","owner":"O-1","contractor":"` + contractor + `","supervisor":"S-1","budget_cny":1e8,"planned_start":"2026-11-15","planned_finish":"2027-12-31"}}`
	}
	site := func(id, lat, lon string) string {
		return `{"specversion":"1.0","id":"site-` + id + `","type":"site.added","source":"t","time":"2026-11-20T01:00:00Z","project":"` + id + `","site":"` + id +
			`-S1","data":{"name":"main","lat":` + lat + `,"lon":` + lon + `,"terrain":"C"}}`
	}
	apply(reg("P-001", "Qianhai Tower", "Nanshan"))
	apply(site("P-001", "22.52", "113.93"))
	apply(`{"specversion":"1.0","id":"eq1","type":"equipment.installed","source":"t","time":"2026-11-20T01:00:00Z","project":"P-001","site":"P-001-S1","data":{"equipment":"P-001-S1-TC1","kind":"tower_crane","height_m":120,"jib_length_m":60}}`)
	apply(`{"specversion":"1.0","id":"n1","type":"sensor.reading","source":"t","time":"2026-11-20T03:00:00Z","project":"P-001","site":"P-001-S1","data":{"kind":"noise","value":95,"unit":"dB(A)"}}`)
	apply(reg("P-002", "Futian School", "Futian"))
	apply(site("P-002", "22.54", "114.05"))
	apply(reg("P-003", "Shekou Pier", "Nanshan"))
	apply(site("P-003", "22.48", "113.91"))
	for i, v := range []string{"160", "170"} {
		apply(`{"specversion":"1.0","id":"d` + string(rune('0'+i)) + `","type":"sensor.reading","source":"t","time":"2026-11-20T03:0` + string(rune('0'+i)) + `:00Z","project":"P-003","site":"P-003-S1","data":{"kind":"pm10","value":` + v + `,"unit":"µg/m³"}}`)
	}
	return src
}

func TestAPI(t *testing.T) {
	src := newSource(t)
	healthy := true
	s, err := New(Config{Source: src, Open: true, Health: func() error {
		if healthy {
			return nil
		}
		return errors.New("degraded: broker unreachable")
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()

	cases := []struct {
		name, method, path string
		status             int
		contains           []string
	}{
		{"list", "GET", "/api/twins", 200, []string{`"total":3`, `"red":1`, `"amber":1`, `"green":1`, `"P-001"`}},
		{"filter health", "GET", "/api/twins?health=red", 200, []string{`"total":1`, `"id":"P-001"`, `noise Leq 20 min 95.0 dB(A) > 70.0 day limit`}},
		{"filter district", "GET", "/api/twins?district=nanshan", 200, []string{`"total":2`, `"P-001"`, `"P-003"`}},
		{"paging", "GET", "/api/twins?limit=1&offset=1", 200, []string{`"total":3`, `"id":"P-002"`}},
		{"search", "GET", "/api/twins?q=pier", 200, []string{`"total":1`, `"P-003"`}},
		{"bad health", "GET", "/api/twins?health=purple", 400, []string{`query parameter health: must be one of green, amber, red`}},
		{"bad limit", "GET", "/api/twins?limit=0", 400, []string{`limit: must be a whole number from 1 to 10000`}},
		{"one twin", "GET", "/api/twins/P-001", 200, []string{`"health":"red"`, `"value":95`, `"rule":"noise_leq"`, `"reasons":["P-001-S1: noise`}},
		{"unknown twin", "GET", "/api/twins/P-999", 404, []string{`no twin for project \"P-999\"`}},
		{"audit", "GET", "/api/twins/P-001/audit", 200, []string{`"verified":true`, `"records":[]`}},
		{"alerts", "GET", "/api/alerts", 200, []string{`"rule":"pm10_hourly"`, `"rule":"noise_leq"`}},
		{"alerts by project", "GET", "/api/alerts?project=P-001", 200, []string{`"total":1`, `"noise_leq"`}},
		{"active alarms", "GET", "/api/alerts?active=true&level=stop", 200, []string{`"total":1`, `"project":"P-001"`}},
		{"bad level", "GET", "/api/alerts?level=orange", 400, []string{`level: must be one of ok, warn, stop`}},
		{"near", "GET", "/api/sites/near?lat=22.52&lon=113.93&radius_km=6", 200, []string{`"total":2`, `"site":"P-001-S1"`, `"P-001-S1-TC1"`, `"site":"P-003-S1"`}},
		{"near small radius", "GET", "/api/sites/near?lat=22.52&lon=113.93&radius_km=1", 200, []string{`"total":1`}},
		{"near missing lat", "GET", "/api/sites/near?lon=113.93&radius_km=1", 400, []string{`lat: is required`}},
		{"near bad lon", "GET", "/api/sites/near?lat=22&lon=500&radius_km=1", 400, []string{`lon: must be a number from -180 to 180`}},
		{"method", "POST", "/api/twins", 405, []string{`POST is not allowed here; use GET`}},
		{"unknown api", "GET", "/api/nope", 404, []string{`no API endpoint /api/nope`}},
		{"alerts by kind", "GET", "/api/alerts?kind=sensor&project=P-001", 200, []string{`"total":1`, `"kind":"sensor"`}},
		{"bad kind", "GET", "/api/alerts?kind=purple", 400, []string{`kind: must be one of`}},
		{"series", "GET", "/api/twins/P-003/sites/P-003-S1/series?key=pm10", 200, []string{`"unit":"µg/m³"`, `"rule":"pm10_hourly"`, `"warn":150`, `"stop":200`}},
		{"series without key", "GET", "/api/twins/P-003/sites/P-003-S1/series", 400, []string{`key: is required`}},
		{"series unknown site", "GET", "/api/twins/P-003/sites/nope/series?key=pm10", 404, []string{`has no site`}},
		{"crane limits", "GET", "/api/twins/P-001/sites/P-001-S1/series?key=wind_speed@P-001-S1-TC1", 200, []string{`"rule":"crane_wind"`}},
		{"openapi", "GET", "/api/openapi.json", 200, []string{`"openapi"`}},
		{"static", "GET", "/static/app.js", 200, nil},
		{"static missing", "GET", "/static/nope.js", 404, []string{`no static file`}},
		{"healthz", "GET", "/healthz", 200, []string{`"status":"ok"`}},
		{"page", "GET", "/", 200, []string{`<title>sitetwin`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.status >= 400 {
				var e apiError
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || e.Status != c.status {
					t.Errorf("error body is not JSON with a message: %s", body)
				}
			}
			for _, want := range c.contains {
				if !strings.Contains(string(body), want) {
					t.Errorf("body does not contain %s:\n%s", want, body)
				}
			}
		})
	}

	t.Run("degraded", func(t *testing.T) {
		healthy = false
		defer func() { healthy = true }()
		resp, err := http.Get(srv.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 503 || !strings.Contains(string(body), `"status":"degraded"`) {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})

	t.Run("audit detects tampering", func(t *testing.T) {
		p := src.twins["P-002"]
		r := twin.DefaultRules()
		pay := mustDecode(t, `{"specversion":"1.0","id":"pay1","type":"funds.disbursed","source":"fund-svc","time":"2026-11-20T04:00:00Z","project":"P-002","data":{"amount_cny":1000000}}`)
		if _, err := twin.Apply(p, pay, r); err != nil {
			t.Fatal(err)
		}
		p.Audit[0].AmountCNY = 9000000 // an after-the-fact edit
		resp, err := http.Get(srv.URL + "/api/twins/P-002/audit")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), `"verified":false`) || !strings.Contains(string(body), "record 0 (seq 1)") {
			t.Fatalf("tampering not reported: %s", body)
		}
	})
}
