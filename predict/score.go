package predict

import (
	"math"
	"slices"
)

// Brier is the Brier score of probabilities p for outcomes y: the mean of
// (p − y)², 0 for a perfect forecast, 0.25 for always saying one half
// (Brier 1950). NaN when there are no forecasts or the lengths differ.
func Brier(p []float64, y []bool) float64 {
	if len(p) == 0 || len(p) != len(y) {
		return math.NaN()
	}
	var s float64
	for i := range p {
		d := p[i] - b2f(y[i])
		s += d * d
	}
	return s / float64(len(p))
}

// AUC is the area under the ROC curve of scores p for outcomes y: the
// probability that a random positive scores above a random negative, ties
// counting one half (the Mann–Whitney U statistic over n₊·n₋, with tied
// scores given their average rank). NaN unless there are both positives
// and negatives.
func AUC(p []float64, y []bool) float64 {
	if len(p) != len(y) {
		return math.NaN()
	}
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case p[a] < p[b]:
			return -1
		case p[a] > p[b]:
			return 1
		}
		return 0
	})
	var pos, neg, rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && p[idx[j]] == p[idx[i]] {
			j++
		}
		rank := float64(i+j+1) / 2 // ranks i+1 .. j, averaged
		for k := i; k < j; k++ {
			if y[idx[k]] {
				pos++
				rankSum += rank
			} else {
				neg++
			}
		}
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return (rankSum - pos*(pos+1)/2) / (pos * neg)
}

// MAE is the mean absolute difference of forecasts and outcomes; NaN when
// there are none or the lengths differ.
func MAE(forecast, actual []float64) float64 {
	if len(forecast) == 0 || len(forecast) != len(actual) {
		return math.NaN()
	}
	var s float64
	for i := range forecast {
		s += math.Abs(forecast[i] - actual[i])
	}
	return s / float64(len(forecast))
}
