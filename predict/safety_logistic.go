package predict

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/sitetwin/sitetwin/twin"
)

// SafetyLogistic is the safety model's baseline: a logistic regression of
// P(incident within 30 days) on the same site features (SiteFeatures),
// standardised with the training rows' means and standard deviations,
// fitted by Newton-Raphson (gonum/mat Cholesky) on the mean log-loss with a
// small ridge penalty. Nothing in the fit is random. Its predictions have the
// SafetyModel's shape; Effects are each feature's term β·z in the log-odds
// (z the standardised value, so 0 at the training mean).
//
// It is not registered by default: it is the reference the forest has to
// beat (predict/README.md, Safety).
type SafetyLogistic struct {
	opts     LogisticOptions
	fit      *logisticFit
	training SafetyTraining
	version  string
}

var (
	_ Model   = (*SafetyLogistic)(nil)
	_ Trainer = (*SafetyLogistic)(nil)
	_ Saver   = (*SafetyLogistic)(nil)
)

// LogisticOptions are the settings of the logistic baseline.
type LogisticOptions struct {
	// L2 is the ridge penalty on the standardised coefficients, added to
	// the mean log-loss as L2/2 Σβ² (default 1e-3; the intercept is not
	// penalised).
	L2 float64 `json:"l2"`
	// MaxIterations bounds the Newton steps (default 100).
	MaxIterations int `json:"max_iterations"`
}

// logisticFit is a fitted regression: p = σ(Intercept + Σ Coef·(x −
// Mean)/Scale).
type logisticFit struct {
	Features  []string  `json:"features"`
	Mean      []float64 `json:"mean"`
	Scale     []float64 `json:"scale"`
	Coef      []float64 `json:"coef"`
	Intercept float64   `json:"intercept"`
}

// logisticFile is the JSON form of a trained SafetyLogistic.
type logisticFile struct {
	Format   string          `json:"format"`
	Options  LogisticOptions `json:"options"`
	Training SafetyTraining  `json:"training"`
	Fit      *logisticFit    `json:"fit"`
}

const logisticFormat = "sitetwin.safety_logistic/1"

func (o *LogisticOptions) validate() error {
	if o.L2 == 0 {
		o.L2 = 1e-3
	}
	if o.MaxIterations == 0 {
		o.MaxIterations = 100
	}
	if !(o.L2 > 0 && o.L2 < 1e6) || o.MaxIterations < 1 {
		return fmt.Errorf("logistic options: l2 %v must be positive, max_iterations %d at least 1", o.L2, o.MaxIterations)
	}
	return nil
}

// NewSafetyLogistic returns an untrained logistic baseline (zero options
// take their defaults).
func NewSafetyLogistic(o LogisticOptions) (*SafetyLogistic, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &SafetyLogistic{opts: o, version: "untrained"}, nil
}

// Name is "safety_logistic".
func (*SafetyLogistic) Name() string { return "safety_logistic" }

// Version is "1-" and the start of the SHA-256 of the model file.
func (m *SafetyLogistic) Version() string { return m.version }

// Cost is Cheap.
func (*SafetyLogistic) Cost() Cost { return Cheap }

// Needs is the SafetyModel's.
func (*SafetyLogistic) Needs() []string { return (*SafetyModel)(nil).Needs() }

// Predict returns the project's prediction, as SafetyModel's; an untrained
// model returns ErrUntrained.
func (m *SafetyLogistic) Predict(_ context.Context, v *twin.ProjectView) (*Prediction, error) {
	if m.fit == nil {
		return nil, fmt.Errorf("safety logistic: %w", ErrUntrained)
	}
	return predictSafety(m.Name(), m.Version(), m, v, "log-odds")
}

// Training returns what the model was trained on.
func (m *SafetyLogistic) Training() SafetyTraining { return m.training }

func (m *SafetyLogistic) score(x, contrib []float64) float64 {
	f := m.fit
	z := f.Intercept
	for j := range f.Coef {
		t := f.Coef[j] * (x[j] - f.Mean[j]) / f.Scale[j]
		contrib[j] = t
		z += t
	}
	return sigmoid(z)
}

