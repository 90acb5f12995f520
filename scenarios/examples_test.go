package scenarios

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/twin"
)

// testCity is a small simulated city of seed 1, built once.
var testCity = sync.OnceValues(func() ([]*twin.ProjectTwin, error) {
	c, err := citysim.New(citysim.Config{Projects: 30, Seed: 1, Start: time.Date(2026, 9, 14, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		return nil, err
	}
	return CityTwins(c, twin.DefaultRules())
})

func cityTwins(t testing.TB) []*twin.ProjectTwin {
	t.Helper()
	tw, err := testCity()
	if err != nil {
		t.Fatal(err)
	}
	return tw
}

// readExample parses a scenario of examples/, its files read beside it.
func readExample(t testing.TB, name string) *Scenario {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("examples", name))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse(b, func(f string) ([]byte, error) { return os.ReadFile(filepath.Join("examples", f)) })
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return s
}

// TestExamples parses and runs every example on the simulated city.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*.json")
	if err != nil || len(files) < 8 {
		t.Fatalf("examples: %v %v", files, err)
	}
	kinds := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			s := readExample(t, name)
			kinds[s.Kind] = true
			if s.Typhoon != nil {
				s.Typhoon.Members = min(s.Typhoon.Members, 10) // fast; the ensemble size changes only P(exceed)
			}
			res, err := Run(context.Background(), s, cityTwins(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			tl, pl := res.Timeline, res.Plan
			if len(tl.Steps) != int(s.Duration.D()/s.Step.D()) {
				t.Fatalf("%d steps, want %d", len(tl.Steps), s.Duration.D()/s.Step.D())
			}
			if pl.KPIs.EventsApplied == 0 {
				t.Fatal("no event applied")
			}
			if pl.KPIs.EventsRejected > 0 {
				t.Errorf("%d events rejected", pl.KPIs.EventsRejected)
			}
			t.Logf("%s: actions %d (late %d), incidents %d (unserved %d), alerts %d, peak stop orders %d, secured after %.1f h",
				name, pl.KPIs.Actions, pl.KPIs.ActionsLate, pl.KPIs.Incidents, pl.KPIs.Unserved, pl.KPIs.AlertsRaised, pl.KPIs.PeakStopOrders, pl.KPIs.SecuredAfterHours)
		})
	}
	for _, k := range Kinds() {
		if !kinds[k] {
			t.Errorf("no example of kind %s", k)
		}
	}
}
