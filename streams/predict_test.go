package streams

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// countingModel is a cheap model that counts its runs.
type countingModel struct{ runs atomic.Int64 }

func (m *countingModel) Name() string       { return "counter" }
func (m *countingModel) Version() string    { return "1" }
func (m *countingModel) Cost() predict.Cost { return predict.Cheap }
func (m *countingModel) Needs() []string {
	return []string{twin.TypeHazardFound, twin.TypeSensorReading}
}
func (m *countingModel) Predict(_ context.Context, v *twin.ProjectView) (*predict.Prediction, error) {
	n := m.runs.Add(1)
	return &predict.Prediction{Model: "counter", Version: "1", Project: v.ID, At: v.Clock, Values: map[string]float64{"runs": float64(n)}, Summary: "counted"}, nil
}

// TestPredictionsInTheEngine: the delay model (expensive, on the pool) and a
// cheap model run after the events they need; their predictions show in the
// twin's view, and a forecast that misses the deadline raises a risk alert.
func TestPredictionsInTheEngine(t *testing.T) {
	b := startBroker(t)
	reg := &predict.Registry{}
	counter := &countingModel{}
	for _, m := range []predict.Model{predict.NewDelayModel(), counter} {
		if err := reg.Register(m); err != nil {
			t.Fatal(err)
		}
	}
	e := runEngine(t, EngineConfig{Brokers: []string{b.Addr()}, Group: "predict", Models: reg, CheckpointInterval: 100 * time.Millisecond})
	publish := publisher(t, b.Addr())
	at := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	evs := registration(t, "P-008", at)
	reg0 := evs[0].Data.(*twin.ProjectRegistered)
	reg0.Deadline, _ = twin.ParseWhen("2026-12-31") // 40 days after the start: far too soon
	evs = append(evs,
		event(t, "plan", twin.TypePlanBaselined, "P-008", "", at, &twin.PlanBaselined{Milestones: []twin.MilestonePlan{
			{ID: "M1", OptimisticDays: 80, LikelyDays: 100, PessimisticDays: 140, BudgetShare: 0.5},
			{ID: "M2", OptimisticDays: 100, LikelyDays: 120, PessimisticDays: 180, BudgetShare: 0.5, DependsOn: []string{"M1"}},
		}}),
		event(t, "prog", twin.TypeProgressReported, "P-008", "", at.Add(time.Minute), &twin.ProgressReported{Milestone: "M1", PercentComplete: 5}),
		event(t, "hz", twin.TypeHazardFound, "P-008", "P-008-S1", at.Add(2*time.Minute), &twin.HazardFound{Hazard: "H1", Severity: "general", Category: "housekeeping", Deadline: reg0.Deadline}),
		event(t, "quiet", twin.TypeSensorReading, "P-008", "P-008-S1", at.Add(3*time.Minute), &twin.SensorReading{Kind: "pm10", Value: 40, Unit: "µg/m³"}),
	)
	publish(evs...)
	waitFor(t, "both predictions and the delay risk", func() bool {
		v, ok := e.Store().Twin("P-008")
		return ok && len(v.Predictions) == 2 && len(v.Risks) == 1
	})
	v, _ := e.Store().Twin("P-008")
	var delay twin.Prediction
	for _, p := range v.Predictions {
		if p.Model == "delay" {
			delay = p
		}
	}
	if delay.Values["p_on_time"] > 0.2 || delay.Offset < 0 || v.Risks[0].Rule != "delay_p_on_time" || v.Risks[0].Level != twin.LevelStop {
		t.Fatalf("delay prediction %+v, risks %+v", delay, v.Risks)
	}
	if v.Health == twin.Red {
		t.Error("a forecast changed health (risks are apart from health)")
	}
	if n := counter.runs.Load(); n != 1 {
		t.Errorf("the cheap model ran %d times: once for the hazard, not for a reading that changed no alarm", n)
	}
	var riskAlert bool
	for _, a := range e.Store().Alerts(0) {
		if a.Key == "risk:delay_p_on_time" && a.Change == twin.ChangeRaised {
			riskAlert = true
		}
	}
	if !riskAlert {
		t.Error("no risk alert for the deadline")
	}
}
