package twin

import (
	"errors"
	"testing"
	"time"
)

func TestRecordPrediction(t *testing.T) {
	r := pack()
	at := ts("2026-07-01T00:00:00Z")
	pred := func(offset int64, model string, values map[string]float64) *Prediction {
		return &Prediction{Model: model, Version: "1", Project: testProject, At: at.Add(time.Duration(offset) * time.Minute), Offset: offset, Values: values, Summary: "s"}
	}
	tests := []struct {
		name   string
		preds  []*Prediction
		key    string
		want   Level
		alerts string
	}{
		{"on time: no risk", []*Prediction{pred(1, "delay", map[string]float64{"p_on_time": 0.8})}, "delay_p_on_time", LevelOK, ""},
		{"below even odds warns", []*Prediction{pred(1, "delay", map[string]float64{"p_on_time": 0.45})}, "delay_p_on_time", LevelWarn, "risk:delay_p_on_time raised warn"},
		{"below 20% is red, eases above 25%", []*Prediction{
			pred(1, "delay", map[string]float64{"p_on_time": 0.1}), pred(2, "delay", map[string]float64{"p_on_time": 0.3}),
		}, "delay_p_on_time", LevelWarn, "risk:delay_p_on_time raised stop; risk:delay_p_on_time eased warn"},
		{"clears above 55%", []*Prediction{
			pred(1, "delay", map[string]float64{"p_on_time": 0.45}), pred(2, "delay", map[string]float64{"p_on_time": 0.52}), pred(3, "delay", map[string]float64{"p_on_time": 0.56}),
		}, "delay_p_on_time", LevelOK, "risk:delay_p_on_time raised warn; risk:delay_p_on_time cleared ok"},
		{"an older prediction is ignored", []*Prediction{
			pred(5, "delay", map[string]float64{"p_on_time": 0.9}), pred(2, "delay", map[string]float64{"p_on_time": 0.1}),
		}, "delay_p_on_time", LevelOK, ""},
		{"a crane forecast above its limit warns", []*Prediction{pred(1, "typhoon", map[string]float64{"cranes_exceeding": 2, "max_p_exceed": 0.4})}, "typhoon_crane_wind", LevelWarn, "risk:typhoon_crane_wind raised warn"},
		{"ensemble 75% is red", []*Prediction{pred(1, "typhoon", map[string]float64{"cranes_exceeding": 1, "max_p_exceed": 0.75})}, "typhoon_p_exceed", LevelStop, "risk:typhoon_crane_wind raised warn; risk:typhoon_p_exceed raised stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := projectTwin(t)
			health := p.Health
			var all []Alert
			for _, pr := range tt.preds {
				as, err := RecordPrediction(p, pr, r)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, as...)
			}
			if got := alertSummary(all); got != tt.alerts {
				t.Fatalf("alerts %q, want %q", got, tt.alerts)
			}
			lvl := LevelOK
			if al, ok := p.Predictions.Risks[tt.key]; ok {
				lvl = al.Level
			}
			if lvl != tt.want {
				t.Fatalf("risk %s at %v, want %v", tt.key, lvl, tt.want)
			}
			if p.Health != health {
				t.Fatal("a prediction changed health")
			}
			v := p.View()
			if len(v.Predictions) == 0 || (tt.want != LevelOK) != (len(v.Risks) > 0) {
				t.Fatalf("view: %d predictions, risks %+v", len(v.Predictions), v.Risks)
			}
		})
	}
	t.Run("wrong project", func(t *testing.T) {
		p := projectTwin(t)
		bad := pred(1, "delay", nil)
		bad.Project = "other"
		if _, err := RecordPrediction(p, bad, r); !errors.Is(err, ErrRejected) {
			t.Fatal(err)
		}
	})
}
