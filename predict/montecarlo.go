package predict

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"gonum.org/v1/gonum/stat"
)

// Dist is the distribution an activity's duration is drawn from, given its
// optimistic (a), most likely (m) and pessimistic (b) estimates.
type Dist int

// Distributions of Simulate.
const (
	// BetaPERT is the PERT-Beta distribution on [a, b] with shape
	// parameters α = 1 + 4(m−a)/(b−a) and β = 1 + 4(b−m)/(b−a) (λ = 4), whose
	// mean is the PERT mean (a + 4m + b)/6 (Vose, Risk Analysis: A
	// Quantitative Guide, 3rd ed., 2008, §III.10 "PERT").
	BetaPERT Dist = iota
	// Triangular is the triangular distribution on [a, b] with mode m; its
	// mean (a + m + b)/3 gives more weight to the tails than BetaPERT.
	Triangular
)

func (d Dist) String() string {
	switch d {
	case BetaPERT:
		return "beta-pert"
	case Triangular:
		return "triangular"
	}
	return fmt.Sprintf("Dist(%d)", int(d))
}

// ParseDist parses "beta-pert" (or "pert") and "triangular".
func ParseDist(s string) (Dist, error) {
	switch s {
	case "beta-pert", "pert", "betapert":
		return BetaPERT, nil
	case "triangular", "triangle":
		return Triangular, nil
	}
	return 0, fmt.Errorf("unknown distribution %q: use beta-pert or triangular", s)
}

// Limits and defaults of SimOptions.
const (
	DefaultIterations = 10_000
	MaxIterations     = 10_000_000
	// chunk is the number of iterations drawn from one random stream. The
	// streams are keyed by (seed, chunk number), so the draws do not depend
	// on how many workers share the chunks.
	chunk = 2048
)

// SimOptions configures Simulate.
type SimOptions struct {
	// Iterations is the number of simulated projects: DefaultIterations
	// (10 000) when 0, at most MaxIterations.
	Iterations int
	// Seed keys the random streams: the same seed and network give the same
	// result, whatever Workers. Zero is a seed like any other.
	Seed uint64
	// Dist is the duration distribution; the zero value is BetaPERT.
	Dist Dist
	// Workers is the number of goroutines that share the iterations: 1 when
	// 0. It changes only how long Simulate takes, never its result.
	Workers int
}

// DefaultSimOptions returns 10 000 iterations of beta-PERT with seed 1 on one
// goroutine.
func DefaultSimOptions() SimOptions {
	return SimOptions{Iterations: DefaultIterations, Seed: 1, Dist: BetaPERT, Workers: 1}
}

// SimResult is the distribution of the project duration T (the length of the
// longest path, from 0) over the iterations of a Monte Carlo run.
type SimResult struct {
	Iterations    int
	Seed          uint64
	Dist          Dist
	Mean          float64
	StdDev        float64 // sample standard deviation
	Min, Max      float64
	P50, P80, P90 float64 // empirical quantiles (Quantile)
	// Criticality is the criticality index of each activity, in input order:
	// the share of iterations in which it lies on a longest path (has no
	// total float). Several activities in parallel can all be critical in one
	// iteration when their paths tie.
	Criticality []float64
	finish      []float64 // T of each iteration, ascending
}

