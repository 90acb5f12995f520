package twin

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
)

// compactCases are bucket lists a series may hold, at the edges of the
// compact form.
var compactCases = [][]Bucket{
	nil,
	{{Start: 1795143600000, N: 1, Sum: 95, E: energy(95), Min: 95, Max: 95, FT: 1795143600000, FV: 95, LT: 1795143600000, LV: 95}},
	{
		{Start: -3600000, N: 1, Sum: math.MaxFloat64, Min: math.MaxFloat64, Max: math.MaxFloat64, FT: -3600000, FV: math.MaxFloat64, LT: -3600000, LV: math.MaxFloat64},
		{Start: 60000, N: 1, Sum: -3.25, Min: -3.25, Max: -3.25, FT: 61000, FV: -3.25, LT: 61000, LV: -3.25},
		{Start: 120000, N: 3, Sum: 150.5, Min: 40, Max: 70.25, FT: 120500, FV: 40, LT: 179999, LV: 70.25},
		{Start: 180000, N: 2, Sum: 130, E: energy(60) + energy(70), Min: 60, Max: 70, FT: 180000, FV: 70, LT: 181000, LV: 60},
		{Start: 240000, N: 2, Sum: 0, Min: 0, Max: 0, FT: 240000 + maxOffset, FV: 0, LT: 240000 + maxOffset, LV: 0},
	},
}

func TestCompactRoundTrip(t *testing.T) {
	for i, want := range compactCases {
		bs, ok := makeBuckets(want...)
		if !ok {
			t.Fatalf("case %d: makeBuckets refused %+v", i, want)
		}
		b, err := json.Marshal(bs)
		if err != nil {
			t.Fatal(err)
		}
		if legacy := legacyMarshalBuckets(want); string(b) != string(legacy) {
			t.Fatalf("case %d: wrote %s, the []Bucket codec %s", i, b, legacy)
		}
		var got Buckets
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if g := slices.Collect(got.All()); !reflect.DeepEqual(g, want) && len(g)+len(want) > 0 {
			t.Fatalf("case %d: round trip\n%+v\n%+v", i, g, want)
		}
		// The same string with an escape (which no encoder here writes,
		// but JSON allows) reads the same.
		escaped := fmt.Sprintf(`"\u%04x%s`, b[1], b[2:])
		var again Buckets
		if err := json.Unmarshal([]byte(escaped), &again); err != nil || !reflect.DeepEqual(again, got) {
			t.Fatalf("case %d: %s read as %+v (%v), want %+v", i, escaped, again, err, got)
		}
	}
	ids := seenIDsOf(SeenID{H: 1, T: 1795143600000}, SeenID{H: math.MaxUint64, T: 1795143599000}, SeenID{H: 42, T: 0})
	b, _ := json.Marshal(ids)
	var got SeenIDs
	if err := json.Unmarshal(b, &got); err != nil || !reflect.DeepEqual(got, ids) {
		t.Fatalf("seen ids round trip: %v %+v", err, got)
	}
}

func TestCompactRejectsGarbage(t *testing.T) {
	for _, in := range []string{`"not base64!"`, `""`, `"AA"`, `"AQ"`, `"AQU"`, `12`, `"AgA"`, `"not\u0020base64"`} {
		var bs Buckets
		if err := json.Unmarshal([]byte(in), &bs); err == nil {
			t.Errorf("buckets %s decoded", in)
		}
		var ids SeenIDs
		if err := json.Unmarshal([]byte(in), &ids); err == nil {
			t.Errorf("seen ids %s decoded", in)
		}
	}
}

// FuzzCompact: the compact decoders never panic on any input; buckets
// decode as the []Bucket codec decoded them (refusing only what no series
// holds: buckets out of order, readings outside their bucket) and
// re-encode to the same bytes it wrote.
func FuzzCompact(f *testing.F) {
	for _, s := range []string{`"AQA"`, `"AQEBgLjY1IBoAAAAAAAAgFFA"`, `null`, `"AQL/////"`} {
		f.Add([]byte(s))
	}
	for _, c := range compactCases {
		f.Add(legacyMarshalBuckets(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var bs Buckets
		err := json.Unmarshal(data, &bs)
		var legacy legacyBuckets
		lerr := json.Unmarshal(data, &legacy)
		switch {
		case err == nil && (lerr != nil || !sameBuckets(slices.Collect(bs.All()), legacy)):
			t.Fatalf("decoded %+v, the []Bucket codec %+v (%v)", slices.Collect(bs.All()), legacy, lerr)
		case err != nil && lerr == nil:
			if _, ok := makeBuckets(legacy...); ok {
				t.Fatalf("refused %+v, a series' buckets: %v", legacy, err)
			}
		}
		if err == nil {
			b, err := json.Marshal(bs)
			if err != nil {
				t.Fatal(err)
			}
			if want := legacyMarshalBuckets(legacy); string(b) != string(want) {
				t.Fatalf("wrote %s, the []Bucket codec %s", b, want)
			}
			var again Buckets
			if err := json.Unmarshal(b, &again); err != nil {
				t.Fatalf("re-decode: %v", err)
			}
			if b2, _ := json.Marshal(again); string(b2) != string(b) {
				t.Fatalf("re-encoded %s, first %s", b2, b)
			}
		}
		var ids SeenIDs
		if json.Unmarshal(data, &ids) == nil {
			b, err := json.Marshal(ids)
			if err != nil {
				t.Fatal(err)
			}
			var again SeenIDs
			if err := json.Unmarshal(b, &again); err != nil || !reflect.DeepEqual(slices.Collect(again.All()), slices.Collect(ids.All())) {
				t.Fatalf("seen ids re-decode: %v", err)
			}
		}
	})
}
