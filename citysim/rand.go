package citysim

import (
	"math"
	"math/rand/v2"
	"time"
)

// Stream tags. Every random choice is drawn from a stream keyed by the seed,
// a tag and one or two indices, so that a project's history does not depend
// on how many projects the city has, nor an item of it on Start: the n-th
// payroll of P-007 is the same whatever came before it.
const (
	tagCity uint64 = iota + 1
	tagProject
	tagPlan
	tagMilestone
	tagProgress
	tagWage
	tagDeposit
	tagHazardGap
	tagHazard
	tagChangeGap
	tagChange
	tagLive
	tagDayNoise
	tagSite
	tagPitSurge
	tagIncidentGap
	tagIncident
	tagSpeed
)

// mix64 is the SplitMix64 finaliser (Steele, Lea and Flood, "Fast splittable
// pseudorandom number generators", OOPSLA 2014): a bijective scrambler that
// turns structured keys into well-spread seeds.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// key combines the seed, a tag and two indices into one 64-bit key.
func (c *City) key(tag, a, b uint64) uint64 {
	return mix64(mix64(mix64(c.seed^mix64(tag))^a) ^ b)
}

// keyed returns a fresh PCG stream for a key.
func (c *City) keyed(tag, a, b uint64) *rand.Rand {
	k := c.key(tag, a, b)
	return rand.New(rand.NewPCG(k, mix64(k^0x5851f42d4c957f2d)))
}

// unitOf maps a key to a uniform number in [0, 1).
func unitOf(k uint64) float64 { return float64(k>>11) * 0x1p-53 }

// smooth returns a smooth random field over time in [-1, 1]: independent
// values at each local day (or other period) boundary, joined by cosine
// interpolation. It is a pure function of the seed, the tag and the time, so
// a value never depends on how often it is sampled.
func (c *City) smooth(tag uint64, t time.Time, period time.Duration) float64 {
	x := float64(t.Unix()+8*3600) / period.Seconds()
	i := math.Floor(x)
	f := x - i
	a := 2*unitOf(c.key(tagDayNoise, tag, uint64(int64(i)))) - 1
	b := 2*unitOf(c.key(tagDayNoise, tag, uint64(int64(i)+1))) - 1
	w := (1 - math.Cos(math.Pi*f)) / 2
	return a + (b-a)*w
}

// uni returns a uniform number in [lo, hi).
func uni(r *rand.Rand, lo, hi float64) float64 { return lo + (hi-lo)*r.Float64() }

// pick returns an index with probability proportional to its weight.
func pick(r *rand.Rand, weights []float64) int {
	var sum float64
	for _, w := range weights {
		sum += w
	}
	x := r.Float64() * sum
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// expDays returns an exponential waiting time in days with the given mean.
func expDays(r *rand.Rand, mean float64) float64 { return r.ExpFloat64() * mean }

// round rounds x to the given number of decimals.
func round(x float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(x*p) / p
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func earlierOf(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
