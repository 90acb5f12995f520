package predict

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/sjwhitworth/golearn/base"
	"github.com/sjwhitworth/golearn/trees"
)

// The safety model's forest: CART trees grown by golearn (trees.
// NewDecisionTreeClassifier, Gini impurity) on seeded bootstrap samples,
// then exported into sitetwin's own node arrays (forestTree), pruned to a
// minimum leaf size, and given leaf probabilities. Inference never touches
// golearn.
//
// golearn's CART tries every midpoint between distinct values of every
// feature at every node, and counts classes in a map for each: quadratic
// in the distinct values. Features are therefore binned first (at most
// Bins bins per feature, cut at quantiles of the training rows); golearn
// sees bin numbers, and its thresholds are mapped back to the cut values,
// so the exported trees compare the features themselves (x < t goes left).
// golearn's CART draws nothing at random; the bootstrap and the feature
// subsets come from PCG streams keyed by (Seed, tree), so the same data and
// options give the same forest, whatever the number of goroutines.

// forestTree is one exported tree: nodes in pre-order (children after
// their parent), node 0 the root.
type forestTree struct {
	Nodes []forestNode `json:"nodes"`
}

// forestNode is one node of a tree: a split (Feature ≥ 0: x[Feature] <
// Threshold goes to Left, else Right) or a leaf (Feature = -1). P is the
// node's smoothed probability of an incident, N the bootstrap rows that
// reached it in training.
type forestNode struct {
	Feature   int     `json:"f"`
	Threshold float64 `json:"t,omitempty"`
	Left      int     `json:"l,omitempty"`
	Right     int     `json:"r,omitempty"`
	P         float64 `json:"p"`
	N         int     `json:"n"`
}

// leaf returns the leaf a feature vector reaches, adding each split's
// change of probability to its feature's contribution when contrib is not
// nil (path contributions, Saabas 2014).
func (t *forestTree) leaf(x, contrib []float64) *forestNode {
	n := &t.Nodes[0]
	for n.Feature >= 0 {
		next := &t.Nodes[n.Right]
		if x[n.Feature] < n.Threshold {
			next = &t.Nodes[n.Left]
		}
		if contrib != nil {
			contrib[n.Feature] += next.P - n.P
		}
		n = next
	}
	return n
}

// forestParams are the training settings of a forest (SafetyOptions with
// defaults applied).
type forestParams struct {
	trees, maxDepth, minLeaf, bins int
	featureFraction, priorWeight   float64
	seed                           uint64
}

// binner maps feature values to bin numbers: bin(x) = how many cuts are ≤ x.
type binner struct {
	cuts [][]float64 // per feature, strictly increasing
}

// newBinner cuts each feature at most bins-1 times: at the midpoints
// between consecutive distinct values, all of them when there are at most
// bins distinct values, else those closest above each quantile q/bins.
func newBinner(rows [][]float64, nf, bins int) *binner {
	b := &binner{cuts: make([][]float64, nf)}
	col := make([]float64, len(rows))
	for f := range nf {
		for i, r := range rows {
			col[i] = r[f]
		}
		slices.Sort(col)
		var distinct []float64
		var upto []int // rows ≤ distinct[j]
		for i, v := range col {
			if len(distinct) == 0 || v != distinct[len(distinct)-1] {
				distinct, upto = append(distinct, v), append(upto, 0)
			}
			upto[len(upto)-1] = i + 1
		}
		var cuts []float64
		for j := 0; j+1 < len(distinct); j++ {
			mid := distinct[j] + (distinct[j+1]-distinct[j])/2
			if len(distinct) <= bins {
				cuts = append(cuts, mid)
				continue
			}
			// a cut after distinct[j] when it crosses the next quantile
			q := len(cuts) + 1
			if float64(upto[j]) >= float64(q)*float64(len(rows))/float64(bins) {
				cuts = append(cuts, mid)
			}
		}
		b.cuts[f] = cuts
	}
	return b
}

// bin returns the bin of value x of feature f.
func (b *binner) bin(f int, x float64) int {
	c := b.cuts[f]
	return sort.Search(len(c), func(i int) bool { return c[i] > x })
}

