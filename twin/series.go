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
	if s.Latest.Time.IsZero() || !t.Before(s.Latest.Time) {
		s.Latest = Reading{Time: t, Value: v, Event: id}
	}
	start := floorDiv(ms, s.BucketMS) * s.BucketMS
	i := len(s.Buckets)
	for i > 0 && s.Buckets[i-1].Start > start {
		i--
	}
	if i > 0 && s.Buckets[i-1].Start == start {
		b := &s.Buckets[i-1]
		b.N++
		b.Sum += v
		b.E += s.energy(v)
		b.Min = math.Min(b.Min, v)
		b.Max = math.Max(b.Max, v)
		if ms < b.FT {
			b.FT, b.FV = ms, v
		}
		if ms >= b.LT {
			b.LT, b.LV = ms, v
		}
	} else {
		b := Bucket{Start: start, N: 1, Sum: v, E: s.energy(v), Min: v, Max: v, FT: ms, FV: v, LT: ms, LV: v}
		s.Buckets = append(s.Buckets, Bucket{})
		copy(s.Buckets[i+1:], s.Buckets[i:])
		s.Buckets[i] = b
	}
	// retention: keep the buckets that start after newest bucket - retention
	newest := s.Buckets[len(s.Buckets)-1].Start
	cut := 0
	for cut < len(s.Buckets) && s.Buckets[cut].Start <= newest-s.KeepMS {
		cut++
	}
	if cut > 0 {
		s.Buckets = append(s.Buckets[:0], s.Buckets[cut:]...)
	}
	return true
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

// window returns the buckets of a window of length w ending with the bucket
// of time t: those whose start is after bucket(t) + bucket - w, and, when
// since is set, not before since.
func (s *Series) window(t time.Time, w time.Duration, since time.Time) []Bucket {
	end := floorDiv(t.UnixMilli(), s.BucketMS) * s.BucketMS
	from := end + s.BucketMS - w.Milliseconds()
	if !since.IsZero() {
		from = max(from, since.UnixMilli())
	}
	i := len(s.Buckets)
	for i > 0 && s.Buckets[i-1].Start >= from {
		i--
	}
	j := len(s.Buckets)
	for j > i && s.Buckets[j-1].Start > end {
		j--
	}
	return s.Buckets[i:j]
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
	bs := s.window(t, w, since)
	if len(bs) == 0 {
		return 0, false
	}
	var n int64
	var sum, e float64
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, b := range bs {
		n += b.N
		sum += b.Sum
		e += b.E
		lo = math.Min(lo, b.Min)
		hi = math.Max(hi, b.Max)
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
		first, last := bs[0], bs[len(bs)-1]
		span := time.Duration(last.LT-first.FT) * time.Millisecond
		if span < minSpan || span <= 0 {
			return 0, false
		}
		return math.Abs(last.LV-first.FV) / span.Hours() * 24, true
	}
	return 0, false
}
