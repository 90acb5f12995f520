package predict

import (
	"math"
	"testing"
)

func TestScores(t *testing.T) {
	tests := []struct {
		name       string
		p          []float64
		y          []bool
		brier, auc float64
		brierNaN   bool
		aucNaN     bool
	}{
		// (0.9−1)² + (0.2−0)² + (0.6−1)² + (0.4−0)² = 0.01+0.04+0.16+0.16 = 0.37, /4
		// pairs (pos, neg): (0.9,0.2) (0.9,0.4) (0.6,0.2) (0.6,0.4): all ordered: AUC 1
		{name: "separated", p: []float64{0.9, 0.2, 0.6, 0.4}, y: []bool{true, false, true, false}, brier: 0.0925, auc: 1},
		// pairs: (0.3 vs 0.5) wrong, (0.3 vs 0.1) right, (0.7 vs 0.5) right, (0.7 vs 0.1) right: 3/4
		{name: "one pair wrong", p: []float64{0.3, 0.5, 0.7, 0.1}, y: []bool{true, false, true, false}, brier: (0.49 + 0.25 + 0.09 + 0.01) / 4, auc: 0.75},
		// all tied: every pair counts one half
		{name: "ties", p: []float64{0.5, 0.5, 0.5}, y: []bool{true, false, false}, brier: 0.25, auc: 0.5},
		// tie between a positive and a negative in the middle: pairs (0.8,0.4)=1 (0.8,0.2)=1 (0.4,0.4)=½ (0.4,0.2)=1 → 3.5/4
		{name: "partial tie", p: []float64{0.8, 0.4, 0.4, 0.2}, y: []bool{true, true, false, false}, brier: (0.04 + 0.36 + 0.16 + 0.04) / 4, auc: 0.875},
		{name: "one class", p: []float64{0.1, 0.2}, y: []bool{false, false}, brier: 0.025, aucNaN: true},
		{name: "empty", brierNaN: true, aucNaN: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, a := Brier(tt.p, tt.y), AUC(tt.p, tt.y)
			if tt.brierNaN != math.IsNaN(b) || !tt.brierNaN && math.Abs(b-tt.brier) > 1e-12 {
				t.Errorf("Brier = %v, want %v", b, tt.brier)
			}
			if tt.aucNaN != math.IsNaN(a) || !tt.aucNaN && math.Abs(a-tt.auc) > 1e-12 {
				t.Errorf("AUC = %v, want %v", a, tt.auc)
			}
		})
	}
	if m := MAE([]float64{1, 5, -2}, []float64{2, 2, -2}); m != 4.0/3 {
		t.Errorf("MAE = %v, want 4/3", m)
	}
	if !math.IsNaN(MAE([]float64{1}, nil)) || !math.IsNaN(Brier([]float64{1}, nil)) || !math.IsNaN(AUC([]float64{1}, nil)) {
		t.Error("mismatched lengths give a figure")
	}
}
