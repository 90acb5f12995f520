package predict

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Activity is one activity (or milestone) of a schedule network: its
// three-point duration estimate and the activities that must finish before
// it starts (finish-to-start, no lag). Durations are in the network's unit
// (days for a twin, whatever the file uses for a CSV network).
type Activity struct {
	ID           string
	Name         string // optional
	Optimistic   float64
	Likely       float64
	Pessimistic  float64
	Predecessors []string
}

// Network is a validated activity-on-node network: every predecessor exists,
// there is no cycle, and every estimate satisfies 0 <= optimistic <= likely
// <= pessimistic <= MaxDuration. It is immutable once built, so one network can be analysed
// by several goroutines at once.
type Network struct {
	acts  []Activity
	index map[string]int
	preds [][]int // predecessors of each activity, by index, in the order listed
	succs [][]int // successors of each activity, by index, ascending
	order []int   // a topological order: earlier input rows first among the ready
}

// NetworkError says which row of a network is wrong and why. Row is the
// 1-based line of the CSV file (the header is line 1) for ParseNetwork, and
// the 1-based position in the slice for NewNetwork and NetworkFromMilestones;
// Row 0 is the network as a whole. Column names the field ("activity",
// "optimistic", "likely", "pessimistic", "predecessors"), or is empty.
type NetworkError struct {
	Row      int
	Column   string
	Activity string
	Reason   string
}

func (e *NetworkError) Error() string {
	var b strings.Builder
	if e.Row > 0 {
		fmt.Fprintf(&b, "row %d", e.Row)
		if e.Activity != "" {
			fmt.Fprintf(&b, " (activity %q)", e.Activity)
		}
	} else {
		b.WriteString("network")
	}
	if e.Column != "" {
		b.WriteString(", " + e.Column)
	}
	b.WriteString(": " + e.Reason)
	return b.String()
}

// Limits of a network: MaxActivities keeps a stray file from exhausting
// memory, and MaxDuration (in the network's unit) keeps every sum of
// durations finite.
const (
	MaxActivities = 100_000
	MaxDuration   = 1e9
)

// NewNetwork validates activities and builds a network from them. The
// activities are copied; their order is kept (it breaks ties wherever the
// analysis must choose). An error is a *NetworkError naming the first bad
// row: a missing or duplicate id, a negative or non-finite estimate,
// estimates out of order, an unknown predecessor, or a cycle (with its path).
func NewNetwork(acts []Activity) (*Network, error) {
	rows := make([]int, len(acts))
	for i := range rows {
		rows[i] = i + 1
	}
	return buildNetwork(acts, rows)
}

