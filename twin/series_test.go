package twin

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func minuteSeries(kind string) *Series {
	return newSeries(kind, "", SeriesSpec{Bucket: Duration(time.Minute), Retention: Duration(time.Hour)})
}

func TestSeriesWindowEdges(t *testing.T) {
	type rd struct {
		at string
		v  float64
	}
	tests := []struct {
		name   string
		rs     []rd
		at     string
		window time.Duration
		want   float64 // mean; NaN for no readings in the window
	}{
		{"exactly one window older is out", []rd{{"2026-06-12T09:30:00Z", 1000}, {"2026-06-12T10:30:00Z", 20}}, "2026-06-12T10:30:00Z", time.Hour, 20},
		{"one bucket newer is in", []rd{{"2026-06-12T09:31:00Z", 1000}, {"2026-06-12T10:30:00Z", 20}}, "2026-06-12T10:30:00Z", time.Hour, 510},
		{"same bucket as the window start is out", []rd{{"2026-06-12T09:30:59Z", 1000}, {"2026-06-12T10:30:30Z", 20}}, "2026-06-12T10:30:30Z", time.Hour, 20},
		{"a reading after the window end is not counted", []rd{{"2026-06-12T10:00:00Z", 100}, {"2026-06-12T10:02:00Z", 300}}, "2026-06-12T10:01:00Z", time.Hour, 100},
		{"one-minute window is the current bucket", []rd{{"2026-06-12T10:00:59Z", 100}, {"2026-06-12T10:01:00Z", 300}}, "2026-06-12T10:01:00Z", time.Minute, 300},
		{"empty window", []rd{{"2026-06-12T08:00:00Z", 100}}, "2026-06-12T10:00:00Z", time.Hour, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := minuteSeries(SensorPM10)
			for i, r := range tt.rs {
				s.add(ts(r.at), r.v, string(rune('a'+i)))
			}
			got, ok := s.Aggregate(AggMean, ts(tt.at), tt.window, 0)
			if math.IsNaN(tt.want) {
				if ok {
					t.Fatalf("mean %v, want no readings", got)
				}
				return
			}
			if !ok || got != tt.want {
				t.Fatalf("mean %v (%v), want %v", got, ok, tt.want)
			}
		})
	}
}

func TestSeriesAggregates(t *testing.T) {
	at := ts("2026-06-12T10:10:00Z")
	tests := []struct {
		name   string
		kind   string
		values []float64 // one a minute, ending at 10:10
		agg    string
		want   float64
	}{
		{"mean", SensorPM10, []float64{100, 200, 300}, AggMean, 200},
		{"max", SensorPM10, []float64{100, 300, 200}, AggMax, 300},
		{"max_abs of a negative tilt", SensorCraneTilt, []float64{1, -4.5, 2}, AggMaxAbs, 4.5},
		{"sum", SensorRainfall, []float64{10, 20.5, 0}, AggSum, 30.5},
		{"last", SensorPitDisplacement, []float64{10, -31, 12}, AggLast, 12},
		{"last_abs", SensorPitDisplacement, []float64{10, 12, -31}, AggLastAbs, 31},
		{"leq of 60 and 70 dB", SensorNoise, []float64{60, 70}, AggLeq, 10 * math.Log10((1e6+1e7)/2)},
		{"leq of equal levels", SensorNoise, []float64{65, 65, 65}, AggLeq, 65},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := minuteSeries(tt.kind)
			n := len(tt.values)
			for i, v := range tt.values {
				s.add(at.Add(-time.Duration(n-1-i)*time.Minute), v, "")
			}
			got, ok := s.Aggregate(tt.agg, at, 20*time.Minute, 0)
			if !ok || math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("%s = %v (%v), want %v", tt.agg, got, ok, tt.want)
			}
		})
	}
}

