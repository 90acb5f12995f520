package twin

import (
	"iter"
	"math"
)

// Buckets is a series' buckets, in ascending start order. It keeps them in
// a layout of about two thirds of a []Bucket, sized to what the series
// holds: a bucket's first and last reading times as offsets from its start
// (the readings of a bucket lie within it), and the sound energy E beside
// the buckets only once a bucket has any (decibel kinds; every other kind's
// E is 0). At gives a bucket back as a Bucket; nothing is rounded, so the
// aggregates and the snapshot are those of a []Bucket. The zero value is
// empty and ready to use.
type Buckets struct {
	s []slot
	e []float64 // E of each bucket, parallel to s; nil while every E is 0
}

// slot is a bucket as Buckets keeps it: 64 bytes instead of Bucket's 80.
type slot struct {
	start                 int64
	n                     int64
	sum, min, max, fv, lv float64
	ft, lt                uint32 // FT and LT minus start
}

// maxOffset bounds the time of a reading after the start of its bucket:
// a bucket is at most this long (about 49 days; see Rules).
const maxOffset = math.MaxUint32

// Len returns the number of buckets.
func (bs *Buckets) Len() int { return len(bs.s) }

// Cap returns the number of buckets the backing arrays have room for.
func (bs *Buckets) Cap() int { return cap(bs.s) }

// HeapBytes returns the bytes of the backing arrays.
func (bs *Buckets) HeapBytes() int { return cap(bs.s)*slotSize + cap(bs.e)*8 }

const slotSize = 64

// At returns bucket i, oldest first.
func (bs *Buckets) At(i int) Bucket {
	k := &bs.s[i]
	b := Bucket{
		Start: k.start, N: k.n, Sum: k.sum, Min: k.min, Max: k.max,
		FT: k.start + int64(k.ft), FV: k.fv, LT: k.start + int64(k.lt), LV: k.lv,
	}
	if bs.e != nil {
		b.E = bs.e[i]
	}
	return b
}

// All yields the buckets, oldest first.
func (bs *Buckets) All() iter.Seq[Bucket] {
	return func(yield func(Bucket) bool) {
		for i := range bs.s {
			if !yield(bs.At(i)) {
				return
			}
		}
	}
}

// clone returns a copy that shares no memory with bs.
func (bs *Buckets) clone() Buckets {
	c := Buckets{s: append([]slot(nil), bs.s...)}
	if bs.e != nil {
		c.e = append([]float64(nil), bs.e...)
	}
	return c
}

// energyAt returns the E of bucket i.
func (bs *Buckets) energyAt(i int) float64 {
	if bs.e == nil {
		return 0
	}
	return bs.e[i]
}

// makeBuckets returns Buckets holding a copy of bs, which must be in
// strictly ascending start order with each bucket's first and last
// reading times from its start to maxOffset after it; it reports false
// (and no Buckets) otherwise.
func makeBuckets(bs ...Bucket) (Buckets, bool) {
	var out Buckets
	for i, b := range bs {
		if i > 0 && b.Start <= bs[i-1].Start || !inBucket(b.Start, b.FT) || !inBucket(b.Start, b.LT) {
			return Buckets{}, false
		}
		out.push(b, 0)
	}
	return out, true
}

// inBucket reports whether a reading at t can be kept in the bucket that
// starts at start.
func inBucket(start, t int64) bool {
	return t >= start && t-start <= maxOffset
}

// push appends a bucket that starts after the last one (see makeBuckets),
// growing the arrays to about 5/4 of the length but not beyond limit (0:
// none) unless they must.
func (bs *Buckets) push(b Bucket, limit int) {
	bs.insert(len(bs.s), slot{
		start: b.Start, n: b.N, sum: b.Sum, min: b.Min, max: b.Max,
		ft: uint32(b.FT - b.Start), fv: b.FV, lt: uint32(b.LT - b.Start), lv: b.LV,
	}, b.E, limit)
}

// insert puts a bucket at position i.
func (bs *Buckets) insert(i int, k slot, e float64, limit int) {
	n := len(bs.s)
	if n == cap(bs.s) {
		bs.resize(grown(n, limit))
	}
	if e != 0 && bs.e == nil {
		bs.e = make([]float64, n, cap(bs.s))
	}
	bs.s = bs.s[:n+1]
	copy(bs.s[i+1:], bs.s[i:n])
	bs.s[i] = k
	if bs.e != nil {
		bs.e = bs.e[:n+1]
		copy(bs.e[i+1:], bs.e[i:n])
		bs.e[i] = e
	}
}

// grown is the capacity for one more than n buckets: a quarter more,
// within limit when there is one.
func grown(n, limit int) int {
	c := n + n/4 + 1
	if limit > 0 && c > limit {
		c = limit
	}
	return max(c, n+1)
}

// resize moves the buckets to arrays of capacity c (at least their length).
func (bs *Buckets) resize(c int) {
	s := make([]slot, len(bs.s), c)
	copy(s, bs.s)
	bs.s = s
	if bs.e != nil {
		e := make([]float64, len(bs.e), c)
		copy(e, bs.e)
		bs.e = e
	}
}

// dropFront removes the first n buckets, and gives the arrays back down to
// room for a quarter more than are left when they have room for more than
// twice as many. (Giving them back at half as many again would save about
// 0.8 KiB of the 14 a steady site's buckets take in bench twins, but a
// series whose readings come at random reallocates its arrays as its count
// of buckets wanders: 11 more bytes allocated per live event in bench
// apply.)
func (bs *Buckets) dropFront(n int, limit int) {
	if n == 0 {
		return
	}
	left := len(bs.s) - n
	copy(bs.s, bs.s[n:])
	bs.s = bs.s[:left]
	if bs.e != nil {
		copy(bs.e, bs.e[n:])
		bs.e = bs.e[:left]
	}
	if cap(bs.s) > 2*left+2 {
		bs.resize(grown(left, limit))
	}
}
