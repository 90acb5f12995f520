package predict

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// synthClock is the clock of the synthetic views.
var synthClock = time.Date(2026, 7, 1, 4, 0, 0, 0, time.UTC)

// synthSite describes one site of a synthetic view.
type synthSite struct {
	major, critical, overdue, alarms, incidents int
	craneHeight                                 float64 // 0: no crane
}

// synthView builds a project view directly (not through twin.Apply): its
// sites with open hazards, alarms, incidents and cranes as given.
func synthView(id string, credit float64, sites ...synthSite) *twin.ProjectView {
	v := &twin.ProjectView{
		ID: id, Registered: true, Clock: synthClock, Credit: credit,
		Info: twin.ProjectInfo{PlannedStart: synthClock.AddDate(0, -6, 0)},
	}
	v.Schedule.EV = 0.4
	for j, s := range sites {
		sid := fmt.Sprintf("%s-S%d", id, j+1)
		sv := twin.SiteView{ID: sid, Registered: true, Terrain: "C", At: synthClock, AlarmsLast7d: s.alarms, IncidentsLast90d: s.incidents}
		if s.craneHeight > 0 {
			sv.Equipment = append(sv.Equipment, twin.Equipment{ID: sid + "-TC1", Kind: twin.KindTowerCrane, HeightM: s.craneHeight, InServiceLimitMS: 20, Registered: true})
			sv.Cranes = 1
		}
		for k := range s.incidents {
			sv.Incidents = append(sv.Incidents, twin.SiteIncident{Time: synthClock.AddDate(0, 0, -10*(k+1)), ID: fmt.Sprintf("%s-INC%d", sid, k+1), Severity: "minor", Category: "fall"})
		}
		add := func(n int, sev string, overdue bool) {
			for range n {
				h := twin.Hazard{ID: fmt.Sprintf("%s-H%d", sid, len(v.Hazards)+1), Severity: sev, Category: "edge", Site: sid, Status: twin.StatusOpen,
					Found: synthClock.AddDate(0, 0, -2), Deadline: synthClock.AddDate(0, 0, 3)}
				if overdue {
					h.Found, h.Deadline, h.Overdue = synthClock.AddDate(0, 0, -12), synthClock.AddDate(0, 0, -5), true
				}
				v.Hazards = append(v.Hazards, h)
			}
		}
		add(s.major, twin.SeverityMajor, false)
		add(s.critical, twin.SeverityCritical, false)
		add(s.overdue, twin.SeverityGeneral, true)
		v.Sites = append(v.Sites, sv)
	}
	return v
}

// synthTruth is the log-odds of an incident at a synthetic site: what the
// models should learn.
func synthTruth(s synthSite, credit float64) float64 {
	z := -4.2 + 0.9*float64(s.major) + 1.5*float64(s.critical) + 0.6*float64(s.overdue) + 0.15*float64(s.alarms) + 0.5*float64(s.incidents)
	if s.craneHeight > 0 {
		z += 0.5
	}
	return z + 0.04*(90-credit)
}