// fitForest grows the forest on rows x (features in the order of names)
// with outcomes y. It needs both outcomes.
func fitForest(ctx context.Context, names []string, x [][]float64, y []bool, p forestParams) (*forest, error) {
	var pos int
	for _, v := range y {
		if v {
			pos++
		}
	}
	base := float64(pos) / float64(len(y))
	bn := newBinner(x, len(names), p.bins)
	binned := make([][]float64, len(x))
	for i, r := range x {
		binned[i] = make([]float64, len(r))
		for f, v := range r {
			binned[i][f] = float64(bn.bin(f, v))
		}
	}
	out := &forest{Features: slices.Clone(names), BaseRate: round6(base), Trees: make([]forestTree, p.trees)}
	errs := make([]error, p.trees)
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(p.trees, runtime.GOMAXPROCS(0)) {
		wg.Go(func() {
			for i := range next {
				out.Trees[i], errs[i] = growTree(i, x, binned, y, bn, base, p)
			}
		})
	}
	var cerr error
	for i := range p.trees {
		if cerr = ctx.Err(); cerr != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if cerr != nil {
		return nil, cerr
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out.setBias()
	return out, nil
}

// growTree grows tree i: a bootstrap sample and a feature subset drawn from
// its own PCG stream, golearn's CART on the binned sample, exported,
// pruned and given probabilities.
func growTree(i int, x, binned [][]float64, y []bool, bn *binner, base float64, p forestParams) (forestTree, error) {
	r := rand.New(rand.NewPCG(p.seed, uint64(i)+1))
	n, nf := len(x), len(bn.cuts)
	sample := make([]int, n)
	for k := range sample {
		sample[k] = r.IntN(n)
	}
	feats := make([]int, nf)
	for f := range feats {
		feats[f] = f
	}
	if k := int(math.Ceil(p.featureFraction * float64(nf))); k < nf {
		r.Shuffle(nf, func(a, b int) { feats[a], feats[b] = feats[b], feats[a] })
		feats = feats[:max(k, 1)]
		slices.Sort(feats)
	}
	root, err := cart(binned, y, sample, feats, p.maxDepth)
	if err != nil {
		return forestTree{}, fmt.Errorf("tree %d: %w", i, err)
	}
	t := exportTree(root, feats, bn)
	t.fill(x, y, sample)
	t.prune(max(p.minLeaf, 1))
	t.probabilities(base, p.priorWeight)
	return t.compact(), nil
}

// cart fits golearn's CART classifier to the sampled rows, restricted to
// the features feats (bin numbers), and returns its root (nil when it
// found no split).
func cart(binned [][]float64, y []bool, sample, feats []int, maxDepth int) (*cartNode, error) {
	inst, err := instances(binned, y, sample, feats)
	if err != nil {
		return nil, err
	}
	t, err := fitCART(inst, maxDepth)
	if err != nil {
		return nil, err
	}
	return fromGolearn(t), nil
}

// instances lays the sampled rows out as golearn instances: the features
// feats as float attributes, in that order, then the outcome as the class.
func instances(binned [][]float64, y []bool, sample, feats []int) (*base.DenseInstances, error) {
	inst := base.NewDenseInstances()
	specs := make([]base.AttributeSpec, len(feats))
	for k, f := range feats {
		specs[k] = inst.AddAttribute(base.NewFloatAttribute(fmt.Sprintf("x%d", f)))
	}
	class := base.NewFloatAttribute("incident")
	classSpec := inst.AddAttribute(class)
	if err := inst.AddClassAttribute(class); err != nil {
		return nil, fmt.Errorf("golearn instances: %w", err)
	}
	if err := inst.Extend(len(sample)); err != nil {
		return nil, fmt.Errorf("golearn instances: %w", err)
	}
	for row, i := range sample {
		for k, f := range feats {
			inst.Set(specs[k], row, base.PackFloatToBytes(binned[i][f]))
		}
		inst.Set(classSpec, row, base.PackFloatToBytes(b2f(y[i])))
	}
	return inst, nil
}

// fitCART grows golearn's CART classifier (Gini impurity) on instances; a
// panic in golearn is returned as an error.
func fitCART(inst *base.DenseInstances, maxDepth int) (t *trees.CARTDecisionTreeClassifier, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("golearn cart: %v", r)
		}
	}()
	t = trees.NewDecisionTreeClassifier(trees.GINI, int64(maxDepth), []int64{0, 1})
	if err := t.Fit(inst); err != nil {
		return nil, fmt.Errorf("golearn cart: %w", err)
	}
	return t, nil
}

// cartNode is a split of golearn's tree, in sitetwin's hands: golearn
// feature index (into feats), bin-space threshold, children (nil: a leaf).
type cartNode struct {
	feature     int
	threshold   float64
	left, right *cartNode
}

