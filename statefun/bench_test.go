package statefun_test

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/statefun"
	"github.com/sitetwin/sitetwin/twin"
)

// steadyCity returns a simulated project after its history and an hour of
// live events at one per second (a steady-state twin with full sensor
// windows, as bench restore's second table), and the city to draw more.
func steadyCity(b *testing.B) (*twin.ProjectTwin, *citysim.City) {
	b.Helper()
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	city, err := citysim.New(citysim.Config{Projects: 1, Seed: 1, Start: start, Rate: 1})
	if err != nil {
		b.Fatal(err)
	}
	rules := twin.DefaultRules()
	var p *twin.ProjectTwin
	apply := func(e *twin.Event) {
		if p == nil {
			p = twin.NewProject(e.Project, rules)
		}
		twin.Apply(p, e, rules) //nolint:errcheck // a rejected event changes nothing
	}
	for _, e := range city.Bootstrap() {
		apply(e)
	}
	for e := city.Next(); e != nil && e.Time.Before(start.Add(time.Hour)); e = city.Next() {
		apply(e)
	}
	return p, city
}

// BenchmarkInvoke measures invocations per second through the handler
// (ServeHTTP without the network) for batches of 1, 10 and 100 live events
// of one steady-state project, the state carried from response to request
// as the runtime does. Building requests and reading responses (the
// runtime's work) is not timed.
func BenchmarkInvoke(b *testing.B) {
	for _, size := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			p, city := steadyCity(b)
			state, err := statefun.EncodeProjectState(&statefun.ProjectState{Twin: p})
			if err != nil {
				b.Fatal(err)
			}
			srv := newServer(b, statefun.Config{})
			stateBytes := 0
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				req := toFunction{Target: projectAddr(p.ID), State: []persisted{{Name: "project", Value: &typedValue{statefun.ProjectStateTypeName, true, state}}}}
				for range size {
					e := city.Next()
					req.Invocations = append(req.Invocations, invocation{Arg: typedValue{statefun.IngressTypeName(twin.StreamOf(e.Type)), true, encode(b, e)}})
				}
				hr := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(req.encode()))
				hr.Header.Set("Content-Type", "application/octet-stream")
				w := httptest.NewRecorder()
				b.StartTimer()
				srv.ServeHTTP(w, hr)
				b.StopTimer()
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
				from, err := decodeFromFunction(w.Body.Bytes())
				if err != nil || from.Result == nil {
					b.Fatalf("response: %v", err)
				}
				for _, m := range from.Result.Mutations {
					state = m.Value.Value
				}
				stateBytes = len(state)
				b.StartTimer()
			}
			b.ReportMetric(float64(size*b.N)/b.Elapsed().Seconds(), "invocations/s")
			b.ReportMetric(float64(stateBytes), "state-bytes")
		})
	}
}

// BenchmarkStateCodec compares the state format chosen (the changelog's
// binary snapshot in the JSON envelope) with the same bytes deflated:
// size, and the time to encode and decode one steady-state project.
func BenchmarkStateCodec(b *testing.B) {
	p, _ := steadyCity(b)
	st := &statefun.ProjectState{Twin: p}
	b.Run("state", func(b *testing.B) {
		var n int
		for range b.N {
			enc, err := statefun.EncodeProjectState(st)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := statefun.DecodeProjectState(enc); err != nil {
				b.Fatal(err)
			}
			n = len(enc)
		}
		b.ReportMetric(float64(n), "state-bytes")
	})
	b.Run("state+deflate", func(b *testing.B) {
		var n int
		for range b.N {
			enc, err := statefun.EncodeProjectState(st)
			if err != nil {
				b.Fatal(err)
			}
			var buf bytes.Buffer
			w, _ := flate.NewWriter(&buf, flate.BestSpeed)
			w.Write(enc) //nolint:errcheck // a buffer does not fail
			w.Close()
			n = buf.Len()
			dec, err := io.ReadAll(flate.NewReader(&buf))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := statefun.DecodeProjectState(dec); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n), "state-bytes")
	})
}