func (m *SafetyLogistic) note() string { return "term of the log-odds, 0 at the training mean" }

// Train fits the regression to the examples' labelled sites (as
// SafetyModel.Train reads them) and returns a new SafetyLogistic.
func (m *SafetyLogistic) Train(ctx context.Context, examples []Example) (Model, error) {
	o := m.opts
	if err := o.validate(); err != nil {
		return nil, err
	}
	x, y, err := SafetyRows(examples)
	if err != nil {
		return nil, fmt.Errorf("train safety logistic: %w", err)
	}
	tr, err := trainingOf(len(examples), y)
	if err != nil {
		return nil, fmt.Errorf("train safety logistic: %w", err)
	}
	fit, err := fitLogistic(ctx, x, y, o)
	if err != nil {
		return nil, fmt.Errorf("train safety logistic: %w", err)
	}
	out := &SafetyLogistic{opts: o, fit: fit, training: tr}
	b, err := out.MarshalModel()
	if err != nil {
		return nil, err
	}
	out.version = versionOf(b)
	return out, nil
}

// fitLogistic standardises the rows and minimises the penalised mean
// log-loss from β = 0 and the intercept at the log-odds of the base rate.
// It fails when ctx ends.
func fitLogistic(ctx context.Context, x [][]float64, y []bool, o LogisticOptions) (*logisticFit, error) {
	n, nf := len(x), sfCount
	fit := &logisticFit{Features: SafetyFeatureNames(), Mean: make([]float64, nf), Scale: make([]float64, nf), Coef: make([]float64, nf)}
	for _, r := range x {
		for j, v := range r {
			fit.Mean[j] += v / float64(n)
		}
	}
	for _, r := range x {
		for j, v := range r {
			d := v - fit.Mean[j]
			fit.Scale[j] += d * d / float64(n)
		}
	}
	for j := range fit.Scale {
		// rounded as the file keeps them, before they are used
		fit.Scale[j] = round6(math.Sqrt(fit.Scale[j]))
		if fit.Scale[j] < 1e-6 {
			fit.Scale[j] = 1 // constant in training: its coefficient stays 0
		}
		fit.Mean[j] = round6(fit.Mean[j])
	}
	z := make([][]float64, n)
	for i, r := range x {
		z[i] = make([]float64, nf)
		for j, v := range r {
			z[i][j] = (v - fit.Mean[j]) / fit.Scale[j]
		}
	}
	var pos float64
	for _, v := range y {
		pos += b2f(v)
	}
	// Newton-Raphson (iteratively reweighted least squares) on w = (β0,
	// β): the penalised mean log-loss is strictly convex, so each step
	// solves H Δ = −g by Cholesky; steps are halved while the loss rises.
	w := make([]float64, nf+1)
	w[0] = math.Log(pos / (float64(n) - pos))
	dim := nf + 1
	loss := func(w []float64) float64 {
		var l float64
		for i := range z {
			eta := w[0]
			for j, v := range z[i] {
				eta += w[j+1] * v
			}
			l += softplus(eta) - b2f(y[i])*eta
		}
		l /= float64(n)
		for j := 1; j < dim; j++ {
			l += o.L2 / 2 * w[j] * w[j]
		}
		return l
	}
	cur := loss(w)
	g := make([]float64, dim)
	hess := mat.NewSymDense(dim, nil)
	zi := make([]float64, dim)
	converged := false
	for it := 0; it < o.MaxIterations; it++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		clear(g)
		hess.Zero()
		for i := range z {
			zi[0] = 1
			copy(zi[1:], z[i])
			eta := 0.0
			for j, v := range zi {
				eta += w[j] * v
			}
			p := sigmoid(eta)
			d, h := (p-b2f(y[i]))/float64(n), p*(1-p)/float64(n)
			for a := range dim {
				g[a] += d * zi[a]
				for b := a; b < dim; b++ {
					hess.SetSym(a, b, hess.At(a, b)+h*zi[a]*zi[b])
				}
			}
		}
		for j := 1; j < dim; j++ {
			g[j] += o.L2 * w[j]
			hess.SetSym(j, j, hess.At(j, j)+o.L2)
		}
		var ch mat.Cholesky
		if !ch.Factorize(hess) {
			return nil, errors.New("newton: hessian not positive definite")
		}
		step := mat.NewVecDense(dim, nil)
		if err := ch.SolveVecTo(step, mat.NewVecDense(dim, g)); err != nil {
			return nil, fmt.Errorf("newton: %w", err)
		}
		next := make([]float64, dim)
		var took float64
		for t := 1.0; t > 1e-6; t /= 2 {
			for j := range next {
				next[j] = w[j] - t*step.AtVec(j)
			}
			if took = loss(next); took <= cur {
				break
			}
		}
		if took > cur {
			converged = true // no step lowers the loss: at the minimum, to rounding
			break
		}
		w, cur = next, took
		if mat.Norm(step, math.Inf(1)) < 1e-10 {
			converged = true
			break
		}
	}
	if !converged {
		return nil, fmt.Errorf("newton: not converged in %d iterations", o.MaxIterations)
	}
	for _, v := range w {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("newton: coefficients not finite")
		}
	}
	fit.Intercept = round6(w[0])
	for j := range fit.Coef {
		fit.Coef[j] = round6(w[j+1])
	}
	return fit, nil
}

