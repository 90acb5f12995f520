package predict

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sitetwin/sitetwin/twin"
)

// reliable parses the Hillier & Lieberman network of testdata.
func reliable(t testing.TB) *Network {
	t.Helper()
	f, err := os.Open("testdata/schedule/reliable.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := ParseNetwork(f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestParseNetworkReliable(t *testing.T) {
	n := reliable(t)
	if n.Len() != 14 {
		t.Fatalf("%d activities, want 14", n.Len())
	}
	h := n.Activity(7)
	if h.ID != "H" || h.Name != "Do the exterior painting" || h.Optimistic != 5 || h.Likely != 8 || h.Pessimistic != 17 ||
		!slices.Equal(h.Predecessors, []string{"E", "G"}) {
		t.Errorf("activity H = %+v", h)
	}
	if i, ok := n.Index("N"); !ok || i != 13 {
		t.Errorf("Index(N) = %d, %v", i, ok)
	}
	// the topological order puts every predecessor first
	pos := map[int]int{}
	for k, i := range n.order {
		pos[i] = k
	}
	for i := range n.acts {
		for _, p := range n.preds[i] {
			if pos[p] >= pos[i] {
				t.Errorf("%s comes before its predecessor %s", n.acts[i].ID, n.acts[p].ID)
			}
		}
	}
}

// TestNetworkErrors checks that every bad network is a clear error naming
// the row (the file's line) and the column, and never a panic.
func TestNetworkErrors(t *testing.T) {
	tests := []struct {
		name, csv string
		row       int
		column    string
		want      string
	}{
		{"cycle with its path", "activity,optimistic,likely,pessimistic,predecessors\nA,1,2,3,\nB,2,3,4,A;D\nC,1,1,2,B\nD,1,2,3,C\n",
			3, "predecessors", `row 3 (activity "B"), predecessors: cycle B -> C -> D -> B (each must finish before the next starts)`},
		{"self dependency", "activity,optimistic,likely,pessimistic,predecessors\nA,1,2,3,\nB,2,3,4,B\n",
			3, "predecessors", "cycle B -> B"},
		{"missing predecessor", "activity,optimistic,likely,pessimistic,predecessors\nA,1,2,3,\nC,1,1,2,A;Z\n",
			3, "predecessors", `row 3 (activity "C"), predecessors: unknown predecessor "Z" (no activity has that id)`},
		{"likely below optimistic", "activity,optimistic,likely,pessimistic,predecessors\nA,3,2,4,\n",
			2, "likely", "2 is less than the optimistic 3"},
		{"pessimistic below likely", "activity,optimistic,likely,pessimistic,predecessors\nA,1,5,4,\n",
			2, "pessimistic", "4 is less than the likely 5"},
		{"negative", "activity,optimistic,likely,pessimistic,predecessors\nA,-1,2,4,\n",
			2, "optimistic", "-1 is negative"},
		{"not a number", "activity,optimistic,likely,pessimistic,predecessors\nA,1,two,4,\n",
			2, "likely", `"two" is not a number`},
		{"NaN", "activity,optimistic,likely,pessimistic,predecessors\nA,1,NaN,4,\n",
			2, "likely", "must be a finite number"},
		{"infinite", "activity,optimistic,likely,pessimistic,predecessors\nA,1,2,+Inf,\n",
			2, "pessimistic", "must be a finite number"},
		{"missing duration", "activity,optimistic,likely,pessimistic,predecessors\nA,1,,4,\n",
			2, "likely", "missing duration"},
		{"duplicate id", "activity,optimistic,likely,pessimistic,predecessors\nA,1,2,3,\nB,1,2,3,A\nA,1,2,3,\n",
			4, "activity", "duplicate id (first at row 2)"},
		{"missing id", "activity,optimistic,likely,pessimistic,predecessors\n,1,2,3,\n",
			2, "activity", "missing id"},
		{"empty predecessor", "activity,optimistic,likely,pessimistic,predecessors\nA,1,2,3,\nB,1,2,3,A;;\n",
			3, "predecessors", "empty predecessor"},
		{"missing column", "activity,optimistic,likely,pessimistic\nA,1,2,3\n",
			1, "predecessors", `missing column "predecessors"`},
		{"unknown column", "activity,optimistic,likely,pesimistic,predecessors\nA,1,2,3,\n",
			1, "pesimistic", `unknown column "pesimistic"`},
		{"wrong field count", "activity,optimistic,likely,pessimistic,predecessors\nA,1,2,3,\nB,1,2\n",
			3, "", "wrong number of fields"},
		{"bad quoting", "activity,optimistic,likely,pessimistic,predecessors\nA,1,2,3,\"B\n",
			2, "", "quote"},
		{"empty file", "", 0, "", "empty file"},
		{"header only", "activity,optimistic,likely,pessimistic,predecessors\n", 1, "", "no activities"},
		{"comments keep line numbers", "# a comment\nactivity,optimistic,likely,pessimistic,predecessors\n# another\nA,1,2,3,X\n",
			4, "predecessors", `unknown predecessor "X"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ParseNetwork(strings.NewReader(tc.csv))
			if err == nil {
				t.Fatalf("parsed %d activities, want an error", n.Len())
			}
			var ne *NetworkError
			if !errors.As(err, &ne) {
				t.Fatalf("error %T %v, want a *NetworkError", err, err)
			}
			if ne.Row != tc.row || ne.Column != tc.column || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q (row %d, column %q), want row %d, column %q, containing %q", err, ne.Row, ne.Column, tc.row, tc.column, tc.want)
			}
		})
	}
}

func TestParseNetworkTestdataErrors(t *testing.T) {
	for file, want := range map[string]string{
		"cycle.csv":               `row 3 (activity "B"), predecessors: cycle B -> C -> D -> B`,
		"missing_predecessor.csv": `row 4 (activity "C"), predecessors: unknown predecessor "Z"`,
		"misordered.csv":          `row 3 (activity "B"), likely: 3 is less than the optimistic 5`,
	} {
		f, err := os.Open("testdata/schedule/" + file)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ParseNetwork(f)
		f.Close()
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", file, err, want)
		}
	}
}

func TestParseNetworkLenient(t *testing.T) {
	// columns in any order, spaces, '-' for no predecessor, a BOM, a
	// predecessor listed twice, a zero-length milestone
	in := "\ufeffpredecessors, activity ,likely,optimistic,pessimistic\n-, A ,2,1,3\n A ; A ,B,0,0,0\n"
	n, err := ParseNetwork(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if n.Len() != 2 || n.Activity(0).ID != "A" || n.Activity(1).Likely != 0 || len(n.preds[1]) != 1 {
		t.Errorf("parsed %+v", n.Activities())
	}
}

func TestNetworkFromMilestones(t *testing.T) {
	ms := []twin.Milestone{
		{ID: "M1", OptimisticDays: 10, LikelyDays: 12, PessimisticDays: 20, Baselined: true},
		{ID: "X", Percent: 50}, // seen only in progress: not in the network
		{ID: "M2", OptimisticDays: 5, LikelyDays: 6, PessimisticDays: 9, DependsOn: []string{"M1"}, Baselined: true},
	}
	n, err := NetworkFromMilestones(ms)
	if err != nil {
		t.Fatal(err)
	}
	if got := n.IDs([]int{0, 1}); n.Len() != 2 || !slices.Equal(got, []string{"M1", "M2"}) {
		t.Errorf("network %v", got)
	}
	ms[2].DependsOn = []string{"M3"}
	_, err = NetworkFromMilestones(ms)
	if err == nil || err.Error() != `row 3 (activity "M2"), predecessors: unknown predecessor "M3" (no activity has that id)` {
		t.Errorf("error %v", err)
	}
	if _, err := NetworkFromMilestones(ms[1:2]); err == nil || !strings.Contains(err.Error(), "no baselined milestones") {
		t.Errorf("error %v", err)
	}
}

// FuzzParseNetwork checks that no input panics, and that a network that
// parses is analysable without NaN.
func FuzzParseNetwork(f *testing.F) {
	for _, s := range []string{
		"activity,optimistic,likely,pessimistic,predecessors\nA,1,2,3,\nB,2,3,4,A\n",
		"activity,optimistic,likely,pessimistic,predecessors\nA,1,2,3,B\nB,2,3,4,A\n",
		"activity,optimistic,likely,pessimistic,predecessors\nA,0,0,0,\n",
		"activity,optimistic,likely,pessimistic,predecessors\nA,1e9,1e9,1e9,\nB,1e9,1e9,1e9,A\n",
		"activity,optimistic,likely,pessimistic,predecessors\nA,1e308,1e308,1.7e308,\n",
		"activity,optimistic,likely,pessimistic,predecessors\n\"A\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNetwork(strings.NewReader(s))
		if err != nil {
			return
		}
		p := AnalyzePERT(n)
		if !finite(p.Mean) || !finite(p.Variance) || !finite(p.ProbFinishBy(p.Mean)) {
			t.Fatalf("PERT mean %v, variance %v", p.Mean, p.Variance)
		}
		if n.Len() > 200 {
			return
		}
		r, err := Simulate(n, SimOptions{Iterations: 50, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		if !finite(r.Mean) || !finite(r.StdDev) || !finite(r.P90) {
			t.Fatalf("simulated mean %v, sd %v, P90 %v", r.Mean, r.StdDev, r.P90)
		}
		for _, c := range r.Criticality {
			if c < 0 || c > 1 {
				t.Fatalf("criticality %v", c)
			}
		}
	})
}

// TestNetworkLarge builds a wide network near the size limit, listed with
// successors before their predecessors, and checks the order it finds.
func TestNetworkLarge(t *testing.T) {
	const size = 50_000
	acts := make([]Activity, size)
	for i := range acts {
		// activity i depends on i+1 and i+size/2 (when they exist): the
		// input lists every successor first
		a := Activity{ID: strconv.Itoa(i), Optimistic: 1, Likely: 2, Pessimistic: 3}
		for _, p := range []int{i + 1, i + size/2} {
			if p < size {
				a.Predecessors = append(a.Predecessors, strconv.Itoa(p))
			}
		}
		acts[i] = a
	}
	n, err := NewNetwork(acts)
	if err != nil {
		t.Fatal(err)
	}
	pos := make([]int, size)
	for k, i := range n.order {
		pos[i] = k
	}
	for i := range size {
		for _, p := range n.preds[i] {
			if pos[p] >= pos[i] {
				t.Fatalf("%d before its predecessor %d", i, p)
			}
		}
	}
	if p := AnalyzePERT(n); p.Mean != 2*size || len(p.CriticalPath) != size {
		t.Errorf("PERT mean %v over %d activities", p.Mean, len(p.CriticalPath))
	}
}
