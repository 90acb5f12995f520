package predict

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

type fakeModel struct{ name string }

func (f fakeModel) Name() string    { return f.name }
func (f fakeModel) Version() string { return "0" }
func (f fakeModel) Cost() Cost      { return Cheap }
func (f fakeModel) Needs() []string { return nil }
func (f fakeModel) Predict(context.Context, *twin.ProjectView) (*Prediction, error) {
	return nil, ErrNotApplicable
}

func TestRegistry(t *testing.T) {
	r := &Registry{}
	for _, n := range []string{"zeta", "alpha"} {
		if err := r.Register(fakeModel{n}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Register(fakeModel{"alpha"}); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("duplicate: %v", err)
	}
	if err := r.Register(fakeModel{""}); err == nil {
		t.Fatal("empty name registered")
	}
	if got := r.Names(); !slices.Equal(got, []string{"alpha", "zeta"}) {
		t.Fatalf("names %v", got)
	}
	if _, ok := r.Get("zeta"); !ok {
		t.Fatal("zeta not found")
	}
	if got := NewRegistry(twin.DefaultRules()).Names(); !slices.Equal(got, []string{"delay", "safety", "typhoon"}) {
		t.Fatalf("built-ins %v", got)
	}
}

// futianProject builds a registered project in Futian with one site, a 100 m
// crane and a baseline, by applying events.
func futianProject(t *testing.T) *twin.ProjectTwin {
	t.Helper()
	r := twin.DefaultRules()
	p := twin.NewProject("P-1", r)
	at := time.Date(2018, 9, 1, 0, 0, 0, 0, time.UTC)
	start, _ := twin.ParseWhen("2018-03-01")
	fin, _ := twin.ParseWhen("2019-03-01")
	evs := []*twin.Event{
		{ID: "r", Type: twin.TypeProjectRegistered, Source: "t", Time: at, Project: "P-1", Data: &twin.ProjectRegistered{
			Name: "Futian Tower", District: "Futian", Kind: "housing", Owner: "O", Contractor: "C", Supervisor: "S",
			BudgetCNY: 1e8, PlannedStart: start, PlannedFinish: fin, Deadline: fin}},
		{ID: "s", Type: twin.TypeSiteAdded, Source: "t", Time: at, Project: "P-1", Site: "P-1-S1", Data: &twin.SiteAdded{Name: "main", Lat: 22.54, Lon: 114.06, Terrain: "C"}},
		{ID: "c", Type: twin.TypeEquipmentInstalled, Source: "t", Time: at, Project: "P-1", Site: "P-1-S1", Data: &twin.EquipmentInstalled{
			Equipment: "TC1", Kind: twin.KindTowerCrane, HeightM: 100, JibLengthM: 60, InServiceLimitMS: 20}},
		{ID: "b", Type: twin.TypePlanBaselined, Source: "t", Time: at, Project: "P-1", Data: &twin.PlanBaselined{Milestones: []twin.MilestonePlan{
			{ID: "M1", OptimisticDays: 100, LikelyDays: 120, PessimisticDays: 160, BudgetShare: 0.5},
			{ID: "M2", OptimisticDays: 150, LikelyDays: 180, PessimisticDays: 260, BudgetShare: 0.5, DependsOn: []string{"M1"}},
		}}},
		{ID: "g", Type: twin.TypeProgressReported, Source: "t", Time: at.Add(time.Hour), Project: "P-1", Data: &twin.ProgressReported{Milestone: "M1", PercentComplete: 80}},
	}
	for _, e := range evs {
		if _, err := twin.Apply(p, e, r); err != nil {
			t.Fatalf("apply %s: %v", e.ID, err)
		}
	}
	return p
}

func TestDelayModel(t *testing.T) {
	v := futianProject(t).View()
	m := NewDelayModel()
	p, err := m.Predict(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := m.Predict(context.Background(), v)
	if p.Values["p50_days"] != again.Values["p50_days"] || p.Values["p_on_time"] != again.Values["p_on_time"] {
		t.Fatal("the same twin gave two forecasts")
	}
	pOnTime, ok := p.Values["p_on_time"]
	if !ok || pOnTime < 0 || pOnTime > 1 || !p.Dates["p80"].After(p.Dates["p50"]) || len(p.Effects) == 0 || p.Summary == "" {
		t.Fatalf("prediction %+v", p)
	}
	empty := twin.NewProject("P-2", twin.DefaultRules()).View()
	if _, err := m.Predict(context.Background(), empty); !errors.Is(err, ErrNotApplicable) {
		t.Fatalf("no baseline: %v", err)
	}
}

func TestTyphoonModel(t *testing.T) {
	p := futianProject(t)
	r := twin.DefaultRules()
	m := NewTyphoonModel(r)
	if _, err := m.Predict(context.Background(), p.View()); !errors.Is(err, ErrNotApplicable) {
		t.Fatalf("no advisory: %v", err)
	}
	// Mangkhut's JMA track around its passage south of Shenzhen (RSMC
	// Tokyo best track 1822, 2018-09-15/16; see testdata/wind).
	adv := &twin.TyphoonAdvisory{Name: "MANGKHUT", Issued: twin.TimeWhen(time.Date(2018, 9, 15, 0, 0, 0, 0, time.UTC))}
	for _, pt := range []struct {
		at       string
		lat, lon float64
		hpa, kt  float64
	}{
		{"2018-09-15T06:00:00Z", 17.6, 121.1, 935, 100},
		{"2018-09-15T18:00:00Z", 19.5, 117.2, 950, 90},
		{"2018-09-16T06:00:00Z", 21.1, 114.1, 955, 85},
		{"2018-09-16T12:00:00Z", 22.0, 112.0, 965, 75},
		{"2018-09-17T00:00:00Z", 23.1, 108.4, 985, 50},
	} {
		w, _ := twin.ParseWhen(pt.at)
		adv.Track = append(adv.Track, twin.TrackPoint{Time: w, Lat: pt.lat, Lon: pt.lon, PressureHPa: pt.hpa, MaxWindMS: pt.kt * 0.514444, WindAvgMinutes: 10})
	}
	e := &twin.Event{ID: "adv", Type: twin.TypeTyphoonAdvisory, Source: "t", Time: time.Date(2018, 9, 15, 1, 0, 0, 0, time.UTC), Project: "P-1", Data: adv}
	if _, err := twin.Apply(p, e, r); err != nil {
		t.Fatal(err)
	}
	pred, err := m.Predict(context.Background(), p.View())
	if err != nil {
		t.Fatal(err)
	}
	var fs []CraneForecast
	if err := json.Unmarshal(pred.Details, &fs); err != nil {
		t.Fatal(err)
	}
	if len(fs) != 1 || fs[0].Crane != "TC1" || fs[0].Peak <= 20 || fs[0].HoursAbove == 0 || pred.Values["cranes_exceeding"] != 1 {
		t.Fatalf("a 100 m crane in Futian under Mangkhut: %+v (%s)", fs, pred.Summary)
	}
}