// synthExamples draws n labelled views of 1-3 sites from synthTruth.
func synthExamples(n int, seed uint64) []Example {
	r := rand.New(rand.NewPCG(seed, 99))
	out := make([]Example, 0, n)
	for i := range n {
		credit := 60 + 40*r.Float64()
		var sites []synthSite
		for range 1 + r.IntN(3) {
			s := synthSite{major: r.IntN(3) * r.IntN(2), critical: b2i(r.Float64() < 0.08), overdue: r.IntN(2) * r.IntN(3),
				alarms: r.IntN(12), incidents: b2i(r.Float64() < 0.1)}
			if r.Float64() < 0.5 {
				s.craneHeight = 40 + 80*r.Float64()
			}
			sites = append(sites, s)
		}
		v := synthView(fmt.Sprintf("P-%04d", i), credit, sites...)
		l := map[string]float64{"finish_days": 100}
		for j, s := range sites {
			l[SafetyLabelPrefix+v.Sites[j].ID] = b2f(r.Float64() < sigmoid(synthTruth(s, credit)))
		}
		out = append(out, Example{At: synthClock, View: v, Label: l})
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// smallOptions train fast enough for the race detector.
func smallOptions() SafetyOptions {
	return SafetyOptions{Trees: 12, MaxDepth: 4, MinLeaf: 15, Bins: 16, Seed: 7}
}

// trained returns a forest trained on synthetic examples (once per test
// binary).
var trainedSynth = func() func(t testing.TB) *SafetyModel {
	var m *SafetyModel
	return func(t testing.TB) *SafetyModel {
		t.Helper()
		if m == nil {
			u, err := NewSafetyModel(smallOptions())
			if err != nil {
				t.Fatal(err)
			}
			if m, err = u.TrainSafety(context.Background(), synthExamples(1500, 1)); err != nil {
				t.Fatal(err)
			}
		}
		return m
	}
}()

// ev builds an event of project P-1.
func ev(id, typ string, at time.Time, site string, d twin.Data) *twin.Event {
	return &twin.Event{ID: id, Type: typ, Source: "test", Time: at, Project: "P-1", Site: site, Data: d}
}

// appliedProject builds a project by applying events: two sites, a crane
// and a pit at S1, hazards (open, overdue, rectified late, at S2), an
// incident at S1 and one a year ago.
func appliedProject(t *testing.T) *twin.ProjectView {
	t.Helper()
	r := twin.DefaultRules()
	p := twin.NewProject("P-1", r)
	t0 := time.Date(2025, 6, 1, 2, 0, 0, 0, time.UTC)
	start, fin := twin.DateWhen(2025, 7, 1), twin.DateWhen(2027, 7, 1)
	day := func(d int) time.Time { return t0.AddDate(0, 0, d) }
	when := func(d int) twin.When {
		y, m, dd := day(d).Date()
		return twin.DateWhen(y, m, dd)
	}
	evs := []*twin.Event{
		ev("reg", twin.TypeProjectRegistered, day(0), "", &twin.ProjectRegistered{Name: "Tower", District: "Futian", Kind: "housing",
			Owner: "O", Contractor: "C", Supervisor: "S", BudgetCNY: 1e8, PlannedStart: start, PlannedFinish: fin}),
		ev("s1", twin.TypeSiteAdded, day(0), "P-1-S1", &twin.SiteAdded{Name: "main", Lat: 22.54, Lon: 114.06, Terrain: "C"}),
		ev("s2", twin.TypeSiteAdded, day(0), "P-1-S2", &twin.SiteAdded{Name: "north", Lat: 22.55, Lon: 114.06, Terrain: "B"}),
		ev("tc", twin.TypeEquipmentInstalled, day(1), "P-1-S1", &twin.EquipmentInstalled{Equipment: "TC1", Kind: twin.KindTowerCrane, HeightM: 80, JibLengthM: 60, InServiceLimitMS: 16}),
		ev("pit", twin.TypeEquipmentInstalled, day(1), "P-1-S1", &twin.EquipmentInstalled{Equipment: "PIT1", Kind: twin.KindFoundationPit, DepthM: 12, AlarmCumulativeMM: 30, AlarmRateMMPerDay: 2}),
		ev("inc0", twin.TypeIncidentReported, day(10), "P-1-S1", &twin.IncidentReported{Incident: "INC0", Severity: "minor", Category: "fall", Injuries: 1}),
		// rectified after its deadline: late, not open
		ev("h1", twin.TypeHazardFound, day(300), "P-1-S1", &twin.HazardFound{Hazard: "H1", Severity: "general", Category: "edge", Deadline: when(305)}),
		ev("h1r", twin.TypeHazardRectified, day(309), "P-1-S1", &twin.HazardRectified{Hazard: "H1"}),
		ev("h2", twin.TypeHazardFound, day(380), "P-1-S1", &twin.HazardFound{Hazard: "H2", Severity: "major", Category: "edge", Deadline: when(383)}),
		ev("h3", twin.TypeHazardFound, day(392), "P-1-S1", &twin.HazardFound{Hazard: "H3", Severity: "critical", Category: "crane", Deadline: when(397)}),
		ev("h4", twin.TypeHazardFound, day(393), "P-1-S2", &twin.HazardFound{Hazard: "H4", Severity: "general", Category: "edge", Deadline: when(400)}),
		ev("inc1", twin.TypeIncidentReported, day(390), "P-1-S1", &twin.IncidentReported{Incident: "INC1", Severity: "minor", Category: "fall", Injuries: 1}),
		ev("w1", twin.TypeSensorReading, day(395), "P-1-S1", &twin.SensorReading{Kind: "wind_speed", Value: 12, Unit: "m/s", Equipment: "TC1"}),
		ev("d1", twin.TypeSensorReading, day(395), "P-1-S1", &twin.SensorReading{Kind: "pit_displacement", Value: 12, Unit: "mm", Equipment: "PIT1"}),
	}
	for _, e := range evs {
		if _, err := twin.Apply(p, e, r); err != nil {
			t.Fatalf("apply %s: %v", e.ID, err)
		}
	}
	return p.View()
}

func TestSiteFeatures(t *testing.T) {
	v := appliedProject(t)
	// day 395 is 2026-07-01T02:00Z; the planned start 2025-07-01 is
	// midnight in Shenzhen, 2025-06-30T16:00Z: 365 days and 10 hours
	alpha := 0.22
	tests := []struct {
		site string
		want map[string]float64
	}{
		{"P-1-S1", map[string]float64{
			"hazards_open_general": 0, "hazards_open_major": 1, "hazards_open_critical": 1, "hazards_overdue": 1, // H2 past its deadline
			"hazards_found_90d": 2, "project_hazards_late": 2, "project_late_share": 0.5, // H1 late, H2 overdue
			"cranes": 1, "pits": 1, "incidents_90d": 1, "incidents_365d": 1, // INC0 is 385 days old
			"crane_exposure": round6(math.Pow(8, alpha) * 20 / 16), "crane_wind_ratio": round6(12 / 16.0),
			"pit_cumulative_ratio": 0.4, "pit_rate_ratio": 0,
			"sites": 2, "days_since_start": 365.417, "progress": 0, "alarms_7d": 0,
		}},
		{"P-1-S2", map[string]float64{
			"hazards_open_general": 1, "hazards_open_major": 0, "hazards_overdue": 0, "hazards_found_90d": 1,
			"cranes": 0, "crane_exposure": 0, "incidents_90d": 0, "incidents_365d": 0, "project_hazards_late": 2,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.site, func(t *testing.T) {
			i := slices.IndexFunc(v.Sites, func(s twin.SiteView) bool { return s.ID == tt.site })
			got := SiteFeatures(v, &v.Sites[i])
			if len(got) != len(SafetyFeatureNames()) {
				t.Fatalf("%d features, want %d", len(got), len(SafetyFeatureNames()))
			}
			for _, n := range SafetyFeatureNames() {
				if _, ok := got[n]; !ok {
					t.Errorf("feature %s missing", n)
				}
			}
			for k, w := range tt.want {
				if got[k] != w {
					t.Errorf("%s = %v, want %v", k, got[k], w)
				}
			}
			if got["credit"] != v.Credit || got["credit"] >= 100 {
				t.Errorf("credit %v, project %v", got["credit"], v.Credit)
			}
			// 4 hazards found in the 365.417 days since the planned start
			if r := got["project_hazards_per_30d"]; math.Abs(r-4*30/365.417) > 1e-6 {
				t.Errorf("project_hazards_per_30d %v", r)
			}
		})
	}
}

func TestSafetyTrainDeterministic(t *testing.T) {
	ex := synthExamples(600, 3)
	train := func(seed uint64) []byte {
		o := smallOptions()
		o.Seed = seed
		o.FeatureFraction = 0.7
		m, err := NewSafetyModel(o)
		if err != nil {
			t.Fatal(err)
		}
		tm, err := m.TrainSafety(context.Background(), ex)
		if err != nil {
			t.Fatal(err)
		}
		b, err := tm.MarshalModel()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := train(5), train(5), train(6)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different models")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same model")
	}
}

func TestSafetyRoundTrip(t *testing.T) {
	m := trainedSynth(t)
	b, err := m.MarshalModel()
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalSafetyModel(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Version() != m.Version() || !strings.HasPrefix(m.Version(), "1-") {
		t.Fatalf("versions %q, %q", m.Version(), back.Version())
	}
	if back.Options() != m.Options() || back.Training() != m.Training() {
		t.Fatalf("options or training changed: %+v %+v", back.Options(), back.Training())
	}
	for _, ex := range synthExamples(50, 9) {
		p1, err1 := m.Predict(context.Background(), ex.View)
		p2, err2 := back.Predict(context.Background(), ex.View)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		j1, _ := json.Marshal(p1)
		j2, _ := json.Marshal(p2)
		if !bytes.Equal(j1, j2) {
			t.Fatalf("%s: predictions differ:\n%s\n%s", ex.View.ID, j1, j2)
		}
	}
	b2, _ := back.MarshalModel()
	if !bytes.Equal(b, b2) {
		t.Fatal("re-marshalled file differs")
	}

	// through the files of sitetwin train
	dir := t.TempDir()
	if _, err := SaveTrained(dir, m); err != nil {
		t.Fatal(err)
	}
	l, _ := NewSafetyLogistic(LogisticOptions{})
	lm, err := l.Train(context.Background(), synthExamples(300, 8))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SaveTrained(dir, lm.(Saver)); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadTrained(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 2 || loaded[0].Name() != "safety" || loaded[0].Version() != m.Version() ||
		loaded[1].Name() != "safety_logistic" || loaded[1].Version() != lm.Version() {
		t.Fatalf("loaded %v", loaded)
	}
}

func TestSafetyPredict(t *testing.T) {
	m := trainedSynth(t)
	v := synthView("P-X", 70,
		synthSite{},
		synthSite{major: 2, critical: 1, overdue: 2, alarms: 10, craneHeight: 100},
		synthSite{alarms: 3})
	p, err := m.Predict(context.Background(), v)
	if err != nil {
		t.Fatal(err)
	}
	if p.Model != "safety" || p.Version != m.Version() || p.Project != "P-X" || p.Subject != "" || !p.At.Equal(synthClock) {
		t.Fatalf("header %+v", p)
	}
	worst := 0.0
	for _, s := range v.Sites {
		x, ok := p.Values["p_incident_30d@"+s.ID]
		if !ok || x < 0 || x > 1 {
			t.Fatalf("site %s: %v %v", s.ID, x, ok)
		}
		worst = max(worst, x)
	}
	if p.Values["p_incident_30d"] != worst || len(p.Values) != len(v.Sites)+1 {
		t.Fatalf("values %v", p.Values)
	}
	if p.Values["p_incident_30d@P-X-S2"] != worst || p.Values["p_incident_30d@P-X-S1"] >= worst {
		t.Fatalf("the hazardous site is not the worst: %v", p.Values)
	}
	if !strings.Contains(p.Summary, "P-X-S2") || !strings.Contains(p.Summary, "of 3 sites") {
		t.Fatalf("summary %q", p.Summary)
	}
	// the path contributions add up to p minus the forest's mean root
	var sum float64
	var risks []SiteRisk
	if err := json.Unmarshal(p.Details, &risks); err != nil {
		t.Fatal(err)
	}
	if len(risks) != 3 || risks[0].Site != "P-X-S2" || risks[0].P != worst {
		t.Fatalf("details %s", p.Details)
	}
	all, err := m.SiteRisks(v)
	if err != nil {
		t.Fatal(err)
	}
	x := siteFeatureVector(v, &v.Sites[1])
	contrib := make([]float64, sfCount)
	pw := m.score(x, contrib)
	for _, c := range contrib {
		sum += c
	}
	if math.Abs(m.forest.Bias+sum-pw) > 1e-5 {
		t.Fatalf("bias %v + contributions %v != p %v", m.forest.Bias, sum, pw)
	}
	if len(p.Effects) == 0 || len(p.Effects) > safetyTopFactors || p.Effects[0].Unit != "probability" {
		t.Fatalf("effects %+v", p.Effects)
	}
	for i, e := range p.Effects {
		j := slices.Index(safetyFeatureNames, e.Input)
		if j < 0 || e.Value != x[j] || math.Abs(e.Effect-round6(contrib[j])) > 1e-9 {
			t.Fatalf("effect %d %+v, want value %v effect %v", i, e, x[j], contrib[j])
		}
		if i > 0 && math.Abs(e.Effect) > math.Abs(p.Effects[i-1].Effect) {
			t.Fatal("effects not largest first")
		}
	}
	if all[1].Site != "P-X-S2" || all[1].P != worst || all[1].Features["hazards_open_major"] != 2 {
		t.Fatalf("site risks %+v", all[1])
	}

	t.Run("concurrent", func(t *testing.T) {
		want, _ := json.Marshal(p)
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				q, err := m.Predict(context.Background(), v)
				if err == nil {
					if got, _ := json.Marshal(q); !bytes.Equal(got, want) {
						err = fmt.Errorf("prediction differs: %s", got)
					}
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("no registered site", func(t *testing.T) {
		v := synthView("P-Y", 90, synthSite{})
		v.Sites[0].Registered = false
		if _, err := m.Predict(context.Background(), v); !errors.Is(err, ErrNotApplicable) {
			t.Fatalf("err %v", err)
		}
		if _, err := m.Predict(context.Background(), &twin.ProjectView{ID: "P-Z"}); !errors.Is(err, ErrNotApplicable) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("untrained", func(t *testing.T) {
		u, _ := NewSafetyModel(SafetyOptions{})
		if _, err := u.Predict(context.Background(), v); !errors.Is(err, ErrUntrained) {
			t.Fatalf("err %v", err)
		}
		if _, err := u.MarshalModel(); !errors.Is(err, ErrUntrained) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestSafetyTrainErrors(t *testing.T) {
	good := synthExamples(40, 2)
	v := synthView("P-E", 80, synthSite{}, synthSite{})
	allZero := []Example{
		{View: v, Label: map[string]float64{SafetyLabelPrefix + "P-E-S1": 0, SafetyLabelPrefix + "P-E-S2": 0}},
		{View: v, Label: map[string]float64{SafetyLabelPrefix + "P-E-S1": 0}},
	}
	tests := []struct {
		name     string
		opts     SafetyOptions
		examples []Example
		want     string
	}{
		{"no examples", SafetyOptions{}, nil, "no labelled sites in 0 examples"},
		{"no safety labels", SafetyOptions{}, []Example{{View: v, Label: map[string]float64{"finish_days": 3}}}, "no labelled sites in 1 examples"},
		{"single class", SafetyOptions{}, allZero, "all 3 labelled sites have label 0"},
		{"label not 0 or 1", SafetyOptions{}, []Example{{View: v, Label: map[string]float64{SafetyLabelPrefix + "P-E-S2": 0.5}}}, "label incident_30d@P-E-S2 is 0.5, want 0 or 1"},
		{"label of a missing site", SafetyOptions{}, []Example{{View: v, Label: map[string]float64{SafetyLabelPrefix + "P-E-S9": 1}}}, "1 incident_30d@<site> labels name sites the view lacks"},
		{"labels without a view", SafetyOptions{}, []Example{{Label: map[string]float64{SafetyLabelPrefix + "S": 1}}}, "example 0: labels sites but has no view"},
		{"bad trees", SafetyOptions{Trees: -1}, good, "trees -1 not in 1..1000"},
		{"bad fraction", SafetyOptions{FeatureFraction: 1.5}, good, "feature_fraction 1.5"},
		{"bad bins", SafetyOptions{Bins: 1}, good, "bins 1 not in 2..1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &SafetyModel{opts: tt.opts}
			_, err := m.Train(context.Background(), tt.examples)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			if _, err := NewSafetyModel(tt.opts); (err != nil) != strings.HasPrefix(tt.name, "bad") {
				t.Fatalf("NewSafetyModel: %v", err)
			}
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		m, _ := NewSafetyModel(smallOptions())
		if _, err := m.Train(ctx, good); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		l, _ := NewSafetyLogistic(LogisticOptions{})
		if _, err := l.Train(ctx, good); !errors.Is(err, context.Canceled) {
			t.Fatalf("logistic err %v", err)
		}
	})
}

// TestSafetyLearns checks that both models find the synthetic truth: on
// held-out projects, both rank far better than chance and beat the base
// rate's Brier score, and the forest puts the known risks on top.
func TestSafetyLearns(t *testing.T) {
	ex := synthExamples(2500, 11)
	train, test := SplitByProject(ex, 0.3)
	if len(test) < 600 || len(test) > 900 {
		t.Fatalf("%d of %d examples held out", len(test), len(ex))
	}
	for _, e := range test {
		if slices.ContainsFunc(train, func(x Example) bool { return x.View.ID == e.View.ID }) {
			t.Fatalf("project %s on both sides", e.View.ID)
		}
	}
	ev, err := EvaluateSafety(context.Background(), train, test, smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", ev)
	for _, s := range []SafetyScore{ev.Forest, ev.Logistic} {
		if s.AUC < 0.7 || s.Brier >= ev.BaseRate.Brier {
			t.Errorf("%s: AUC %.3f, Brier %.4f (base rate %.4f)", s.Model, s.AUC, s.Brier, ev.BaseRate.Brier)
		}
	}
	// the logistic baseline is the true model here: its coefficients'
	// signs follow synthTruth
	l, _ := NewSafetyLogistic(LogisticOptions{})
	lm, err := l.Train(context.Background(), ex)
	if err != nil {
		t.Fatal(err)
	}
	fit := lm.(*SafetyLogistic).fit
	for _, name := range []string{"hazards_open_major", "hazards_open_critical", "alarms_7d", "incidents_90d", "crane_exposure"} {
		if c := fit.Coef[slices.Index(safetyFeatureNames, name)]; c <= 0 {
			t.Errorf("logistic coefficient of %s %v, want > 0", name, c)
		}
	}
	if c := fit.Coef[sfCredit]; c >= 0 {
		t.Errorf("logistic coefficient of credit %v, want < 0", c)
	}
}

func TestSafetyLogisticRoundTrip(t *testing.T) {
	ex := synthExamples(400, 4)
	l, _ := NewSafetyLogistic(LogisticOptions{})
	m1, err := l.Train(context.Background(), ex)
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := l.Train(context.Background(), ex)
	b1, _ := m1.(*SafetyLogistic).MarshalModel()
	b2, _ := m2.(*SafetyLogistic).MarshalModel()
	if !bytes.Equal(b1, b2) {
		t.Fatal("logistic fit not deterministic")
	}
	back, err := UnmarshalSafetyLogistic(b1)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ex[:20] {
		p1, _ := m1.Predict(context.Background(), e.View)
		p2, _ := back.Predict(context.Background(), e.View)
		j1, _ := json.Marshal(p1)
		j2, _ := json.Marshal(p2)
		if !bytes.Equal(j1, j2) {
			t.Fatalf("predictions differ:\n%s\n%s", j1, j2)
		}
	}
	for _, bad := range []string{`{}`, `{"format":"sitetwin.safety_logistic/1"}`, `{"format":"sitetwin.safety_logistic/1","fit":{"features":["a"]}}`} {
		if _, err := UnmarshalSafetyLogistic([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestBinner(t *testing.T) {
	rows := [][]float64{{0, 5}, {1, 5}, {1, 5}, {3, 5}}
	b := newBinner(rows, 2, 8)
	if !slices.Equal(b.cuts[0], []float64{0.5, 2}) || len(b.cuts[1]) != 0 {
		t.Fatalf("cuts %v", b.cuts)
	}
	for _, c := range []struct {
		x    float64
		want int
	}{{-1, 0}, {0, 0}, {0.5, 1}, {1, 1}, {2, 2}, {9, 2}} {
		if got := b.bin(0, c.x); got != c.want {
			t.Errorf("bin(%v) = %d, want %d", c.x, got, c.want)
		}
	}
	// many distinct values: at most bins-1 cuts, near the quantiles
	var many [][]float64
	for i := range 1000 {
		many = append(many, []float64{float64(i)})
	}
	b = newBinner(many, 1, 4)
	if !slices.Equal(b.cuts[0], []float64{249.5, 499.5, 749.5}) {
		t.Fatalf("quantile cuts %v", b.cuts[0])
	}
}

// TestExportMatchesGolearn checks the export of golearn's trees: without
// pruning, the leaf a row reaches in the exported tree holds a majority of
// the class golearn predicts for it.
func TestExportMatchesGolearn(t *testing.T) {
	x, y, err := SafetyRows(synthExamples(400, 5))
	if err != nil {
		t.Fatal(err)
	}
	bn := newBinner(x, sfCount, 16)
	binned := make([][]float64, len(x))
	for i, r := range x {
		binned[i] = make([]float64, len(r))
		for f, v := range r {
			binned[i][f] = float64(bn.bin(f, v))
		}
	}
	sample := make([]int, len(x))
	for i := range sample {
		sample[i] = i
	}
	feats := []int{sfOpenMajor, sfOpenCritical, sfAlarms7d, sfCredit, sfCraneExposure}
	inst, err := instances(binned, y, sample, feats)
	if err != nil {
		t.Fatal(err)
	}
	gt, err := fitCART(inst, 5)
	if err != nil {
		t.Fatal(err)
	}
	labels := gt.Predict(inst)
	root := exportTree(fromGolearn(gt), feats, bn)
	root.fill(x, y, sample)
	if root.feature < 0 {
		t.Fatal("no split")
	}
	for i := range x {
		n := root
		for n.feature >= 0 {
			if x[i][n.feature] < n.threshold {
				n = n.left
			} else {
				n = n.right
			}
		}
		if want := int64(b2i(n.pos > n.n-n.pos)); labels[i] != want {
			t.Fatalf("row %d: golearn says %d, exported leaf has %d of %d", i, labels[i], n.pos, n.n)
		}
	}
}

func TestDefaultSafetyModel(t *testing.T) {
	m, err := DefaultSafetyModel()
	if err != nil {
		t.Fatal(err)
	}
	if got := NewRegistry(twin.DefaultRules()).Names(); !slices.Contains(got, "safety") {
		t.Fatalf("registry %v", got)
	}
	reg, _ := NewRegistry(twin.DefaultRules()).Get("safety")
	if reg != Model(m) {
		t.Fatal("the registry's safety model is not the default")
	}
	if tr := m.Training(); tr.Rows < 1000 || tr.Positives < 50 {
		t.Fatalf("trained on %+v", tr)
	}
	p, err := m.Predict(context.Background(), appliedProject(t))
	if err != nil {
		t.Fatal(err)
	}
	if x := p.Values["p_incident_30d"]; !(x > 0 && x < 1) || p.Values["p_incident_30d@P-1-S1"] != x {
		t.Fatalf("values %v", p.Values)
	}
	if p.Values["p_incident_30d@P-1-S2"] >= p.Values["p_incident_30d@P-1-S1"] {
		t.Fatalf("the site with open critical and major hazards is not the worst: %v", p.Values)
	}
	t.Logf("%s\n%+v", p.Summary, p.Effects)
}

func FuzzUnmarshalSafetyModel(f *testing.F) {
	m := trainedSynth(f)
	good, _ := m.MarshalModel()
	f.Add(good)
	for _, s := range []string{
		``, `null`, `{}`, `[]`, `{"format":"sitetwin.safety/1"}`,
		`{"format":"sitetwin.safety/1","options":{},"forest":{"features":["credit"],"trees":[{"nodes":[{"f":-1,"p":0.1,"n":3}]}]}}`,
		`{"format":"sitetwin.safety/1","options":{},"forest":{"features":["credit"],"trees":[{"nodes":[{"f":0,"t":80,"l":1,"r":2,"p":0.1},{"f":-1,"p":0.2},{"f":-1,"p":0.05}]}]}}`,
		`{"format":"sitetwin.safety/1","options":{},"forest":{"features":["credit"],"trees":[{"nodes":[{"f":0,"t":80,"l":1,"r":1,"p":0.1},{"f":-1,"p":0.2}]}]}}`,
		`{"format":"sitetwin.safety/1","options":{},"forest":{"features":["credit"],"trees":[{"nodes":[{"f":0,"t":80,"l":0,"r":0,"p":0.1}]}]}}`,
		`{"format":"sitetwin.safety/1","options":{},"forest":{"features":["nope"],"trees":[{"nodes":[{"f":-1,"p":0.1}]}]}}`,
		`{"format":"sitetwin.safety/1","options":{},"forest":{"features":["credit","credit"],"trees":[{"nodes":[{"f":-1,"p":0.1}]}]}}`,
		`{"format":"sitetwin.safety/1","options":{},"forest":{"features":["credit"],"trees":[{"nodes":[{"f":-1,"p":1.5}]}]}}`,
		`{"format":"sitetwin.safety/1","options":{"trees":-3},"forest":{"features":["credit"],"trees":[]}}`,
	} {
		f.Add([]byte(s))
	}
	views := []*twin.ProjectView{synthView("P-F", 75, synthSite{major: 1, alarms: 4, craneHeight: 60}, synthSite{})}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalSafetyModel(b)
		if err != nil {
			if m != nil {
				t.Fatal("a model and an error")
			}
			return
		}
		for _, v := range views {
			p, err := m.Predict(context.Background(), v)
			if err != nil {
				t.Fatal(err)
			}
			for k, x := range p.Values {
				if !(x >= 0 && x <= 1) {
					t.Fatalf("%s = %v", k, x)
				}
			}
		}
	})
}

func BenchmarkSafetyPredict(b *testing.B) {
	m, err := DefaultSafetyModel()
	if err != nil {
		b.Fatal(err)
	}
	v := synthView("P-B", 78,
		synthSite{major: 1, alarms: 6, craneHeight: 90},
		synthSite{overdue: 1, craneHeight: 60},
		synthSite{alarms: 2},
		synthSite{critical: 1, incidents: 1})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Predict(ctx, v); err != nil {
			b.Fatal(err)
		}
	}
}
