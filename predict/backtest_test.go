package predict

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// scriptedModel answers from a function of the view.
type scriptedModel struct {
	name string
	f    func(v *twin.ProjectView) (*Prediction, error)
}

func (m scriptedModel) Name() string    { return m.name }
func (m scriptedModel) Version() string { return "test" }
func (m scriptedModel) Cost() Cost      { return Cheap }
func (m scriptedModel) Needs() []string { return nil }
func (m scriptedModel) Predict(_ context.Context, v *twin.ProjectView) (*Prediction, error) {
	return m.f(v)
}

// TestBacktest scores scripted models on the worked history of
// TestReadHistory, whose labels are (by hand, sample k at day 7⅓ + 7k):
//
//	finish_days: k = 0..3, the finish on day 33; on_time 1 for the same
//	incident_30d@S1: k = 0..4 (k ≥ 5 is within 30 days of the end, day 70):
//	  1, 1, 0, 0, 0 (the incident on day 20)
//
// The "fixed" model forecasts the finish on day 40 (7 days late for every
// sample: MAE 7), P(on time) 0.8 (Brier 0.04; AUC undefined with one
// class) and P(incident) 0.5 until the site has had an incident, then 0.1
// (the twin's clock at k = 0, 1 is before day 20): Brier
// (0.25·2 + 0.01·3)/5 = 0.106, AUC 1. The plan baseline finishes on day 30
// (A 10 + B 20 likely days): MAE 3; the base rate of incidents is 0.4:
// Brier (0.36·2 + 0.16·3)/5 = 0.24.
func TestBacktest(t *testing.T) {
	h, err := ReadHistory(context.Background(), bytes.NewReader(historyLines(t)), HistoryOptions{Rules: twin.DefaultRules()})
	if err != nil {
		t.Fatal(err)
	}
	fixed := scriptedModel{"fixed", func(v *twin.ProjectView) (*Prediction, error) {
		p := 0.5
		if v.Sites[0].IncidentsLast90d > 0 {
			p = 0.1
		}
		return &Prediction{Model: "fixed", Project: v.ID, Dates: map[string]time.Time{"p50": dayOf(40)},
			Values: map[string]float64{"p_on_time": 0.8, "p_incident_30d@S1": p}}, nil
	}}
	never := scriptedModel{"never", func(*twin.ProjectView) (*Prediction, error) { return nil, ErrNotApplicable }}
	broken := scriptedModel{"broken", func(*twin.ProjectView) (*Prediction, error) { return nil, errors.New("remote model timed out") }}
	var calls, total int
	res, err := Backtest(context.Background(), h.Examples, []Model{fixed, never, broken}, BacktestOptions{Workers: 3, Progress: func(d, n int) { calls, total = d, n }})
	if err != nil {
		t.Fatal(err)
	}
	// 9 samples, of which k = 0..4 are labelled
	if total != 3*5 || calls != total {
		t.Errorf("progress %d of %d, want 15 of 15", calls, total)
	}
	if res.Labels[TaskFinish] != 4 || res.Labels[TaskOnTime] != 4 || res.Labels[TaskIncident] != 5 || res.Labels[TaskCrane] != 0 {
		t.Errorf("labels %v", res.Labels)
	}
	if res.Errors["broken"] != 5 || res.FirstError["broken"] != "remote model timed out" || res.Errors["never"] != 0 {
		t.Errorf("errors %v %v", res.Errors, res.FirstError)
	}
	got := map[string]Score{}
	for _, s := range res.Scores {
		got[s.Model+"/"+s.Task] = s
	}
	want := []Score{
		{Model: "fixed", Task: TaskFinish, N: 4, MAEDays: 7, Brier: math.NaN(), AUC: math.NaN()},
		{Model: "fixed", Task: TaskOnTime, N: 4, Positives: 4, Brier: 0.04, AUC: math.NaN()},
		{Model: "fixed", Task: TaskIncident, N: 5, Positives: 2, Brier: 0.106, AUC: 1},
		{Model: BaselinePlan, Task: TaskFinish, N: 4, MAEDays: 3, Brier: math.NaN(), AUC: math.NaN()},
		{Model: BaselineRate, Task: TaskIncident, N: 5, Positives: 2, Brier: 0.24, AUC: 0.5},
		{Model: BaselineRate, Task: TaskOnTime, N: 4, Positives: 4, Brier: 0, AUC: math.NaN()},
	}
	for _, w := range want {
		g, ok := got[w.Model+"/"+w.Task]
		if !ok {
			t.Errorf("no score of %s on %s", w.Model, w.Task)
			continue
		}
		if g.N != w.N || g.Positives != w.Positives || !nearNaN(g.Brier, w.Brier) || !nearNaN(g.AUC, w.AUC) || (w.Task == TaskFinish) && !nearNaN(g.MAEDays, w.MAEDays) {
			t.Errorf("%s on %s: %+v\nwant %+v", w.Model, w.Task, g, w)
		}
	}
	for _, m := range []string{"never", "broken"} {
		for _, task := range Tasks {
			if s, ok := got[m+"/"+task]; ok {
				t.Errorf("%s answered nothing but has a score: %+v", m, s)
			}
		}
	}
}

