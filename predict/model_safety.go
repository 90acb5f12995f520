package predict

import (
	"context"
	"crypto/sha256"
	_ "embed" // the default safety model
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/sitetwin/sitetwin/twin"
)

// SafetyModel predicts, for every site of a project, the probability of an
// incident within 30 days from the site's feature vector (SiteFeatures): a
// forest of CART trees grown with golearn on bootstrap samples (see
// safety_forest.go), each leaf's probability its smoothed share of
// incidents, averaged over the trees. It is Cheap: the engine runs it inline.
//
// Its prediction is about the project (Subject ""): Values
// "p_incident_30d" is the highest of the sites' probabilities (what the
// rule pack's safety_p_incident risk reads) and "p_incident_30d@<site>"
// each site's; Effects are the path contributions of the worst site's
// features (each split on a tree's path from the root to the site's leaf
// moves the probability; the moves are summed per feature and averaged over
// the trees, so that they add up to the site's probability minus the
// forest's mean root probability, about the base rate); Details are, per
// site, worst first, {"site", "p", "factors"} with its top factors.
//
// A SafetyModel is also a Trainer: Train grows a new forest with the
// model's options. The zero value is not usable; DefaultSafetyModel is the
// trained model sitetwin ships, NewSafetyModel an untrained one.
type SafetyModel struct {
	opts     SafetyOptions
	forest   *forest
	idx      []int // the forest's features as indexes of safetyFeatureNames
	training SafetyTraining
	version  string
}

var (
	_ Model   = (*SafetyModel)(nil)
	_ Trainer = (*SafetyModel)(nil)
	_ Saver   = (*SafetyModel)(nil)
)

