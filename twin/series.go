package twin

import (
	"math"
	"time"
)

// Reading is one sensor value at an event time.
type Reading struct {
	Time  time.Time `json:"time"`
	Value float64   `json:"value"`
	Event string    `json:"event"`
}

// Bucket aggregates the readings of one time bucket. Times are Unix
// milliseconds; E is the sum of 10^(v/10), for the equivalent level of
// decibel readings.
type Bucket struct {
	Start int64   `json:"s"`
	N     int64   `json:"n"`
	Sum   float64 `json:"sum"`
	E     float64 `json:"e,omitempty"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	FT    int64   `json:"ft"` // time of the earliest reading
	FV    float64 `json:"fv"`
	LT    int64   `json:"lt"` // time of the latest reading
	LV    float64 `json:"lv"`
}

// Series is the kept history of one sensor (a kind at a site, or a kind of
// one piece of equipment): the latest reading and per-bucket aggregates over
// the retention period of the kind, in ascending bucket order.
type Series struct {
	Kind      string  `json:"kind"`
	Equipment string  `json:"equipment,omitempty"`
	Unit      string  `json:"unit"`
	BucketMS  int64   `json:"bucket_ms"`
	KeepMS    int64   `json:"retention_ms"`
	Latest    Reading `json:"latest"`
	Buckets   Buckets `json:"buckets"`

	// steps are what a reading of the series sets off at its site, current
	// while plan is the site's (see sitePlan); never written.
	plan  *sitePlan
	steps []planStep
}

func newSeries(kind, equipment string, spec SeriesSpec) *Series {
	return &Series{
		Kind: kind, Equipment: equipment, Unit: CanonicalUnit(kind),
		BucketMS: spec.Bucket.D().Milliseconds(), KeepMS: spec.Retention.D().Milliseconds(),
	}
}

// seriesKey names a series within a site.
func seriesKey(kind, equipment string) string {
	if equipment == "" {
		return kind
	}
	return kind + "@" + equipment
}

// add puts a reading into its bucket and drops buckets older than the
// retention behind the newest. It reports false when the reading is older
// than the retention (and so was not kept).
func (s *Series) add(t time.Time, v float64, id string) bool {
	ms := t.UnixMilli()
	if !s.Latest.Time.IsZero() && ms < s.Latest.Time.UnixMilli()-s.KeepMS {
		return false
	}
	start := floorDiv(ms, s.BucketMS) * s.BucketMS
	if ms-start > maxOffset {
		return false // only in buckets over 49 days long, which Rules refuses
	}
	if s.Latest.Time.IsZero() || !t.Before(s.Latest.Time) {
		s.Latest = Reading{Time: t, Value: v, Event: id}
	}
	// Retention keeps the buckets that start after the newest one minus
	// the retention. They are dropped before the reading goes in, so that
	// a full series does not grow for the moment it holds one more; a
	// reading whose own bucket is that old is not kept either.
	bs := &s.Buckets
	newest := start
	if n := len(bs.s); n > 0 {
		newest = max(newest, bs.s[n-1].start)
	}
	cut := 0
	for cut < len(bs.s) && bs.s[cut].start <= newest-s.KeepMS {
		cut++
	}
	limit := s.maxBuckets()
	bs.dropFront(cut, limit)
	if start <= newest-s.KeepMS {
		return true
	}
	i := len(bs.s)
	for i > 0 && bs.s[i-1].start > start {
		i--
	}
	off := uint32(ms - start)
	if i > 0 && bs.s[i-1].start == start {
		k := &bs.s[i-1]
		k.n++
		k.sum += v
		if e := s.energy(v); e != 0 || bs.e != nil {
			if bs.e == nil {
				bs.e = make([]float64, len(bs.s), cap(bs.s))
			}
			bs.e[i-1] += e
		}
		k.min = math.Min(k.min, v)
		k.max = math.Max(k.max, v)
		if off < k.ft {
			k.ft, k.fv = off, v
		}
		if off >= k.lt {
			k.lt, k.lv = off, v
		}
		return true
	}
	bs.insert(i, slot{start: start, n: 1, sum: v, min: v, max: v, ft: off, fv: v, lt: off, lv: v}, s.energy(v), limit)
	return true
}

// maxBuckets is the most buckets the series can hold: as many bucket
// starts as fit in the retention.
func (s *Series) maxBuckets() int {
	if s.BucketMS <= 0 || s.KeepMS <= 0 {
		return 0
	}
	return int(min((s.KeepMS+s.BucketMS-1)/s.BucketMS, 1<<20))
}

// energy returns the sound energy 10^(v/10) of a decibel reading, and 0 for
// any other kind: 10^(v/10) of a PM10 value of 5000 µg/m³ is +Inf, which
// would make the twin impossible to write as JSON.
func (s *Series) energy(v float64) float64 {
	if s.Unit != decibels {
		return 0
	}
	return energy(v)
}

// energy is the sound energy 10^(v/10) of a level v in decibels.
func energy(v float64) float64 { return math.Pow(10, v/10) }

// decibels is the canonical unit of the kinds whose readings are levels in
// decibels, the only ones an equivalent level (leq) can be taken of.
const decibels = "dB(A)"

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// window returns the buckets [i, j) of a window of length w ending with
// the bucket of time t: those whose start is after bucket(t) + bucket - w,
// and, when since is set, not before since.
func (s *Series) window(t time.Time, w time.Duration, since time.Time) (i, j int) {
	end := floorDiv(t.UnixMilli(), s.BucketMS) * s.BucketMS
	from := end + s.BucketMS - w.Milliseconds()
	if !since.IsZero() {
		from = max(from, since.UnixMilli())
	}
	bs := s.Buckets.s
	i = len(bs)
	for i > 0 && bs[i-1].start >= from {
		i--
	}
	j = len(bs)
	for j > i && bs[j-1].start > end {
		j--
	}
	return i, j
}

// Aggregate computes an aggregate over the window of length w ending at t. A
// rate is the magnitude of the change from the window's first reading to its
// last, per day.
// It reports false when the window holds no readings (or, for a rate, when
// they span less than minSpan).
func (s *Series) Aggregate(agg string, t time.Time, w, minSpan time.Duration) (float64, bool) {
	return s.AggregateSince(agg, t, w, minSpan, time.Time{})
}

// AggregateSince is Aggregate over the part of the window from since on
// (the buckets that start at or after it): a rule of one part of the day
// (night noise) does not judge readings of the part before.
func (s *Series) AggregateSince(agg string, t time.Time, w, minSpan time.Duration, since time.Time) (float64, bool) {
	switch agg {
	case AggLast:
		if s.Latest.Time.IsZero() {
			return 0, false
		}
		return s.Latest.Value, true
	case AggLastAbs:
		if s.Latest.Time.IsZero() {
			return 0, false
		}
		return math.Abs(s.Latest.Value), true
	}
	i, j := s.window(t, w, since)
	if i == j {
		return 0, false
	}
	bs := &s.Buckets
	var n int64
	var sum, e float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for k := i; k < j; k++ {
		b := &bs.s[k]
		n += b.n
		sum += b.sum
		lo = math.Min(lo, b.min)
		hi = math.Max(hi, b.max)
	}
	if bs.e != nil {
		for _, x := range bs.e[i:j] {
			e += x
		}
	}
	switch agg {
	case AggMean:
		return sum / float64(n), true
	case AggMax:
		return hi, true
	case AggMaxAbs:
		return math.Max(math.Abs(lo), math.Abs(hi)), true
	case AggSum:
		return sum, true
	case AggLeq:
		return 10 * math.Log10(e/float64(n)), true
	case AggRatePerDay:
		first, last := &bs.s[i], &bs.s[j-1]
		ft, lt := first.start+int64(first.ft), last.start+int64(last.lt)
		span := time.Duration(lt-ft) * time.Millisecond
		if span < minSpan || span <= 0 {
			return 0, false
		}
		return math.Abs(last.lv-first.fv) / span.Hours() * 24, true
	}
	return 0, false
}