func TestSeriesRate(t *testing.T) {
	spec := pack().SeriesFor(SensorPitDisplacement)
	tests := []struct {
		name   string
		hours  []float64 // hours after 00:00Z of each reading
		values []float64
		want   float64 // NaN: no rate
	}{
		{"6 h span: 0.775 mm is 3.1 mm/d", []float64{0, 1, 2, 3, 4, 5, 6}, []float64{0, 0.13, 0.26, 0.39, 0.52, 0.65, 0.775}, 3.1},
		{"5 h span is too short", []float64{0, 5}, []float64{0, 0.6}, math.NaN()},
		{"settlement back is a rate too", []float64{0, 12}, []float64{5, 4}, 2},
		{"only the last 24 h count", []float64{0, 1, 25, 31}, []float64{100, 0, 0, 0.5}, 0.5 / 6 * 24},
		{"a single reading has no rate", []float64{3}, []float64{7}, math.NaN()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSeries(SensorPitDisplacement, "P2", spec)
			base := ts("2026-06-12T00:00:00Z")
			var last time.Time
			for i, h := range tt.hours {
				last = base.Add(time.Duration(h * float64(time.Hour)))
				s.add(last, tt.values[i], "")
			}
			got, ok := s.Aggregate(AggRatePerDay, last, 24*time.Hour, 6*time.Hour)
			if math.IsNaN(tt.want) {
				if ok {
					t.Fatalf("rate %v, want none", got)
				}
				return
			}
			if !ok || math.Abs(got-tt.want) > 1e-9 {
				t.Fatalf("rate %v (%v), want %v", got, ok, tt.want)
			}
		})
	}
}

func TestSeriesRetentionAndOrder(t *testing.T) {
	s := minuteSeries(SensorPM10)
	t0 := ts("2026-06-12T10:00:00Z")
	s.add(t0, 10, "a")
	s.add(t0.Add(2*time.Minute), 30, "c")
	if !s.add(t0.Add(time.Minute), 20, "b") {
		t.Fatal("a late reading within retention was not kept")
	}
	bs := slices.Collect(s.Buckets.All())
	if len(bs) != 3 || bs[1].Sum != 20 || s.Latest.Event != "c" {
		t.Fatalf("buckets %+v latest %+v", bs, s.Latest)
	}
	for i := 1; i < len(bs); i++ {
		if bs[i].Start <= bs[i-1].Start {
			t.Fatalf("buckets out of order: %+v", bs)
		}
	}
	// A reading in an existing bucket updates its first and last values.
	s.add(t0.Add(2*time.Minute+30*time.Second), 50, "d")
	s.add(t0.Add(2*time.Minute-0), 40, "e")
	b := s.Buckets.At(2)
	if b.N != 3 || b.LV != 50 || b.FV != 30 || b.Min != 30 || b.Max != 50 {
		t.Fatalf("bucket %+v", b)
	}
	// The newest reading moves the retention: buckets an hour behind go.
	s.add(t0.Add(61*time.Minute), 1, "f")
	if s.Buckets.At(0).Start != t0.Add(2*time.Minute).UnixMilli() {
		t.Fatalf("retention kept %v", time.UnixMilli(s.Buckets.At(0).Start).UTC())
	}
	if s.add(t0, 1, "g") {
		t.Fatal("a reading older than the retention was kept")
	}
}

// sameBuckets reports whether two bucket lists are equal bit for bit.
func sameBuckets(a, b []Bucket) bool {
	if len(a) != len(b) {
		return false
	}
	f := math.Float64bits
	for i := range a {
		x, y := a[i], b[i]
		if x.Start != y.Start || x.N != y.N || x.FT != y.FT || x.LT != y.LT ||
			f(x.Sum) != f(y.Sum) || f(x.E) != f(y.E) || f(x.Min) != f(y.Min) || f(x.Max) != f(y.Max) || f(x.FV) != f(y.FV) || f(x.LV) != f(y.LV) {
			return false
		}
	}
	return true
}