// buildNetwork is NewNetwork with the row each activity came from.
func buildNetwork(acts []Activity, rows []int) (*Network, error) {
	if len(acts) == 0 {
		return nil, &NetworkError{Reason: "no activities"}
	}
	if len(acts) > MaxActivities {
		return nil, &NetworkError{Reason: fmt.Sprintf("%d activities; at most %d are allowed", len(acts), MaxActivities)}
	}
	n := &Network{
		acts:  make([]Activity, len(acts)),
		index: make(map[string]int, len(acts)),
		preds: make([][]int, len(acts)),
		succs: make([][]int, len(acts)),
	}
	for i, a := range acts {
		a.ID = strings.TrimSpace(a.ID)
		a.Predecessors = slices.Clone(a.Predecessors)
		n.acts[i] = a
		bad := func(col, format string, args ...any) error {
			return &NetworkError{Row: rows[i], Column: col, Activity: a.ID, Reason: fmt.Sprintf(format, args...)}
		}
		switch {
		case a.ID == "":
			return nil, bad("activity", "missing id")
		case strings.ContainsAny(a.ID, ";,\"") || strings.ContainsFunc(a.ID, isControl):
			return nil, bad("activity", "id %q may not contain ';', ',', '\"' or control characters", a.ID)
		}
		if j, dup := n.index[a.ID]; dup {
			return nil, bad("activity", "duplicate id (first at row %d)", rows[j])
		}
		n.index[a.ID] = i
		for _, f := range []struct {
			col string
			v   float64
		}{{"optimistic", a.Optimistic}, {"likely", a.Likely}, {"pessimistic", a.Pessimistic}} {
			switch {
			case math.IsNaN(f.v) || math.IsInf(f.v, 0):
				return nil, bad(f.col, "must be a finite number")
			case f.v < 0:
				return nil, bad(f.col, "%g is negative: durations cannot be", f.v)
			case f.v > MaxDuration:
				return nil, bad(f.col, "%g is more than %g", f.v, float64(MaxDuration))
			}
		}
		if a.Optimistic > a.Likely {
			return nil, bad("likely", "%g is less than the optimistic %g: need optimistic <= likely <= pessimistic", a.Likely, a.Optimistic)
		}
		if a.Likely > a.Pessimistic {
			return nil, bad("pessimistic", "%g is less than the likely %g: need optimistic <= likely <= pessimistic", a.Pessimistic, a.Likely)
		}
	}
	for i, a := range n.acts {
		seen := make(map[int]bool, len(a.Predecessors))
		for _, p := range a.Predecessors {
			p = strings.TrimSpace(p)
			j, ok := n.index[p]
			if !ok {
				return nil, &NetworkError{Row: rows[i], Column: "predecessors", Activity: a.ID,
					Reason: fmt.Sprintf("unknown predecessor %q (no activity has that id)", p)}
			}
			if seen[j] {
				continue // listed twice: one constraint
			}
			seen[j] = true
			n.preds[i] = append(n.preds[i], j)
			n.succs[j] = append(n.succs[j], i)
		}
	}
	for i := range n.succs {
		slices.Sort(n.succs[i])
	}
	if err := n.sort(rows); err != nil {
		return nil, err
	}
	return n, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// sort finds a topological order (Kahn's algorithm, taking the earliest
// input row among the ready activities), or reports a cycle.
func (n *Network) sort(rows []int) error {
	indeg := make([]int, len(n.acts))
	for i := range n.acts {
		indeg[i] = len(n.preds[i])
	}
	var ready minHeap
	for i, d := range indeg {
		if d == 0 {
			ready.push(i)
		}
	}
	n.order = make([]int, 0, len(n.acts))
	for len(ready) > 0 {
		i := ready.pop()
		n.order = append(n.order, i)
		for _, s := range n.succs[i] {
			if indeg[s]--; indeg[s] == 0 {
				ready.push(s)
			}
		}
	}
	if len(n.order) == len(n.acts) {
		return nil
	}
	cycle := n.findCycle(indeg)
	first := slices.Min(cycle)
	k := slices.Index(cycle, first)
	cycle = slices.Concat(cycle[k:], cycle[:k]) // start at the earliest row
	ids := make([]string, 0, len(cycle)+1)
	for _, i := range cycle {
		ids = append(ids, n.acts[i].ID)
	}
	ids = append(ids, n.acts[first].ID)
	return &NetworkError{Row: rows[first], Column: "predecessors", Activity: n.acts[first].ID,
		Reason: "cycle " + strings.Join(ids, " -> ") + " (each must finish before the next starts)"}
}

// minHeap is a binary min-heap of positions.
type minHeap []int

func (h *minHeap) push(x int) {
	*h = append(*h, x)
	a := *h
	for i := len(a) - 1; i > 0; {
		parent := (i - 1) / 2
		if a[parent] <= a[i] {
			break
		}
		a[parent], a[i] = a[i], a[parent]
		i = parent
	}
}

func (h *minHeap) pop() int {
	a := *h
	top, last := a[0], len(a)-1
	a[0] = a[last]
	a = a[:last]
	for i := 0; ; {
		small, l, r := i, 2*i+1, 2*i+2
		if l < len(a) && a[l] < a[small] {
			small = l
		}
		if r < len(a) && a[r] < a[small] {
			small = r
		}
		if small == i {
			break
		}
		a[i], a[small] = a[small], a[i]
		i = small
	}
	*h = a
	return top
}

// findCycle returns the activities of one cycle in precedence order
// (each a predecessor of the next, the last a predecessor of the first),
// among those Kahn's algorithm could not order (indeg > 0).
func (n *Network) findCycle(indeg []int) []int {
	// Walk backwards along predecessors that are themselves unordered: each
	// such activity has one, so the walk must revisit an activity.
	start := slices.IndexFunc(indeg, func(d int) bool { return d > 0 })
	pos := map[int]int{}
	var walk []int
	for i := start; ; {
		if k, ok := pos[i]; ok {
			walk = walk[k:]
			break
		}
		pos[i] = len(walk)
		walk = append(walk, i)
		for _, p := range n.preds[i] {
			if indeg[p] > 0 {
				i = p
				break
			}
		}
	}
	slices.Reverse(walk) // from predecessor to successor
	return walk
}

// Len returns the number of activities.
func (n *Network) Len() int { return len(n.acts) }

// Activity returns the i-th activity, in input order. The caller may not
// modify its Predecessors.
func (n *Network) Activity(i int) Activity { return n.acts[i] }

// Activities returns a copy of the activities, in input order.
func (n *Network) Activities() []Activity {
	out := slices.Clone(n.acts)
	for i := range out {
		out[i].Predecessors = slices.Clone(out[i].Predecessors)
	}
	return out
}

// Index returns the position of an activity by id.
func (n *Network) Index(id string) (int, bool) {
	i, ok := n.index[id]
	return i, ok
}

// IDs returns the activity ids of positions, in the order given.
func (n *Network) IDs(positions []int) []string {
	out := make([]string, len(positions))
	for k, i := range positions {
		out[k] = n.acts[i].ID
	}
	return out
}