// The safety models' files, for LoadTrained.
func init() {
	loaders["safety"] = func(b []byte) (Model, error) {
		m, err := UnmarshalSafetyModel(b)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
	loaders["safety_logistic"] = func(b []byte) (Model, error) {
		m, err := UnmarshalSafetyLogistic(b)
		if err != nil {
			return nil, err
		}
		return m, nil
	}
}

// SafetyOptions are the training settings of the safety model.
type SafetyOptions struct {
	// Trees is the number of bagged trees (default 100).
	Trees int `json:"trees"`
	// MaxDepth limits each tree's depth (default 5).
	MaxDepth int `json:"max_depth"`
	// MinLeaf is the fewest bootstrap rows a leaf may hold; smaller
	// splits are pruned (default 80).
	MinLeaf int `json:"min_leaf"`
	// Bins is the most bins a feature is cut into before golearn sees it
	// (default 32).
	Bins int `json:"bins"`
	// FeatureFraction is the share of the features each tree may split
	// on, drawn per tree (default 0.6).
	FeatureFraction float64 `json:"feature_fraction"`
	// PriorWeight is m of the leaves' m-estimate (pos + m·base rate) / (n
	// + m) (default 2; Laplace's rule is m = 2 toward ½).
	PriorWeight float64 `json:"prior_weight"`
	// Seed seeds the bootstrap samples and feature subsets (default 1; 0
	// means 1).
	Seed uint64 `json:"seed"`
}

// DefaultSafetyOptions returns the options the shipped model was trained
// with.
func DefaultSafetyOptions() SafetyOptions {
	return SafetyOptions{Trees: 100, MaxDepth: 5, MinLeaf: 80, Bins: 32, FeatureFraction: 0.6, PriorWeight: 2, Seed: 1}
}

// validate checks the options, filling zero fields with their defaults.
func (o *SafetyOptions) validate() error {
	d := DefaultSafetyOptions()
	if o.Trees == 0 {
		o.Trees = d.Trees
	}
	if o.MaxDepth == 0 {
		o.MaxDepth = d.MaxDepth
	}
	if o.MinLeaf == 0 {
		o.MinLeaf = d.MinLeaf
	}
	if o.Bins == 0 {
		o.Bins = d.Bins
	}
	if o.FeatureFraction == 0 {
		o.FeatureFraction = d.FeatureFraction
	}
	if o.PriorWeight == 0 {
		o.PriorWeight = d.PriorWeight
	}
	if o.Seed == 0 {
		o.Seed = d.Seed
	}
	switch {
	case o.Trees < 1 || o.Trees > 1000:
		return fmt.Errorf("safety options: trees %d not in 1..1000", o.Trees)
	case o.MaxDepth < 1 || o.MaxDepth > 30:
		return fmt.Errorf("safety options: max_depth %d not in 1..30", o.MaxDepth)
	case o.MinLeaf < 1:
		return fmt.Errorf("safety options: min_leaf %d below 1", o.MinLeaf)
	case o.Bins < 2 || o.Bins > 1024:
		return fmt.Errorf("safety options: bins %d not in 2..1024", o.Bins)
	case !(o.FeatureFraction > 0 && o.FeatureFraction <= 1):
		return fmt.Errorf("safety options: feature_fraction %v not in (0, 1]", o.FeatureFraction)
	case !(o.PriorWeight > 0 && o.PriorWeight < 1e6):
		return fmt.Errorf("safety options: prior_weight %v not positive", o.PriorWeight)
	}
	return nil
}

// SafetyTraining describes what a safety model was trained on.
type SafetyTraining struct {
	Examples  int     `json:"examples"`  // examples (views) given
	Rows      int     `json:"rows"`      // labelled sites over them
	Positives int     `json:"positives"` // of those, sites with an incident within 30 days
	BaseRate  float64 `json:"base_rate"` // Positives / Rows
}

// NewSafetyModel returns an untrained safety model with these options
// (zero fields take their defaults): a Trainer whose Predict fails until
// trained.
func NewSafetyModel(o SafetyOptions) (*SafetyModel, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &SafetyModel{opts: o, version: "untrained"}, nil
}

//go:embed models/safety.model.json
var defaultSafetyJSON []byte

var defaultSafety = sync.OnceValues(func() (*SafetyModel, error) {
	m, err := UnmarshalSafetyModel(defaultSafetyJSON)
	if err != nil {
		return nil, fmt.Errorf("embedded safety model: %w", err)
	}
	return m, nil
})

// DefaultSafetyModel returns the safety model sitetwin ships (embedded
// from predict/models/safety.model.json; see predict/README.md, Safety, for how
// it was trained). The model is shared and immutable.
func DefaultSafetyModel() (*SafetyModel, error) { return defaultSafety() }

// Name is "safety".
func (*SafetyModel) Name() string { return "safety" }

// Version is "1-" and the first 12 hex digits of the SHA-256 of the
// model file, so that a retrained model has another version.
func (m *SafetyModel) Version() string { return m.version }

// Cost is Cheap: a few hundred comparisons per site.
func (*SafetyModel) Cost() Cost { return Cheap }

// Needs lists the events that change a site's features: hazards found,
// rectified and re-inspected, incidents, equipment and sites, credit
// (wages, acceptances), and sensor readings, which the engine runs models
// after only when they change an alarm (so readings cost nothing unless an
// alarm is raised or cleared). Features that move with the clock alone
// (the 7- and 90-day windows, days since start) are brought up to date by
// the next such event.
func (*SafetyModel) Needs() []string {
	return []string{twin.TypeProjectRegistered, twin.TypeSiteAdded, twin.TypeEquipmentInstalled,
		twin.TypeHazardFound, twin.TypeHazardRectified, twin.TypeInspectionCompleted, twin.TypeIncidentReported,
		twin.TypeSensorReading, twin.TypeWagesPaid, twin.TypeAcceptancePassed}
}

// Options returns the model's training options.
func (m *SafetyModel) Options() SafetyOptions { return m.opts }

// Training returns what the model was trained on (zero if untrained).
func (m *SafetyModel) Training() SafetyTraining { return m.training }

// Trained reports whether the model holds a forest.
func (m *SafetyModel) Trained() bool { return m.forest != nil }

// ErrUntrained is returned by Predict, SiteRisks and MarshalModel of a model
// that was never trained (NewSafetyModel without Train).
var ErrUntrained = errors.New("model not trained")

// Predict returns the project's prediction (see SafetyModel), or
// ErrNotApplicable when the project has no registered site.
func (m *SafetyModel) Predict(_ context.Context, v *twin.ProjectView) (*Prediction, error) {
	if m.forest == nil {
		return nil, fmt.Errorf("safety model: %w", ErrUntrained)
	}
	return predictSafety(m.Name(), m.Version(), m, v, "probability")
}

// SiteRisks returns each registered site's probability of an incident
// within 30 days with its factors, in the order of v.Sites.
func (m *SafetyModel) SiteRisks(v *twin.ProjectView) ([]SiteRisk, error) {
	if m.forest == nil {
		return nil, fmt.Errorf("safety model: %w", ErrUntrained)
	}
	return siteRisks(m, v), nil
}

// score implements safetyScorer: the forest's probability and path
// contributions for a full feature vector.
func (m *SafetyModel) score(x, contrib []float64) float64 {
	var xs [sfCount]float64
	var cs [sfCount]float64
	for k, i := range m.idx {
		xs[k] = x[i]
	}
	n := len(m.idx)
	p := m.forest.predict(xs[:n], cs[:n])
	for k, i := range m.idx {
		contrib[i] = cs[k]
	}
	return p
}

// note implements safetyScorer.
func (m *SafetyModel) note() string {
	return fmt.Sprintf("path contribution over %d trees; forest mean %.4f", len(m.forest.Trees), m.forest.Bias)
}

// Train grows a forest on the examples with the model's options and returns
// it as a new SafetyModel. Each example's labels "incident_30d@<site>" (0 or
// 1) label the sites of its view; sites without such a label are skipped.
// It fails when no site is labelled, when all labels agree, when a label is
// not 0 or 1 or names a site the view lacks, and when ctx ends (checked
// between trees).
func (m *SafetyModel) Train(ctx context.Context, examples []Example) (Model, error) {
	return m.TrainSafety(ctx, examples)
}

// TrainSafety is Train returning the concrete type.
func (m *SafetyModel) TrainSafety(ctx context.Context, examples []Example) (*SafetyModel, error) {
	o := m.opts
	if err := o.validate(); err != nil {
		return nil, err
	}
	x, y, err := SafetyRows(examples)
	if err != nil {
		return nil, fmt.Errorf("train safety: %w", err)
	}
	tr, err := trainingOf(len(examples), y)
	if err != nil {
		return nil, fmt.Errorf("train safety: %w", err)
	}
	f, err := fitForest(ctx, safetyFeatureNames, x, y, forestParams{
		trees: o.Trees, maxDepth: o.MaxDepth, minLeaf: o.MinLeaf, bins: o.Bins,
		featureFraction: o.FeatureFraction, priorWeight: o.PriorWeight, seed: o.Seed,
	})
	if err != nil {
		return nil, fmt.Errorf("train safety: %w", err)
	}
	out := &SafetyModel{opts: o, forest: f, training: tr}
	if err := out.index(); err != nil {
		return nil, fmt.Errorf("train safety: %w", err)
	}
	b, err := out.MarshalModel()
	if err != nil {
		return nil, fmt.Errorf("train safety: %w", err)
	}
	out.version = versionOf(b)
	return out, nil
}

// trainingOf counts the outcomes and checks that both occur.
func trainingOf(examples int, y []bool) (SafetyTraining, error) {
	tr := SafetyTraining{Examples: examples, Rows: len(y)}
	for _, v := range y {
		if v {
			tr.Positives++
		}
	}
	switch {
	case tr.Rows == 0:
		return tr, fmt.Errorf("no labelled sites in %d examples (labels %q)", examples, SafetyLabelPrefix+"<site>")
	case tr.Positives == 0 || tr.Positives == tr.Rows:
		return tr, fmt.Errorf("all %d labelled sites have label %d: need sites with and without an incident", tr.Rows, tr.Positives/tr.Rows)
	}
	tr.BaseRate = round6(float64(tr.Positives) / float64(tr.Rows))
	return tr, nil
}

// SafetyLabelPrefix begins the label of a site's outcome in an Example:
// "incident_30d@<site>" is 1 when the site had an incident within 30 days
// of the view, else 0.
const SafetyLabelPrefix = "incident_30d@"

// SafetyRows turns labelled examples into feature rows (SiteFeatures in
// the order of SafetyFeatureNames) and outcomes, one per labelled site, in
// the order of the examples and their views' sites. A label that is not 0
// or 1, or names a site the view lacks, is an error naming the example.
func SafetyRows(examples []Example) (x [][]float64, y []bool, err error) {
	for i, ex := range examples {
		if ex.View == nil {
			if hasSafetyLabel(ex.Label) {
				return nil, nil, fmt.Errorf("example %d: labels sites but has no view", i)
			}
			continue
		}
		used := 0
		for j := range ex.View.Sites {
			s := &ex.View.Sites[j]
			l, ok := ex.Label[SafetyLabelPrefix+s.ID]
			if !ok {
				continue
			}
			used++
			if l != 0 && l != 1 {
				return nil, nil, fmt.Errorf("example %d (%s at %s): label %s%s is %v, want 0 or 1",
					i, ex.View.ID, ex.View.Clock.Format("2006-01-02T15:04Z07:00"), SafetyLabelPrefix, s.ID, l)
			}
			x = append(x, siteFeatureVector(ex.View, s))
			y = append(y, l == 1)
		}
		if n := countSafetyLabels(ex.Label); n != used {
			return nil, nil, fmt.Errorf("example %d (%s): %d %s labels name sites the view lacks", i, ex.View.ID, n-used, SafetyLabelPrefix+"<site>")
		}
	}
	return x, y, nil
}

func hasSafetyLabel(l map[string]float64) bool { return countSafetyLabels(l) > 0 }

func countSafetyLabels(l map[string]float64) int {
	n := 0
	for k := range l {
		if strings.HasPrefix(k, SafetyLabelPrefix) {
			n++
		}
	}
	return n
}

// index maps the forest's features onto SiteFeatures.
func (m *SafetyModel) index() error {
	f := m.forest
	if len(f.Features) == 0 || len(f.Features) > sfCount {
		return fmt.Errorf("%d features, want 1..%d", len(f.Features), sfCount)
	}
	m.idx = make([]int, len(f.Features))
	for k, name := range f.Features {
		i := slices.Index(safetyFeatureNames, name)
		if i < 0 {
			return fmt.Errorf("feature %q is not a site feature", name)
		}
		if slices.Contains(m.idx[:k], i) {
			return fmt.Errorf("feature %q listed twice", name)
		}
		m.idx[k] = i
	}
	return nil
}

// The model file.

// safetyFormat names the model file format; safetyAlgorithm the algorithm
// version that Version carries.
const (
	safetyFormat    = "sitetwin.safety/1"
	safetyAlgorithm = "1"
)

// safetyFile is the JSON form of a trained SafetyModel.
type safetyFile struct {
	Format   string         `json:"format"`
	Options  SafetyOptions  `json:"options"`
	Training SafetyTraining `json:"training"`
	Forest   *forest        `json:"forest"`
}

// MarshalModel returns the model file: JSON, deterministic (the same model
// gives the same bytes), read back by UnmarshalSafetyModel.
func (m *SafetyModel) MarshalModel() ([]byte, error) {
	if m.forest == nil {
		return nil, fmt.Errorf("marshal safety model: %w", ErrUntrained)
	}
	b, err := json.Marshal(safetyFile{Format: safetyFormat, Options: m.opts, Training: m.training, Forest: m.forest})
	if err != nil {
		return nil, fmt.Errorf("marshal safety model: %w", err)
	}
	return append(b, '\n'), nil
}

// UnmarshalSafetyModel decodes and validates a model file written by
// MarshalModel:
// the format, the options, features that SiteFeatures knows, and trees
// whose nodes are in pre-order with children after their parent,
// thresholds finite and probabilities in [0, 1]. An error names what is
// wrong.
func UnmarshalSafetyModel(b []byte) (*SafetyModel, error) {
	var f safetyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decode safety model: %w", err)
	}
	if f.Format != safetyFormat {
		return nil, fmt.Errorf("decode safety model: format %q, want %q", f.Format, safetyFormat)
	}
	if err := f.Options.validate(); err != nil {
		return nil, fmt.Errorf("decode safety model: %w", err)
	}
	if f.Forest == nil {
		return nil, errors.New("decode safety model: no forest")
	}
	m := &SafetyModel{opts: f.Options, forest: f.Forest, training: f.Training, version: versionOf(b)}
	if err := m.index(); err != nil {
		return nil, fmt.Errorf("decode safety model: %w", err)
	}
	if err := f.Forest.validate(); err != nil {
		return nil, fmt.Errorf("decode safety model: %w", err)
	}
	return m, nil
}

