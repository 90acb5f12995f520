package dashboard

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/scenarios"
	"github.com/sitetwin/sitetwin/twin"
)

// fakeDrills is a Drills that "runs" a drill of two sites and three steps
// when told to, on the test's goroutine.
type fakeDrills struct {
	mu      sync.Mutex
	watch   []func(DrillUpdate)
	status  DrillStatus
	started bool
	sites   []scenarios.TimelineSite
	steps   []scenarios.Step
}

var _ Drills = (*fakeDrills)(nil)

func (f *fakeDrills) Start(_ context.Context, b []byte) (DrillStatus, error) {
	if strings.Contains(string(b), "meteor") {
		return DrillStatus{}, &scenarios.FieldError{Field: "kind", Rule: "must be one of typhoon, ..."}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started {
		return DrillStatus{}, ErrDrillBusy
	}
	f.started = true
	f.status = DrillStatus{ID: "d1", Name: "test", Kind: "events", State: DrillRunning, Steps: 3, Link: DrillLinks("d1")}
	return f.status, nil
}

func (f *fakeDrills) Drill(id string) (DrillStatus, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, f.started && id == f.status.ID
}

func (f *fakeDrills) List() []DrillStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started {
		return nil
	}
	return []DrillStatus{f.status}
}

func (f *fakeDrills) Timeline(id string) (*scenarios.Timeline, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started || id != f.status.ID {
		return nil, false
	}
	return &scenarios.Timeline{Sites: f.sites, Steps: f.steps}, true
}

func (f *fakeDrills) Report(string) ([]byte, bool) { return nil, false }

func (f *fakeDrills) Watch(fn func(DrillUpdate)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watch = append(f.watch, fn)
	return func() {}
}

// play tells the watchers of the start, three steps and the end.
func (f *fakeDrills) play() {
	f.mu.Lock()
	f.sites = []scenarios.TimelineSite{{ID: "S1", Project: "P-1", Lat: 22.5, Lon: 114}, {ID: "S2", Project: "P-2", Lat: 22.6, Lon: 114.1}}
	ws, st, sites := f.watch, f.status, f.sites
	f.mu.Unlock()
	for _, fn := range ws {
		fn(DrillUpdate{Status: st, Sites: sites})
	}
	for k := range 3 {
		step := &scenarios.Step{Time: time.Date(2026, 9, 14, 0, 10*(k+1), 0, 0, time.UTC), Level: []int8{int8(k), 0}, GroundMS: []float64{1, 2}, JibMS: []float64{3, 4},
			Alerts: []twin.Alert{{Project: "P-1", Rule: "crane_wind", Level: twin.LevelWarn, Drill: "d1"}}}
		f.mu.Lock()
		f.steps = append(f.steps, *step)
		f.status.StepsDone = k + 1
		st = f.status
		f.mu.Unlock()
		for _, fn := range ws {
			fn(DrillUpdate{Status: st, Step: step, Index: k})
		}
	}
	f.mu.Lock()
	f.status.State = DrillDone
	st = f.status
	f.mu.Unlock()
	for _, fn := range ws {
		fn(DrillUpdate{Status: st})
	}
}

func TestDrillEndpoints(t *testing.T) {
	t.Run("without a runner", func(t *testing.T) {
		srv, _, _, _ := wsServer(t, nil)
		status, body := call(t, http.MethodPost, srv.URL+"/api/drills", "regulator-token-0001", "{}")
		if status != http.StatusNotFound || !strings.Contains(body, "no live drills") {
			t.Errorf("POST without a runner: %d %s", status, body)
		}
	})
	f := &fakeDrills{}
	srv, _, _, _ := wsServer(t, func(c *Config) { c.Drills = f })
	for _, c := range []struct {
		name, method, path, token, body string
		status                          int
		want                            string
	}{
		{"public may not start", http.MethodPost, "/api/drills", "public-token-000001", "{}", http.StatusForbidden, "public"},
		{"contractor may not start", http.MethodPost, "/api/drills", "contractor-token-c1x", "{}", http.StatusForbidden, "contractor"},
		{"contractor may not look", http.MethodGet, "/api/drills", "contractor-token-c1x", "", http.StatusForbidden, "contractor"},
		{"bad scenario", http.MethodPost, "/api/drills", "regulator-token-0001", `{"kind":"meteor"}`, http.StatusBadRequest, "scenario: kind: must be one of"},
		{"empty body", http.MethodPost, "/api/drills", "regulator-token-0001", "", http.StatusBadRequest, "empty"},
		{"wrong method", http.MethodPut, "/api/drills", "regulator-token-0001", "{}", http.StatusMethodNotAllowed, "GET or POST"},
		{"no such drill", http.MethodGet, "/api/drills/nope", "regulator-token-0001", "", http.StatusNotFound, "nope"},
		{"start", http.MethodPost, "/api/drills", "regulator-token-0001", `{"kind":"events"}`, http.StatusAccepted, `"id":"d1"`},
		{"one at a time", http.MethodPost, "/api/drills", "regulator-token-0001", `{"kind":"events"}`, http.StatusConflict, "running"},
		{"status", http.MethodGet, "/api/drills/d1", "regulator-token-0001", "", http.StatusOK, `"timeline":"/api/drills/d1/timeline"`},
		{"report while running", http.MethodGet, "/api/drills/d1/report", "regulator-token-0001", "", http.StatusConflict, "running"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := call(t, c.method, srv.URL+c.path, c.token, c.body)
			if status != c.status || !strings.Contains(body, c.want) {
				t.Errorf("%s %s: %d %s, want %d with %q", c.method, c.path, status, body, c.status, c.want)
			}
		})
	}

	pub, _, _ := dial(t, srv, "public-token-000001", nil)
	pub.send(map[string]any{"id": "p", "op": "subscribe", "topic": "drill"})
	if m := pub.until("error", isType("error", "")); m["status"] != float64(http.StatusForbidden) {
		t.Errorf("public drill subscription: %v", m)
	}

	c, _, _ := dial(t, srv, "regulator-token-0001", nil)
	c.send(map[string]any{"id": "r", "op": "subscribe", "topic": "drill"})
	c.until("ack", isType("ack", "drill"))
	if m := c.until("snapshot", isType("snapshot", "drill")); m["drill"].(map[string]any)["id"] != "d1" {
		t.Fatalf("snapshot %v", m)
	}
	f.play()
	m := c.until("layer", func(m map[string]any) bool { return m["type"] == "snapshot" && m["sites"] != nil })
	if len(m["sites"].([]any)) != 2 || m["levels"] != "00" {
		t.Errorf("layer %v", m)
	}
	m = c.until("last step", func(m map[string]any) bool {
		s, _ := m["step"].(map[string]any)
		return m["type"] == "drill" && s != nil && s["index"] == float64(2)
	})
	if m["levels"] != "20" || m["step"].(map[string]any)["max_jib_ms"] != float64(4) {
		t.Errorf("step %v", m)
	}
	c.until("end", func(m map[string]any) bool {
		return m["type"] == "drill" && m["drill"].(map[string]any)["state"] == DrillDone
	})
}

func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, sb.String()
}