// fromGolearn copies golearn's tree. golearn marks a node that found no
// split by leaving it out of its parent; only the root can be such a node,
// and then its threshold is 0, which no real split has (bin numbers are
// integers ≥ 0, so thresholds are midpoints ≥ 0.5). golearn's node type is
// unexported, its fields are not: the walk holds its nodes in a slice whose
// type is inferred.
func fromGolearn(t *trees.CARTDecisionTreeClassifier) *cartNode {
	if t.RootNode == nil || t.RootNode.Threshold == 0 {
		return nil
	}
	var root *cartNode
	todo, dst := stackOf(t.RootNode), []**cartNode{&root}
	for len(todo) > 0 {
		g, d := todo[len(todo)-1], dst[len(dst)-1]
		todo, dst = todo[:len(todo)-1], dst[:len(dst)-1]
		c := &cartNode{feature: int(g.Feature), threshold: g.Threshold}
		*d = c
		if g.Left != nil {
			todo, dst = append(todo, g.Left), append(dst, &c.left)
		}
		if g.Right != nil {
			todo, dst = append(todo, g.Right), append(dst, &c.right)
		}
	}
	return root
}

// stackOf returns a slice holding x, of x's type.
func stackOf[T any](x T) []T { return []T{x} }

// buildNode is a node of a tree while it is exported, filled and pruned.
type buildNode struct {
	feature     int // -1: a leaf
	threshold   float64
	left, right *buildNode
	n, pos      int
	p           float64
}

// exportTree turns golearn's bin-space tree into a tree over the features:
// golearn's feature k is feats[k], and bin < t is x < the cut number
// ceil(t)-1 (bins are the counts of cuts ≤ x).
func exportTree(c *cartNode, feats []int, bn *binner) *buildNode {
	if c == nil {
		return &buildNode{feature: -1}
	}
	f := feats[c.feature]
	cuts := bn.cuts[f]
	k := min(max(int(math.Ceil(c.threshold))-1, 0), len(cuts)-1)
	return &buildNode{feature: f, threshold: cuts[k], left: exportTree(c.left, feats, bn), right: exportTree(c.right, feats, bn)}
}

// fill counts the sampled rows, and the incidents among them, that reach
// each node.
func (b *buildNode) fill(x [][]float64, y []bool, sample []int) {
	for _, i := range sample {
		n := b
		for {
			n.n++
			if y[i] {
				n.pos++
			}
			if n.feature < 0 {
				break
			}
			if x[i][n.feature] < n.threshold {
				n = n.left
			} else {
				n = n.right
			}
		}
	}
}

// prune turns into a leaf every split with a child of fewer than minLeaf
// rows, from the bottom up.
func (b *buildNode) prune(minLeaf int) {
	if b.feature < 0 {
		return
	}
	b.left.prune(minLeaf)
	b.right.prune(minLeaf)
	if b.left.n < minLeaf || b.right.n < minLeaf {
		b.feature, b.threshold, b.left, b.right = -1, 0, nil, nil
	}
}

// probabilities sets each node's probability: its share of incidents
// smoothed toward the base rate, (pos + m·base) / (n + m), the m-estimate
// (Laplace's rule is m = 2 toward ½; incidents are rare, so the prior is
// the base rate instead).
func (b *buildNode) probabilities(base, m float64) {
	b.p = round6((float64(b.pos) + m*base) / (float64(b.n) + m))
	if b.feature >= 0 {
		b.left.probabilities(base, m)
		b.right.probabilities(base, m)
	}
}

// compact lays the tree out in pre-order.
func (b *buildNode) compact() forestTree {
	var t forestTree
	var add func(n *buildNode) int
	add = func(n *buildNode) int {
		i := len(t.Nodes)
		t.Nodes = append(t.Nodes, forestNode{Feature: n.feature, Threshold: n.threshold, P: n.p, N: n.n})
		if n.feature >= 0 {
			l := add(n.left)
			r := add(n.right)
			t.Nodes[i].Left, t.Nodes[i].Right = l, r
		}
		return i
	}
	add(b)
	return t
}

// forest is a trained bag of trees over named features.
type forest struct {
	Features []string     `json:"features"`
	BaseRate float64      `json:"base_rate"` // incidents among the training rows
	Bias     float64      `json:"bias"`      // the mean of the roots' probabilities
	Trees    []forestTree `json:"trees"`
}

// setBias sets Bias from the trees.
func (f *forest) setBias() {
	var s float64
	for i := range f.Trees {
		s += f.Trees[i].Nodes[0].P
	}
	f.Bias = round6(s / float64(len(f.Trees)))
}

// predict returns the mean of the trees' leaf probabilities for x (in the
// order of Features); with contrib (zeroed, one per feature) it also
// returns each feature's path contribution, averaged over the trees, so
// that Bias + Σ contrib = p.
func (f *forest) predict(x, contrib []float64) float64 {
	var s float64
	for i := range f.Trees {
		s += f.Trees[i].leaf(x, contrib).P
	}
	k := float64(len(f.Trees))
	for j := range contrib {
		contrib[j] /= k
	}
	return s / k
}
