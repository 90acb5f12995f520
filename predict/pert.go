package predict

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// PERT is the classical analytic PERT answer for a network (Malcolm, Roseboom,
// Clark and Fazar, "Application of a technique for research and development
// program evaluation", Operations Research 7(5), 1959; as taught in Hillier &
// Lieberman, Introduction to Operations Research, chapter "Project
// Management with PERT/CPM"):
//
//   - each activity's duration has mean (o + 4m + p) / 6 and variance
//     ((p - o) / 6)², from its optimistic, most likely and pessimistic
//     estimates;
//   - the mean critical path is the longest path by the forward pass over
//     the means;
//   - the project duration T is taken as normal, with the sum of the means
//     and the sum of the variances along that path.
//
// It ignores the other paths (merge bias): the Monte Carlo of Simulate does
// not, and its answer is usually later. When several paths tie for the
// longest mean, the one with the largest variance is taken (the cautious
// choice); remaining ties go to the earlier input row.
type PERT struct {
	Mean         float64        // expected project duration, in the network's unit
	Variance     float64        // along the mean critical path
	CriticalPath []int          // positions of the activities on it, in precedence order
	Activities   []PERTActivity // per activity, in input order
}

// PERTActivity is one activity's figures in the analytic PERT answer: its
// mean and variance, and its early and late dates by the forward and
// backward passes over the means (from 0).
type PERTActivity struct {
	Mean        float64
	Variance    float64
	EarlyStart  float64
	EarlyFinish float64
	LateStart   float64
	LateFinish  float64
	Slack       float64 // total float: LateStart - EarlyStart
}

// pertMoments returns the PERT mean and variance of a three-point estimate.
func pertMoments(o, m, p float64) (mean, variance float64) {
	sd := (p - o) / 6
	return (o + 4*m + p) / 6, sd * sd
}

// near reports whether two path lengths are equal up to rounding.
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// AnalyzePERT returns the analytic PERT answer for n.
func AnalyzePERT(n *Network) *PERT {
	k := n.Len()
	res := &PERT{Activities: make([]PERTActivity, k)}
	acts := res.Activities
	pathVar := make([]float64, k) // variance of the chosen longest path ending at i
	via := make([]int, k)         // the predecessor on that path, or -1
	for i, a := range n.acts {
		acts[i].Mean, acts[i].Variance = pertMoments(a.Optimistic, a.Likely, a.Pessimistic)
	}
	end := -1
	for _, i := range n.order {
		es, v, from := 0.0, 0.0, -1
		for _, p := range n.preds[i] {
			ef := acts[p].EarlyFinish
			switch {
			case from == -1 || ef > es && !near(ef, es):
				es, v, from = ef, pathVar[p], p
			case near(ef, es) && (pathVar[p] > v || pathVar[p] == v && p < from):
				es, v, from = math.Max(es, ef), pathVar[p], p
			}
		}
		acts[i].EarlyStart, acts[i].EarlyFinish = es, es+acts[i].Mean
		pathVar[i], via[i] = v+acts[i].Variance, from
		switch ef := acts[i].EarlyFinish; {
		case end == -1 || ef > acts[end].EarlyFinish && !near(ef, acts[end].EarlyFinish):
			end = i
		case near(ef, acts[end].EarlyFinish) && (pathVar[i] > pathVar[end] || pathVar[i] == pathVar[end] && i < end):
			end = i
		}
	}
	res.Mean, res.Variance = acts[end].EarlyFinish, pathVar[end]
	for _, i := range n.order {
		res.Mean = math.Max(res.Mean, acts[i].EarlyFinish) // a near-tie may end a hair later
	}
	for i := end; i != -1; i = via[i] {
		res.CriticalPath = append(res.CriticalPath, i)
	}
	for l, r := 0, len(res.CriticalPath)-1; l < r; l, r = l+1, r-1 {
		res.CriticalPath[l], res.CriticalPath[r] = res.CriticalPath[r], res.CriticalPath[l]
	}
	for k := len(n.order) - 1; k >= 0; k-- {
		i := n.order[k]
		lf := res.Mean
		for _, s := range n.succs[i] {
			lf = math.Min(lf, acts[s].LateStart)
		}
		acts[i].LateFinish, acts[i].LateStart = lf, lf-acts[i].Mean
		acts[i].Slack = acts[i].LateStart - acts[i].EarlyStart
		if near(acts[i].Slack, 0) {
			acts[i].Slack = 0
		}
	}
	return res
}

// StdDev returns the standard deviation of the project duration.
func (p *PERT) StdDev() float64 { return math.Sqrt(p.Variance) }

// ProbFinishBy returns P(T <= deadline) by the normal approximation. With no
// variance along the critical path it is 1 when the mean meets the deadline
// and 0 otherwise.
func (p *PERT) ProbFinishBy(deadline float64) float64 {
	if p.Variance <= 0 {
		if p.Mean <= deadline || near(p.Mean, deadline) {
			return 1
		}
		return 0
	}
	return distuv.Normal{Mu: p.Mean, Sigma: p.StdDev()}.CDF(deadline)
}

// Quantile returns the duration that the normal approximation finishes
// within with probability q (0 < q < 1).
func (p *PERT) Quantile(q float64) float64 {
	if p.Variance <= 0 {
		return p.Mean
	}
	return distuv.Normal{Mu: p.Mean, Sigma: p.StdDev()}.Quantile(q)
}