// TestSeriesMatchesLegacy applies seeded random readings, across bucket
// boundaries, out of order, beyond the retention and back, to a series and
// to the []Bucket series it replaced, and checks that they keep the same
// buckets, answer every aggregate over every window alike, write the same
// snapshot bytes, and stay alike after a round trip through the codec.
func TestSeriesMatchesLegacy(t *testing.T) {
	specs := []struct {
		kind           string
		bucket, retain time.Duration
	}{
		{SensorNoise, time.Minute, 20 * time.Minute},
		{SensorPM10, 5 * time.Minute, time.Hour},
		{SensorRainfall, 10 * time.Minute, 3 * time.Hour},
		{SensorPitDisplacement, time.Hour, 24 * time.Hour},
		{SensorCraneTilt, 7 * time.Minute, 20 * time.Minute}, // a retention of no whole number of buckets
		{SensorNoise, time.Minute, time.Minute},
	}
	aggs := []string{AggMean, AggMax, AggMaxAbs, AggSum, AggLeq, AggRatePerDay, AggLast, AggLastAbs}
	windows := []time.Duration{time.Minute, 10 * time.Minute, 20 * time.Minute, time.Hour, 3 * time.Hour, 24 * time.Hour}
	same := func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }
	for _, sp := range specs {
		for seed := range uint64(8) {
			t.Run(sp.kind+"/"+sp.bucket.String()+"/"+sp.retain.String()+"/"+strconv.FormatUint(seed, 10), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 99))
				spec := SeriesSpec{Bucket: Duration(sp.bucket), Retention: Duration(sp.retain)}
				s := newSeries(sp.kind, "", spec)
				ref := &legacySeries{BucketMS: s.BucketMS, KeepMS: s.KeepMS, Unit: s.Unit}
				at := ts("2026-06-12T10:00:00Z").Add(time.Duration(rng.IntN(3600)) * time.Second)
				vals := []float64{0, math.Copysign(0, -1), 55, 55, 70.5, -3.25, 120, 1e-300}
				for i := range 3000 {
					var when time.Time
					switch r := rng.IntN(100); {
					case r < 60: // forward by up to a few buckets, at any millisecond
						at = at.Add(time.Duration(rng.Int64N(int64(2 * sp.bucket))))
						when = at
					case r < 70: // exactly on a bucket boundary
						at = at.Truncate(sp.bucket).Add(sp.bucket)
						when = at
					case r < 75: // far ahead: everything kept falls out
						at = at.Add(sp.retain + time.Duration(rng.Int64N(int64(2*sp.retain))))
						when = at
					case r < 95: // late, within the retention or somewhat beyond
						when = at.Add(-time.Duration(rng.Int64N(int64(sp.retain + 2*sp.bucket))))
					default: // the same time again
						when = at
					}
					v := vals[rng.IntN(len(vals))]
					if rng.IntN(2) == 0 {
						v = math.Round(rng.NormFloat64()*3000) / 100
					}
					id := "r" + strconv.Itoa(i)
					if got, want := s.add(when, v, id), ref.add(when, v, id); got != want {
						t.Fatalf("reading %d: add %v, legacy %v", i, got, want)
					}
					if s.Latest != ref.Latest || !sameBuckets(slices.Collect(s.Buckets.All()), ref.Buckets) {
						t.Fatalf("reading %d at %v: buckets\n%+v\nlegacy\n%+v", i, when, slices.Collect(s.Buckets.All()), ref.Buckets)
					}
					if n := s.maxBuckets(); s.Buckets.Len() > n || s.Buckets.Cap() > n {
						t.Fatalf("reading %d: %d buckets in room for %d, at most %d", i, s.Buckets.Len(), s.Buckets.Cap(), n)
					}
					for range 3 {
						agg := aggs[rng.IntN(len(aggs))]
						w := windows[rng.IntN(len(windows))]
						q := at.Add(-time.Duration(rng.Int64N(int64(sp.bucket) * 3)))
						var since time.Time
						if rng.IntN(3) == 0 {
							since = q.Add(-time.Duration(rng.Int64N(int64(w))))
						}
						minSpan := time.Duration(rng.IntN(3)) * sp.bucket
						g, gok := s.AggregateSince(agg, q, w, minSpan, since)
						l, lok := ref.AggregateSince(agg, q, w, minSpan, since)
						if gok != lok || !same(g, l) {
							t.Fatalf("reading %d: %s over %v at %v since %v: %v %v, legacy %v %v", i, agg, w, q, since, g, gok, l, lok)
						}
					}
					if i%50 == 0 {
						b, err := json.Marshal(s)
						if err != nil {
							t.Fatal(err)
						}
						var wire struct {
							Buckets json.RawMessage `json:"buckets"`
						}
						if err := json.Unmarshal(b, &wire); err != nil {
							t.Fatal(err)
						}
						if legacy := legacyMarshalBuckets(ref.Buckets); string(wire.Buckets) != string(legacy) {
							t.Fatalf("reading %d: snapshot %s, legacy %s", i, wire.Buckets, legacy)
						}
						var back Series
						if err := json.Unmarshal(b, &back); err != nil {
							t.Fatal(err)
						}
						if !sameBuckets(slices.Collect(back.Buckets.All()), ref.Buckets) || back.Latest.Value != s.Latest.Value {
							t.Fatalf("reading %d: restored\n%+v\nlegacy\n%+v", i, slices.Collect(back.Buckets.All()), ref.Buckets)
						}
						s = &back // go on with the restored series
					}
				}
			})
		}
	}
}