// Simulate runs a Monte Carlo schedule risk analysis of n: each iteration
// draws every activity's duration from its three-point estimate, runs the
// forward pass (earliest start = the latest finish of its predecessors, from
// 0) and the backward pass, and records the project duration and which
// activities were critical. An activity whose estimates are all equal takes
// that duration. Errors are only for bad options.
func Simulate(n *Network, opts SimOptions) (*SimResult, error) {
	if opts.Iterations == 0 {
		opts.Iterations = DefaultIterations
	}
	if opts.Iterations < 0 || opts.Iterations > MaxIterations {
		return nil, fmt.Errorf("iterations %d: must be from 1 to %d", opts.Iterations, MaxIterations)
	}
	if opts.Dist != BetaPERT && opts.Dist != Triangular {
		return nil, fmt.Errorf("unknown distribution %v", opts.Dist)
	}
	if opts.Workers < 0 {
		return nil, fmt.Errorf("workers %d: must not be negative", opts.Workers)
	}
	workers := max(1, opts.Workers)
	iters := opts.Iterations
	chunks := (iters + chunk - 1) / chunk
	workers = min(workers, chunks)
	samplers := newSamplers(n, opts.Dist)
	res := &SimResult{Iterations: iters, Seed: opts.Seed, Dist: opts.Dist, finish: make([]float64, iters)}
	counts := make([][]int64, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		counts[w] = make([]int64, n.Len())
		wg.Go(func() {
			p := newPass(n)
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				rng := rand.New(stream(opts.Seed, uint64(c)))
				lo, hi := c*chunk, min(iters, (c+1)*chunk)
				for it := lo; it < hi; it++ {
					for i := range samplers {
						p.dur[i] = samplers[i].draw(rng)
					}
					res.finish[it] = p.run(counts[w])
				}
			}
		})
	}
	wg.Wait()
	res.Criticality = make([]float64, n.Len())
	for i := range res.Criticality {
		var c int64
		for w := range counts {
			c += counts[w][i]
		}
		res.Criticality[i] = float64(c) / float64(iters)
	}
	res.summarize()
	return res, nil
}

// stream returns the random stream of one chunk: ChaCha8 keyed by the seed
// and the chunk number, so that streams of different chunks and seeds are
// independent.
func stream(seed, c uint64) *rand.ChaCha8 {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], seed)
	binary.LittleEndian.PutUint64(key[8:], c)
	copy(key[16:], "sitetwin/predict")
	return rand.NewChaCha8(key)
}

// summarize sorts the durations and computes the summary figures (sums in
// iteration order, so they do not depend on the workers).
func (r *SimResult) summarize() {
	var sum float64
	for _, t := range r.finish {
		sum += t
	}
	r.Mean = sum / float64(len(r.finish))
	var ss float64
	for _, t := range r.finish {
		ss += (t - r.Mean) * (t - r.Mean)
	}
	if len(r.finish) > 1 {
		r.StdDev = math.Sqrt(ss / float64(len(r.finish)-1))
	}
	slices.Sort(r.finish)
	r.Min, r.Max = r.finish[0], r.finish[len(r.finish)-1]
	r.P50, r.P80, r.P90 = r.Quantile(0.5), r.Quantile(0.8), r.Quantile(0.9)
}

// Quantile returns the smallest simulated duration that at least the share q
// of the iterations finish within (the empirical quantile of gonum's
// stat.Quantile). q outside [0, 1] is clamped.
func (r *SimResult) Quantile(q float64) float64 {
	q = math.Min(1, math.Max(0, q))
	if math.IsNaN(q) {
		q = 0.5
	}
	return stat.Quantile(q, stat.Empirical, r.finish, nil)
}

// ProbFinishBy returns the share of iterations with T <= t.
func (r *SimResult) ProbFinishBy(t float64) float64 {
	k := sort.Search(len(r.finish), func(i int) bool { return r.finish[i] > t })
	return float64(k) / float64(len(r.finish))
}

// Durations returns a copy of the simulated durations, ascending.
func (r *SimResult) Durations() []float64 { return slices.Clone(r.finish) }

// Bin is one bar of a histogram: the iterations with Lo <= T < Hi (the last
// bin includes its Hi).
type Bin struct {
	Lo, Hi float64
	Count  int
}

// Histogram returns bins of equal width from Min to Max (one bin when every
// iteration took the same time).
func (r *SimResult) Histogram(bins int) []Bin {
	bins = max(1, bins)
	if r.Max <= r.Min {
		return []Bin{{Lo: r.Min, Hi: r.Max, Count: len(r.finish)}}
	}
	w := (r.Max - r.Min) / float64(bins)
	out := make([]Bin, bins)
	for i := range out {
		out[i].Lo, out[i].Hi = r.Min+float64(i)*w, r.Min+float64(i+1)*w
	}
	out[bins-1].Hi = r.Max
	for _, t := range r.finish {
		k := min(bins-1, int((t-r.Min)/w))
		out[k].Count++
	}
	return out
}