func nearNaN(a, b float64) bool {
	if math.IsNaN(b) {
		return math.IsNaN(a)
	}
	return math.Abs(a-b) < 1e-9
}

// TestBacktestCranes: hits, misses and false alarms at the threshold, per
// crane and in all.
func TestBacktestCranes(t *testing.T) {
	view := &twin.ProjectView{ID: "P1"}
	ex := func(y1, y2 float64) Example {
		return Example{At: dayOf(0), View: view, Label: map[string]float64{"crane_exceed@TC1": y1, "crane_exceed@TC2": y2}}
	}
	examples := []Example{ex(1, 0), ex(1, 1), ex(0, 0)}
	k := 0
	m := scriptedModel{"typhoon", func(*twin.ProjectView) (*Prediction, error) {
		k++ // one worker: examples in order
		ps := [][2]float64{{0.9, 0.6}, {0.2, 0.7}, {0.1, 0.1}}[k-1]
		return &Prediction{Values: map[string]float64{"p_exceed@TC1": ps[0], "p_exceed@TC2": ps[1]}}, nil
	}}
	res, err := Backtest(context.Background(), examples, []Model{m}, BacktestOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	// TC1: 0.9/yes hit, 0.2/yes miss, 0.1/no quiet; TC2: 0.6/no false alarm, 0.7/yes hit, 0.1/no quiet
	want := []CraneScore{
		{Model: "typhoon", Crane: "TC1", Hits: 1, Misses: 1, CorrectQuiet: 1, Forecasts: 3},
		{Model: "typhoon", Crane: "TC2", Hits: 1, FalseAlarms: 1, CorrectQuiet: 1, Forecasts: 3},
	}
	if len(res.Cranes) != 2 || res.Cranes[0] != want[0] || res.Cranes[1] != want[1] {
		t.Fatalf("cranes %+v\nwant %+v", res.Cranes, want)
	}
	s := res.Scores[0]
	if s.Task != TaskCrane || s.N != 6 || s.Hits != 2 || s.Misses != 1 || s.FalseAlarms != 1 || s.CorrectQuiet != 2 {
		t.Fatalf("score %+v", s)
	}
}

func TestBacktestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ex := []Example{{At: dayOf(0), View: &twin.ProjectView{ID: "P1"}, Label: map[string]float64{"on_time": 1}}}
	if _, err := Backtest(ctx, ex, []Model{scriptedModel{"x", func(*twin.ProjectView) (*Prediction, error) { return nil, nil }}}, BacktestOptions{}); err == nil {
		t.Fatal("a cancelled backtest returned no error")
	}
}