// validate checks the trees of a decoded forest.
func (f *forest) validate() error {
	if len(f.Trees) == 0 || len(f.Trees) > 1000 {
		return fmt.Errorf("%d trees, want 1..1000", len(f.Trees))
	}
	prob := func(p float64) bool { return p >= 0 && p <= 1 }
	if !prob(f.BaseRate) || !prob(f.Bias) {
		return fmt.Errorf("base rate %v or bias %v not in [0, 1]", f.BaseRate, f.Bias)
	}
	for i := range f.Trees {
		ns := f.Trees[i].Nodes
		if len(ns) == 0 {
			return fmt.Errorf("tree %d: no nodes", i)
		}
		reached := make([]bool, len(ns))
		reached[0] = true
		for j, n := range ns {
			if !reached[j] {
				return fmt.Errorf("tree %d node %d: not reached from the root", i, j)
			}
			if !prob(n.P) {
				return fmt.Errorf("tree %d node %d: probability %v not in [0, 1]", i, j, n.P)
			}
			if n.Feature < 0 {
				if n.Feature != -1 || n.Left != 0 || n.Right != 0 {
					return fmt.Errorf("tree %d node %d: a leaf has feature %d and children %d, %d", i, j, n.Feature, n.Left, n.Right)
				}
				continue
			}
			switch {
			case n.Feature >= len(f.Features):
				return fmt.Errorf("tree %d node %d: feature %d of %d", i, j, n.Feature, len(f.Features))
			case math.IsNaN(n.Threshold) || math.IsInf(n.Threshold, 0):
				return fmt.Errorf("tree %d node %d: threshold %v", i, j, n.Threshold)
			case n.Left <= j || n.Right <= j || n.Left >= len(ns) || n.Right >= len(ns) || n.Left == n.Right:
				return fmt.Errorf("tree %d node %d: children %d, %d not after it in 1..%d", i, j, n.Left, n.Right, len(ns)-1)
			case reached[n.Left] || reached[n.Right]:
				return fmt.Errorf("tree %d node %d: a child has two parents", i, j)
			}
			reached[n.Left], reached[n.Right] = true, true
		}
	}
	return nil
}

// versionOf is the version of a model file's bytes.
func versionOf(b []byte) string {
	h := sha256.Sum256(b)
	return safetyAlgorithm + "-" + hex.EncodeToString(h[:6])
}