// affine returns the result for T' = offset + factor·T (factor > 0): a
// monotone map, so quantiles, the histogram and the criticality carry over.
func (r *SimResult) affine(offset, factor float64) *SimResult {
	out := *r
	out.finish = make([]float64, len(r.finish))
	for i, t := range r.finish {
		out.finish[i] = offset + factor*t
	}
	out.Criticality = slices.Clone(r.Criticality)
	out.Mean = offset + factor*r.Mean
	out.StdDev = factor * r.StdDev
	out.Min, out.Max = out.finish[0], out.finish[len(out.finish)-1]
	out.P50, out.P80, out.P90 = out.Quantile(0.5), out.Quantile(0.8), out.Quantile(0.9)
	return &out
}

// sampler draws one activity's duration.
type sampler struct {
	lo, span, mode float64 // [lo, lo+span]; mode as a fraction of span
	triangular     bool
	ga, gb         gammaShape // beta-PERT: Beta(α, β) as Gamma(α) / (Gamma(α) + Gamma(β))
}

func newSamplers(n *Network, d Dist) []sampler {
	out := make([]sampler, n.Len())
	for i, a := range n.acts {
		s := sampler{lo: a.Optimistic, span: a.Pessimistic - a.Optimistic, triangular: d == Triangular}
		if s.span > 0 {
			s.mode = (a.Likely - a.Optimistic) / s.span
			s.ga = newGammaShape(1 + 4*s.mode)
			s.gb = newGammaShape(1 + 4*(1-s.mode))
		}
		out[i] = s
	}
	return out
}

func (s *sampler) draw(rng *rand.Rand) float64 {
	if s.span <= 0 {
		return s.lo
	}
	var x float64
	if s.triangular {
		// inverse of the triangular CDF on [0, 1] with mode c
		u, c := rng.Float64(), s.mode
		if u < c {
			x = math.Sqrt(u * c)
		} else {
			x = 1 - math.Sqrt((1-u)*(1-c))
		}
	} else {
		g1, g2 := s.ga.draw(rng), s.gb.draw(rng)
		x = g1 / (g1 + g2)
	}
	return s.lo + x*s.span
}

// gammaShape draws Gamma(shape, 1) for shape >= 1 by Marsaglia and Tsang's
// method ("A simple method for generating gamma variables", ACM TOMS 26(3),
// 2000): d = shape − 1/3, c = 1/√(9d); draw x normal and u uniform, v =
// (1 + cx)³, accept d·v when v > 0 and u < 1 − 0.0331x⁴ or
// ln u < x²/2 + d(1 − v + ln v). Beta-PERT shapes are always in [1, 5].
type gammaShape struct{ d, c float64 }

func newGammaShape(shape float64) gammaShape {
	d := shape - 1.0/3
	return gammaShape{d: d, c: 1 / math.Sqrt(9*d)}
}

func (g gammaShape) draw(rng *rand.Rand) float64 {
	for {
		x := rng.NormFloat64()
		v := 1 + g.c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := rng.Float64()
		x2 := x * x
		if u < 1-0.0331*x2*x2 {
			return g.d * v
		}
		if u > 0 && math.Log(u) < 0.5*x2+g.d*(1-v+math.Log(v)) {
			return g.d * v
		}
	}
}

// pass holds the scratch of one worker's forward and backward passes.
type pass struct {
	n        *Network
	dur, ef  []float64
	lateFrom []float64 // latest start allowed by the successors (the late start)
}

func newPass(n *Network) *pass {
	k := n.Len()
	return &pass{n: n, dur: make([]float64, k), ef: make([]float64, k), lateFrom: make([]float64, k)}
}

// run computes the project duration for the durations in p.dur and adds 1
// to count[i] of every critical activity (no total float).
func (p *pass) run(count []int64) float64 {
	// plain comparisons, not math.Max: durations are never NaN, and this
	// is the hot loop
	n := p.n
	var t float64
	for _, i := range n.order {
		var es float64
		for _, q := range n.preds[i] {
			if ef := p.ef[q]; ef > es {
				es = ef
			}
		}
		ef := es + p.dur[i]
		p.ef[i] = ef
		if ef > t {
			t = ef
		}
	}
	tol := 1e-9 * max(1, t)
	for k := len(n.order) - 1; k >= 0; k-- {
		i := n.order[k]
		lf := t
		for _, s := range n.succs[i] {
			if ls := p.lateFrom[s]; ls < lf {
				lf = ls
			}
		}
		p.lateFrom[i] = lf - p.dur[i]
		if lf-p.ef[i] <= tol {
			count[i]++
		}
	}
	return t
}
