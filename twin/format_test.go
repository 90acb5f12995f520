package twin

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestNumDaysAsFmt guards the reasons' number formatting, written with
// strconv for speed, against the fmt verbs it replaced: the same text for
// every value, special values included.
func TestNumDaysAsFmt(t *testing.T) {
	want := func(x float64) (string, string) {
		n := fmt.Sprintf("%.1f", x)
		if math.Abs(x) >= 100 {
			n = fmt.Sprintf("%.0f", x)
		}
		d := fmt.Sprintf("%.0f days", x)
		if x == 1 {
			d = "1 day"
		}
		return n, d
	}
	xs := []float64{0, math.Copysign(0, -1), 1, -1, 0.05, 0.15, 0.25, -0.05, 99.94, 99.95, 99.96, 100, -100, 100.5, 101.5,
		1e21, -1e21, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), math.NaN()}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		xs = append(xs, (r.Float64()-0.5)*math.Pow(10, float64(r.IntN(12))))
	}
	for _, x := range xs {
		n, d := want(x)
		if got := num(x); got != n {
			t.Errorf("num(%v) = %q, fmt gives %q", x, got, n)
		}
		if got := days(x); got != d {
			t.Errorf("days(%v) = %q, fmt gives %q", x, got, d)
		}
	}
}
