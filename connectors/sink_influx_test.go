package connectors

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitetwin/sitetwin/twin"
)

// fakeViews is a ViewSource with one view, whose watchers the test calls.
type fakeViews struct {
	mu      sync.Mutex
	fns     []func([]string, []twin.Alert)
	v       *twin.ProjectView
	watched chan struct{}
}

func (f *fakeViews) Watch(fn func([]string, []twin.Alert)) func() {
	f.mu.Lock()
	f.fns = append(f.fns, fn)
	f.mu.Unlock()
	close(f.watched)
	return func() {}
}

func (f *fakeViews) Twin(string) (*twin.ProjectView, bool) { return f.v, true }

func (f *fakeViews) changed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fn := range f.fns {
		fn([]string{f.v.ID}, nil)
	}
}

// TestInfluxSinkPointsAndFailures: the sink writes line protocol for the
// view's readings and KPIs, and counts the batches InfluxDB refuses.
func TestInfluxSinkPointsAndFailures(t *testing.T) {
	bodies := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- string(b)
		w.WriteHeader(http.StatusBadRequest) // not retried by the client
		io.WriteString(w, `{"code":"invalid","message":"database not found"}`)
	}))
	defer srv.Close()
	at := time.Date(2026, 6, 12, 3, 18, 0, 0, time.UTC)
	src := &fakeViews{watched: make(chan struct{}), v: &twin.ProjectView{
		ID: "P-1", Info: twin.ProjectInfo{District: "Nanshan"}, Clock: at, Applied: 7, Health: twin.Red,
		Schedule: twin.Schedule{SPIt: 0.83},
		Sites:    []twin.SiteView{{ID: "P-1-S1", Sensors: []twin.SensorView{{Kind: "pm10", Value: 168, Unit: "µg/m³", Time: at, Event: "e1"}}}},
	}}
	reg := prometheus.NewRegistry()
	s, err := NewInfluxSink(src, InfluxConfig{URL: srv.URL, Bucket: "b", FlushInterval: 10 * time.Millisecond, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	<-src.watched
	src.changed()
	body := <-bodies
	for _, want := range []string{`sensor,district=Nanshan,kind=pm10,project=P-1,site=P-1-S1,unit=µg/m³ value=168 1781234280000000000`, `twin,district=Nanshan,project=P-1 `, `health=2i`, `spi_t=0.83`} {
		if !strings.Contains(body, want) {
			t.Errorf("written:\n%s\nlacks %s", body, want)
		}
	}
	src.changed() // nothing new: nothing written
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := counterValue(s.m.errors); n != 1 {
		t.Fatalf("write errors %v, want 1", n)
	}
	if n := counterValue(s.m.points.WithLabelValues("sensor")); n != 1 {
		t.Fatalf("sensor points %v, want 1 (the same reading is written once)", n)
	}
}

// TestGrafanaDashboard: the dashboard parses and asks only for what the
// sink writes.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("../deploy/grafana/sitetwin.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Query string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	fields := map[string]bool{"value": true, "threshold": true, "level": true, "spi_t": true, "spi": true, "ev": true, "pv": true, "health": true,
		"open_hazards": true, "open_alarms": true, "arrears_days": true, "arrears_cny": true, "disbursed_cny": true, "earned_cny": true,
		"wage_balance_cny": true, "credit": true}
	meas := map[string]bool{"sensor": true, "rule": true, "twin": true, "prediction": true}
	n := 0
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			n++
			for _, m := range regexp.MustCompile(`_measurement == "([^"]+)"`).FindAllStringSubmatch(q.Query, -1) {
				if !meas[m[1]] {
					t.Errorf("%s: measurement %s is not written", p.Title, m[1])
				}
			}
			for _, m := range regexp.MustCompile(`_field == "([^"]+)"`).FindAllStringSubmatch(q.Query, -1) {
				if !fields[m[1]] {
					t.Errorf("%s: field %s is not written", p.Title, m[1])
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("%d queries", n)
	}
}
