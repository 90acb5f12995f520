package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

func view(t *testing.T) *twin.ProjectView {
	t.Helper()
	r := twin.DefaultRules()
	p := twin.NewProject("P-1", r)
	start, _ := twin.ParseWhen("2026-01-01")
	fin, _ := twin.ParseWhen("2027-01-01")
	e := &twin.Event{ID: "r", Type: twin.TypeProjectRegistered, Source: "t", Time: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC), Project: "P-1",
		Data: &twin.ProjectRegistered{Name: "n", District: "Futian", Kind: "school", Owner: "O", Contractor: "C", Supervisor: "S", BudgetCNY: 1e8, PlannedStart: start, PlannedFinish: fin}}
	if _, err := twin.Apply(p, e, r); err != nil {
		t.Fatal(err)
	}
	return p.View()
}

func TestRemoteModel(t *testing.T) {
	var got remoteRequest
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Write([]byte(`{"values":{"p_on_time":0.42},"summary":"behind","effects":[{"input":"spi_t","value":0.8,"effect":-0.2}]}`))
	})
	mux.HandleFunc("/na", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/boom", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "model crashed", http.StatusInternalServerError)
	})
	mux.HandleFunc("/garbage", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(`<html>`)) })
	release := make(chan struct{})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select { // answers only after the client has given up
		case <-r.Context().Done():
		case <-release:
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer close(release)
	v := view(t)

	t.Run("answers", func(t *testing.T) {
		m, err := NewRemoteModel("pydelay", srv.URL+"/ok", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var _ predict.Model = m
		p, err := m.Predict(context.Background(), v)
		if err != nil {
			t.Fatal(err)
		}
		if p.Values["p_on_time"] != 0.42 || p.Model != "pydelay" || p.Project != "P-1" || len(p.Effects) != 1 || p.Summary != "behind" {
			t.Fatalf("prediction %+v", p)
		}
		if got.Model != "pydelay" || got.Project != "P-1" || got.Features["budget_cny"] != 1e8 || got.Features["sites"] != 0 {
			t.Fatalf("request %+v", got)
		}
	})
	cases := []struct {
		path, want string
		na         bool
	}{
		{"/na", "", true},
		{"/boom", "500 Internal Server Error: model crashed", false},
		{"/garbage", "not the documented JSON", false},
		{"/slow", "Timeout", false},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			m, _ := NewRemoteModel("x", srv.URL+c.path, 50*time.Millisecond)
			_, err := m.Predict(context.Background(), v)
			if c.na != errors.Is(err, predict.ErrNotApplicable) || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q (not applicable: %v)", err, c.want, c.na)
			}
		})
	}
	t.Run("bad url", func(t *testing.T) {
		if _, err := NewRemoteModel("x", "ftp://nope", 0); err == nil {
			t.Fatal("ftp URL accepted")
		}
	})
}

// TestRemoteModelSites: the request carries every registered site with
// the documented site features (predict.SiteFeatures), an empty array for
// a project without one, and a per-site answer comes back as it was sent.
func TestRemoteModelSites(t *testing.T) {
	var raw []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ = io.ReadAll(r.Body)
		var req remoteRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		vals := map[string]float64{"p_incident_30d": 0}
		for _, s := range req.Sites {
			p := 0.05 + 0.25*s.Features["hazards_open_major"]
			vals["p_incident_30d@"+s.ID] = p
			vals["p_incident_30d"] = max(vals["p_incident_30d"], p)
		}
		json.NewEncoder(w).Encode(map[string]any{"values": vals, "summary": "remote safety"})
	}))
	defer srv.Close()
	m, err := NewRemoteModel("pysafety", srv.URL, time.Second)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("no sites", func(t *testing.T) {
		if _, err := m.Predict(context.Background(), view(t)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"sites":[]`) {
			t.Fatalf("request %s: want an empty sites array", raw)
		}
	})

	t.Run("registered sites", func(t *testing.T) {
		r := twin.DefaultRules()
		p := twin.NewProject("P-1", r)
		for _, js := range []string{
			`{"specversion":"1.0","id":"r","type":"project.registered","source":"t","time":"2026-06-01T00:00:00Z","project":"P-1","data":{"name":"n","district":"Futian","kind":"school","owner":"O","contractor":"C","supervisor":"S","budget_cny":1e8,"planned_start":"2026-01-01","planned_finish":"2027-01-01"}}`,
			`{"specversion":"1.0","id":"s1","type":"site.added","source":"t","time":"2026-06-01T00:01:00Z","project":"P-1","site":"P-1-S1","data":{"name":"main","lat":22.5,"lon":114,"terrain":"C"}}`,
			`{"specversion":"1.0","id":"s2","type":"site.added","source":"t","time":"2026-06-01T00:02:00Z","project":"P-1","site":"P-1-S2","data":{"name":"yard","lat":22.51,"lon":114.01,"terrain":"B"}}`,
			`{"specversion":"1.0","id":"eq","type":"equipment.installed","source":"t","time":"2026-06-01T00:03:00Z","project":"P-1","site":"P-1-S1","data":{"equipment":"P-1-S1-TC1","kind":"tower_crane","height_m":80,"jib_length_m":60}}`,
			`{"specversion":"1.0","id":"hz","type":"hazard.found","source":"t","time":"2026-06-01T00:04:00Z","project":"P-1","site":"P-1-S1","data":{"hazard":"HZ-1","severity":"major","category":"scaffolding","deadline":"2026-06-10"}}`,
		} {
			e, err := twin.Decode([]byte(js))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := twin.Apply(p, e, r); err != nil {
				t.Fatal(err)
			}
		}
		pred, err := m.Predict(context.Background(), p.View())
		if err != nil {
			t.Fatal(err)
		}
		var req remoteRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			t.Fatal(err)
		}
		if len(req.Sites) != 2 || req.Sites[0].ID != "P-1-S1" || req.Sites[1].ID != "P-1-S2" {
			t.Fatalf("sites %s: want P-1-S1 and P-1-S2", raw)
		}
		for _, s := range req.Sites {
			for _, n := range predict.SafetyFeatureNames() {
				if _, ok := s.Features[n]; !ok {
					t.Errorf("site %s lacks feature %s", s.ID, n)
				}
			}
		}
		s1, s2 := req.Sites[0].Features, req.Sites[1].Features
		if s1["cranes"] != 1 || s1["hazards_open_major"] != 1 || s1["crane_exposure"] <= 1 || s2["cranes"] != 0 || s2["hazards_open_major"] != 0 || s2["sites"] != 2 {
			t.Errorf("features S1 %v, S2 %v", s1, s2)
		}
		if req.Features["cranes"] != 1 || req.Features["hazards_open_major"] != 1 {
			t.Errorf("project features %v", req.Features)
		}
		if pred.Values["p_incident_30d@P-1-S1"] != 0.3 || pred.Values["p_incident_30d@P-1-S2"] != 0.05 || pred.Values["p_incident_30d"] != 0.3 {
			t.Errorf("values %v", pred.Values)
		}
	})
}