func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}

func softplus(z float64) float64 {
	if z > 30 {
		return z
	}
	return math.Log1p(math.Exp(z))
}

// MarshalModel returns the model file (JSON), read back by
// UnmarshalSafetyLogistic.
func (m *SafetyLogistic) MarshalModel() ([]byte, error) {
	if m.fit == nil {
		return nil, fmt.Errorf("marshal safety logistic: %w", ErrUntrained)
	}
	b, err := json.Marshal(logisticFile{Format: logisticFormat, Options: m.opts, Training: m.training, Fit: m.fit})
	if err != nil {
		return nil, fmt.Errorf("marshal safety logistic: %w", err)
	}
	return append(b, '\n'), nil
}

// UnmarshalSafetyLogistic decodes and validates a model written by
// MarshalModel.
func UnmarshalSafetyLogistic(b []byte) (*SafetyLogistic, error) {
	var f logisticFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode safety logistic: %w", err)
	}
	if f.Format != logisticFormat {
		return nil, fmt.Errorf("decode safety logistic: format %q, want %q", f.Format, logisticFormat)
	}
	if err := f.Options.validate(); err != nil {
		return nil, fmt.Errorf("decode safety logistic: %w", err)
	}
	fit := f.Fit
	if fit == nil {
		return nil, errors.New("decode safety logistic: no fit")
	}
	if len(fit.Features) != sfCount || len(fit.Mean) != sfCount || len(fit.Scale) != sfCount || len(fit.Coef) != sfCount {
		return nil, fmt.Errorf("decode safety logistic: want %d features with a mean, scale and coefficient each", sfCount)
	}
	for j, name := range fit.Features {
		if name != safetyFeatureNames[j] {
			return nil, fmt.Errorf("decode safety logistic: feature %d is %q, want %q", j, name, safetyFeatureNames[j])
		}
		for _, v := range []float64{fit.Mean[j], fit.Scale[j], fit.Coef[j]} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("decode safety logistic: feature %s: not finite", name)
			}
		}
		if fit.Scale[j] <= 0 {
			return nil, fmt.Errorf("decode safety logistic: feature %s: scale %v not positive", name, fit.Scale[j])
		}
	}
	if math.IsNaN(fit.Intercept) || math.IsInf(fit.Intercept, 0) {
		return nil, errors.New("decode safety logistic: intercept not finite")
	}
	return &SafetyLogistic{opts: f.Options, fit: fit, training: f.Training, version: versionOf(b)}, nil
}
