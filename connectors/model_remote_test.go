package connectors

import (
	"context"
	"encoding/json"
	"errors"
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
