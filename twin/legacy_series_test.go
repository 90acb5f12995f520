package twin

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"time"
)

// legacySeries is the series as it was kept before Buckets (a []Bucket,
// grown by append), with its codec: the model the compact layout must
// agree with, reading for reading, aggregate for aggregate and byte for
// byte of the snapshot.
type legacySeries struct {
	BucketMS, KeepMS int64
	Unit             string
	Latest           Reading
	Buckets          []Bucket
}

func (s *legacySeries) add(t time.Time, v float64, id string) bool {
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

func (s *legacySeries) energy(v float64) float64 {
	if s.Unit != decibels {
		return 0
	}
	return energy(v)
}

func (s *legacySeries) window(t time.Time, w time.Duration, since time.Time) []Bucket {
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

func (s *legacySeries) AggregateSince(agg string, t time.Time, w, minSpan time.Duration, since time.Time) (float64, bool) {
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

// legacyMarshalBuckets is the []Bucket codec's MarshalJSON.
func legacyMarshalBuckets(bs []Bucket) []byte {
	b := []byte{codecV1}
	b = binary.AppendUvarint(b, uint64(len(bs)))
	var prev int64
	for _, k := range bs {
		var flags byte
		if k.E != 0 {
			flags |= bucketEnergy
		}
		single := k.N == 1 && k.Sum == k.Min && k.Min == k.Max && k.Max == k.FV && k.FV == k.LV && k.FT == k.LT &&
			(k.E == 0 || k.E == energy(k.Sum))
		if single {
			flags |= bucketSingle
		}
		b = append(b, flags)
		b = binary.AppendVarint(b, k.Start-prev)
		prev = k.Start
		b = binary.AppendVarint(b, k.FT-k.Start)
		if single {
			b = appendFloat(b, k.Sum)
			continue
		}
		b = binary.AppendUvarint(b, uint64(k.N))
		b = binary.AppendVarint(b, k.LT-k.FT)
		b = appendFloat(b, k.Sum)
		if flags&bucketEnergy != 0 {
			b = appendFloat(b, k.E)
		}
		b = appendFloat(b, k.Min)
		b = appendFloat(b, k.Max)
		b = appendFloat(b, k.FV)
		b = appendFloat(b, k.LV)
	}
	out, _ := json.Marshal(base64.RawStdEncoding.EncodeToString(b))
	return out
}

// legacyBuckets decodes as the []Bucket codec did.
type legacyBuckets []Bucket

func (bs *legacyBuckets) UnmarshalJSON(data []byte) error {
	out, err := legacyUnmarshalBuckets(data)
	if err == nil {
		*bs = out
	}
	return err
}

// legacyUnmarshalBuckets is the []Bucket codec's UnmarshalJSON.
func legacyUnmarshalBuckets(data []byte) ([]Bucket, error) {
	if string(data) == "null" {
		return nil, nil
	}
	var str string
	if err := json.Unmarshal(data, &str); err != nil {
		return nil, err
	}
	raw, err := base64.RawStdEncoding.DecodeString(str)
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 || raw[0] != codecV1 {
		return nil, errCodec
	}
	d := &decoder{b: raw[1:]}
	n, err := d.uvarint()
	if err != nil || n > uint64(len(d.b)) {
		return nil, errCodec
	}
	out := make([]Bucket, 0, n)
	var prev int64
	for range n {
		var k Bucket
		flags, err := d.byte()
		if err != nil {
			return nil, err
		}
		delta, err1 := d.varint()
		ft, err2 := d.varint()
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		k.Start = prev + delta
		prev = k.Start
		k.FT = k.Start + ft
		if flags&bucketSingle != 0 {
			v, err := d.float()
			if err != nil {
				return nil, err
			}
			k.N, k.Sum, k.Min, k.Max, k.FV, k.LV, k.LT = 1, v, v, v, v, v, k.FT
			if flags&bucketEnergy != 0 {
				k.E = energy(v)
			}
			out = append(out, k)
			continue
		}
		cnt, err1 := d.uvarint()
		span, err2 := d.varint()
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		k.N, k.LT = int64(cnt), k.FT+span
		fs := []*float64{&k.Sum, &k.Min, &k.Max, &k.FV, &k.LV}
		if flags&bucketEnergy != 0 {
			fs = []*float64{&k.Sum, &k.E, &k.Min, &k.Max, &k.FV, &k.LV}
		}
		for _, f := range fs {
			if *f, err = d.float(); err != nil {
				return nil, err
			}
		}
		out = append(out, k)
	}
	if len(d.b) != 0 {
		return nil, errCodec
	}
	return out, nil
}
