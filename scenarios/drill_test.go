package scenarios

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRunLeavesLiveTwins: the drill works on a fork; the live twins are
// byte for byte what they were.
func TestRunLeavesLiveTwins(t *testing.T) {
	live := cityTwins(t)
	before := mustJSON(t, live)
	s := readExample(t, "typhoon_advisory.json")
	res, err := Run(context.Background(), s, live, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.KPIs.AlertsRaised == 0 {
		t.Fatal("the drill raised no alert")
	}
	if !bytes.Equal(before, mustJSON(t, live)) {
		t.Fatal("the drill changed the live twins")
	}
	for _, st := range res.Timeline.Steps {
		for _, a := range st.Alerts {
			if a.Drill != s.ID {
				t.Fatalf("alert %s not tagged with the drill: %q", a.ID, a.Drill)
			}
		}
	}
}

// TestRunDeterministic: same scenario, state and seed, same bytes; another
// seed, other forecasts.
func TestRunDeterministic(t *testing.T) {
	run := func(seed uint64) []byte {
		s := readExample(t, "hato_2017.json")
		s.Typhoon.Members = 10
		s.Seed = seed
		res, err := Run(context.Background(), s, cityTwins(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return mustJSON(t, res)
	}
	a, b := run(1), run(1)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs of the same drill differ")
	}
	if bytes.Equal(a, run(2)) {
		t.Fatal("another seed gave the same drill")
	}
}

// TestTyphoonPredictionsAreTheModels: the per-project predictions the drill
// records from one city-wide forecast are what the typhoon model gives
// each project on its own.
func TestTyphoonPredictionsAreTheModels(t *testing.T) {
	s := readExample(t, "typhoon_advisory.json")
	twins := cityTwins(t)
	r := twin.DefaultRules()
	model := predict.NewTyphoonModel(r)
	model.Options.Ensemble.Members = s.Typhoon.Members
	reg := &predict.Registry{}
	if err := reg.Register(model); err != nil {
		t.Fatal(err)
	}
	d := &drill{s: s, w: newWorld(twins), opt: Options{Rules: r, Models: reg}}
	adv := *s.Typhoon.Advisory
	track, err := predict.TrackFromAdvisory(&adv)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := predict.ForecastCranes(track, d.w.cranes, d.typhoonOptions())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	preds := d.typhoonPredictions(adv.Name, at, fs)
	if len(preds) < 5 {
		t.Fatalf("%d predictions", len(preds))
	}
	for _, pr := range preds[:5] {
		p := d.w.byID[pr.Project]
		v := p.View()
		v.Weather.Advisory = &adv
		want, err := model.Predict(context.Background(), v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(mustJSON(t, want.Values), mustJSON(t, pr.Values)) || want.Summary != pr.Summary || !bytes.Equal(want.Details, pr.Details) {
			t.Fatalf("%s: drill %v %q, model %v %q", pr.Project, pr.Values, pr.Summary, want.Values, want.Summary)
		}
	}
}

// TestDispatchQueues: two incidents at once and one capable team: the
// nearer team goes to the first, the second waits for it.
func TestDispatchQueues(t *testing.T) {
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	s := &Scenario{ID: "q", Resources: Resources{
		Teams: []Team{
			{ID: "near", Base: &LatLon{22.50, 114.00}, SpeedKmh: 60, Capabilities: []string{CapRescue}, OnScene: twin.Duration(time.Hour)},
			{ID: "far", Base: &LatLon{22.80, 114.30}, SpeedKmh: 60, Capabilities: []string{CapMedical}},
		},
		Hospitals: []Hospital{{ID: "h", Lat: 22.52, Lon: 114.02}},
	}}
	w := &world{sites: []TimelineSite{{ID: "A", Project: "P", Lat: 22.51, Lon: 114.01}, {ID: "B", Project: "P", Lat: 22.60, Lon: 114.10}}}
	d := &drill{s: s, w: w, start: start, end: start.Add(12 * time.Hour), step: time.Hour, n: 12}
	d.h = &hazard{incidents: []*Incident{
		d.newIncident("i1", 0, start.Add(time.Hour), twin.IncidentCollapse, 2, "", "one"),
		d.newIncident("i2", 1, start.Add(time.Hour), twin.IncidentCollapse, 0, "", "two"),
		d.newIncident("i3", 1, start.Add(2*time.Hour), twin.IncidentFire, 0, "", "no fire team"),
	}}
	if err := d.dispatch(); err != nil {
		t.Fatal(err)
	}
	as := d.dispatched.Assignments
	if len(as) != 3 {
		t.Fatalf("%d assignments: %+v", len(as), as)
	}
	// i1: rescue "near" at once (1.5 km x 1.2 at 60 km/h: under 2 minutes), medical "far" to hospital h
	if as[0].Team != "near" || as[0].QueuedMin != 0 || as[0].TravelMin > 3 {
		t.Fatalf("first: %+v", as[0])
	}
	if as[1].Team != "far" || as[1].Hospital != "h" || as[1].AtHospital.IsZero() {
		t.Fatalf("medical: %+v", as[1])
	}
	// i2 waits for "near" to clear i1 (an hour on scene)
	if as[2].Team != "near" || as[2].Incident != "i2" || as[2].QueuedMin < 60 || !as[2].Dispatched.Equal(as[0].Cleared) {
		t.Fatalf("queued: %+v", as[2])
	}
	in := d.dispatched.Incidents
	if !in[2].Unserved || in[2].Reason == "" || in[0].ResponseMinutes != as[0].ResponseMin {
		t.Fatalf("incidents: %+v", in)
	}
}
