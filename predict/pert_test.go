package predict

import (
	"math"
	"slices"
	"strings"
	"testing"
)

// TestPERTReliableConstruction is the external check of the analytic PERT
// answer: Hillier & Lieberman, Introduction to Operations Research, chapter
// "Project Management with PERT/CPM", the Reliable Construction Co. project
// (testdata/schedule/reliable.csv: the textbook's 14 activities, their
// immediate predecessors and three-point estimates in weeks; a penalty if
// the plant is not finished by the deadline of 47 weeks).
//
// The textbook's published answer, taken as fact:
//
//   - the mean critical path is START → A → B → C → E → F → J → L → N → FINISH;
//   - its mean length is 2 + 4 + 10 + 4 + 5 + 8 + 5 + 6 = 44 weeks;
//   - its variance is 1/9 + 1 + 4 + 4/9 + 1 + 1 + 1 + 4/9 = 9 (σ = 3);
//   - P(T ≤ 47) = P(Z ≤ (47 − 44)/3) = Φ(1) ≈ 0.8413.
//
// Each activity's PERT mean (o + 4m + p)/6 is also the single-estimate
// duration of the book's CPM version of the project (A 2, B 4, C 10, D 6,
// E 4, F 5, G 7, H 9, I 7, J 8, K 4, L 5, M 2, N 6 weeks).
func TestPERTReliableConstruction(t *testing.T) {
	n := reliable(t)
	p := AnalyzePERT(n)
	wantMeans := map[string]float64{"A": 2, "B": 4, "C": 10, "D": 6, "E": 4, "F": 5, "G": 7, "H": 9, "I": 7, "J": 8, "K": 4, "L": 5, "M": 2, "N": 6}
	wantVar := map[string]float64{"A": 1.0 / 9, "B": 1, "C": 4, "D": 1, "E": 4.0 / 9, "F": 1, "G": 1, "H": 4, "I": 1, "J": 1, "K": 0, "L": 1, "M": 1.0 / 9, "N": 4.0 / 9}
	for i, a := range n.Activities() {
		if got := p.Activities[i]; math.Abs(got.Mean-wantMeans[a.ID]) > 1e-12 || math.Abs(got.Variance-wantVar[a.ID]) > 1e-12 {
			t.Errorf("%s: mean %v variance %v, want %v and %v", a.ID, got.Mean, got.Variance, wantMeans[a.ID], wantVar[a.ID])
		}
	}
	if got := strings.Join(n.IDs(p.CriticalPath), "-"); got != "A-B-C-E-F-J-L-N" {
		t.Errorf("critical path %s, want A-B-C-E-F-J-L-N", got)
	}
	if math.Abs(p.Mean-44) > 1e-12 || math.Abs(p.Variance-9) > 1e-12 {
		t.Errorf("mean %v variance %v, want 44 and 9", p.Mean, p.Variance)
	}
	phi1 := 0.5 * (1 + math.Erf(1/math.Sqrt2)) // Φ(1) = 0.8413447…
	if got := p.ProbFinishBy(47); math.Abs(got-phi1) > 1e-12 || math.Abs(got-0.8413) > 5e-5 {
		t.Errorf("P(T <= 47) = %.6f, want Φ(1) = %.6f (published 0.8413)", got, phi1)
	}
	if got := p.Quantile(phi1); math.Abs(got-47) > 1e-9 {
		t.Errorf("Quantile(Φ(1)) = %v, want 47", got)
	}
	// the critical activities have no slack, the others some
	for i, a := range p.Activities {
		critical := slices.Contains(p.CriticalPath, i)
		if critical != (a.Slack == 0) {
			t.Errorf("%s: slack %v, on the critical path: %v", n.Activity(i).ID, a.Slack, critical)
		}
	}
	// textbook slack (CPM on the means): D 4, G 4, H 4, I 2, K 1, M 4
	for id, want := range map[string]float64{"D": 4, "G": 4, "H": 4, "I": 2, "K": 1, "M": 4} {
		i, _ := n.Index(id)
		if got := p.Activities[i].Slack; math.Abs(got-want) > 1e-12 {
			t.Errorf("slack of %s = %v, want %v", id, got, want)
		}
	}
}

func TestPERTTies(t *testing.T) {
	// Two paths of mean 10: the one with the larger variance is critical.
	n, err := NewNetwork([]Activity{
		{ID: "S", Optimistic: 0, Likely: 0, Pessimistic: 0},
		{ID: "narrow", Optimistic: 9, Likely: 10, Pessimistic: 11, Predecessors: []string{"S"}},
		{ID: "wide", Optimistic: 4, Likely: 10, Pessimistic: 16, Predecessors: []string{"S"}},
		{ID: "F", Optimistic: 1, Likely: 1, Pessimistic: 1, Predecessors: []string{"narrow", "wide"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	p := AnalyzePERT(n)
	if got := strings.Join(n.IDs(p.CriticalPath), "-"); got != "S-wide-F" || p.Mean != 11 || p.Variance != 4 {
		t.Errorf("critical path %s, mean %v, variance %v; want S-wide-F, 11, 4", got, p.Mean, p.Variance)
	}
	// a deterministic network: P is a step at the mean
	det, _ := NewNetwork([]Activity{{ID: "A", Optimistic: 3, Likely: 3, Pessimistic: 3}})
	d := AnalyzePERT(det)
	if d.ProbFinishBy(3) != 1 || d.ProbFinishBy(2.999) != 0 || d.Quantile(0.9) != 3 {
		t.Errorf("deterministic: P(3) %v, P(2.999) %v", d.ProbFinishBy(3), d.ProbFinishBy(2.999))
	}
}
