package twin

import (
	"math"
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
	if len(s.Buckets) != 3 || s.Buckets[1].Sum != 20 || s.Latest.Event != "c" {
		t.Fatalf("buckets %+v latest %+v", s.Buckets, s.Latest)
	}
	for i := 1; i < len(s.Buckets); i++ {
		if s.Buckets[i].Start <= s.Buckets[i-1].Start {
			t.Fatalf("buckets out of order: %+v", s.Buckets)
		}
	}
	// A reading in an existing bucket updates its first and last values.
	s.add(t0.Add(2*time.Minute+30*time.Second), 50, "d")
	s.add(t0.Add(2*time.Minute-0), 40, "e")
	b := s.Buckets[2]
	if b.N != 3 || b.LV != 50 || b.FV != 30 || b.Min != 30 || b.Max != 50 {
		t.Fatalf("bucket %+v", b)
	}
	// The newest reading moves the retention: buckets an hour behind go.
	s.add(t0.Add(61*time.Minute), 1, "f")
	if s.Buckets[0].Start != t0.Add(2*time.Minute).UnixMilli() {
		t.Fatalf("retention kept %v", time.UnixMilli(s.Buckets[0].Start).UTC())
	}
	if s.add(t0, 1, "g") {
		t.Fatal("a reading older than the retention was kept")
	}
}
