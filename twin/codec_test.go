package twin

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

func TestCompactRoundTrip(t *testing.T) {
	buckets := []Buckets{
		nil,
		{},
		{{Start: 1795143600000, N: 1, Sum: 95, E: energy(95), Min: 95, Max: 95, FT: 1795143600000, FV: 95, LT: 1795143600000, LV: 95}},
		{
			{Start: 60000, N: 1, Sum: -3.25, Min: -3.25, Max: -3.25, FT: 61000, FV: -3.25, LT: 61000, LV: -3.25},
			{Start: 120000, N: 3, Sum: 150.5, Min: 40, Max: 70.25, FT: 120500, FV: 40, LT: 179999, LV: 70.25},
			{Start: 180000, N: 2, Sum: 130, E: energy(60) + energy(70), Min: 60, Max: 70, FT: 180000, FV: 70, LT: 181000, LV: 60},
			{Start: -3600000, N: 1, Sum: math.MaxFloat64, Min: math.MaxFloat64, Max: math.MaxFloat64, FT: -3600000, FV: math.MaxFloat64, LT: -3600000, LV: math.MaxFloat64},
		},
	}
	for i, bs := range buckets {
		b, err := json.Marshal(bs)
		if err != nil {
			t.Fatal(err)
		}
		var got Buckets
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if len(bs) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, bs) {
			t.Fatalf("case %d: round trip\n%+v\n%+v", i, got, bs)
		}
	}
	ids := SeenIDs{{H: 1, T: 1795143600000}, {H: math.MaxUint64, T: 1795143599000}, {H: 42, T: 0}}
	b, _ := json.Marshal(ids)
	var got SeenIDs
	if err := json.Unmarshal(b, &got); err != nil || !reflect.DeepEqual(got, ids) {
		t.Fatalf("seen ids round trip: %v %+v", err, got)
	}
}

func TestCompactRejectsGarbage(t *testing.T) {
	for _, in := range []string{`"not base64!"`, `""`, `"AA"`, `"AQ"`, `"AQU"`, `12`, `"AgA"`} {
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

// FuzzCompact: the compact decoders never panic on any input, and what
// decodes re-encodes to an equal value.
func FuzzCompact(f *testing.F) {
	for _, s := range []string{`"AQA"`, `"AQEBgLjY1IBoAAAAAAAAgFFA"`, `null`, `"AQL/////"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var bs Buckets
		if json.Unmarshal(data, &bs) == nil {
			b, err := json.Marshal(bs)
			if err != nil {
				t.Fatal(err)
			}
			var again Buckets
			if err := json.Unmarshal(b, &again); err != nil || len(again) != len(bs) {
				t.Fatalf("re-decode: %v", err)
			}
		}
		var ids SeenIDs
		if json.Unmarshal(data, &ids) == nil {
			if _, err := json.Marshal(ids); err != nil {
				t.Fatal(err)
			}
		}
	})
}