// TestBucketsCapacity: a series' arrays follow what it holds: a full
// series has room for exactly its retention's buckets, and a sparse one is
// given memory back when it holds fewer.
func TestBucketsCapacity(t *testing.T) {
	s := minuteSeries(SensorPM10) // 1-minute buckets for an hour: 60 at most
	t0 := ts("2026-06-12T10:00:00Z")
	for i := range 300 {
		s.add(t0.Add(time.Duration(i)*time.Minute), 1, "")
	}
	if s.Buckets.Len() != 60 || s.Buckets.Cap() != 60 {
		t.Fatalf("full series: %d buckets, room for %d", s.Buckets.Len(), s.Buckets.Cap())
	}
	// From now on one reading every 10 minutes: 6 buckets in the hour.
	for i := range 30 {
		s.add(t0.Add(300*time.Minute+time.Duration(i)*10*time.Minute), 1, "")
	}
	if n, c := s.Buckets.Len(), s.Buckets.Cap(); n != 6 || c > 2*n+2 {
		t.Fatalf("sparse series: %d buckets, room for %d", n, c)
	}
	if s.Buckets.e != nil {
		t.Fatal("a PM10 series keeps sound energy")
	}
	noise := minuteSeries(SensorNoise)
	noise.add(t0, 60, "")
	if noise.Buckets.e == nil || noise.Buckets.At(0).E != energy(60) {
		t.Fatalf("noise bucket %+v", noise.Buckets.At(0))
	}
}

// TestRulesRefuseBucketsTooLongToKeep: a bucket keeps its readings' times
// as 32-bit offsets from its start, so a pack may not ask for buckets over
// 49 days.
func TestRulesRefuseBucketsTooLongToKeep(t *testing.T) {
	var pack map[string]any
	if err := json.Unmarshal(DefaultRulesJSON(), &pack); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		bucket, retention string
		ok                bool
	}{
		{"1176h", "2400h", true}, // 49 days
		{"1200h", "2400h", false},
	} {
		pack["series"].(map[string]any)["pit_displacement"] = map[string]any{"bucket": tt.bucket, "retention": tt.retention}
		b, _ := json.Marshal(pack)
		_, err := ParseRules(b)
		if (err == nil) != tt.ok || err != nil && !strings.Contains(err.Error(), "at most 49 days") {
			t.Errorf("bucket %s: %v", tt.bucket, err)
		}
	}
}

// TestSlotSize: HeapBytes (and bench twins' figures) count a bucket as
// slotSize bytes.
func TestSlotSize(t *testing.T) {
	if got := reflect.TypeFor[slot]().Size(); got != slotSize {
		t.Fatalf("a slot is %d bytes, slotSize says %d", got, slotSize)
	}
}
