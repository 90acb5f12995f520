package predict

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// climadaTolerance is how close every plain model must come to CLIMADA's
// published values (m/s).
const climadaTolerance = 0.01

func readTestTrack(t testing.TB, name string) *Track {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "wind", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := ParseTrack(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return tr
}

// readCSVRecords reads a CSV test file without its '#' comments and header.
func readCSVRecords(t testing.TB, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "wind", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comment = '#'
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs[1:]
}

func climadaCentroids(t testing.TB) []LatLon {
	t.Helper()
	var pts []LatLon
	for i, r := range readCSVRecords(t, "climada_brb_test_centroids_all296.csv") {
		idx, _ := strconv.Atoi(r[0])
		lat, err1 := strconv.ParseFloat(r[1], 64)
		lon, err2 := strconv.ParseFloat(r[2], 64)
		if idx != i || err1 != nil || err2 != nil {
			t.Fatalf("centroid row %d: %v", i, r)
		}
		pts = append(pts, LatLon{lat, lon})
	}
	if len(pts) != 296 {
		t.Fatalf("%d centroids, want 296", len(pts))
	}
	return pts
}

// climadaIntensity applies CLIMADA's storage threshold.
func climadaIntensity(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		if x >= ClimadaIntensityThreshold {
			out[i] = x
		}
	}
	return out
}

// climadaExpected reads climada_expected.csv: centroid indices and, per
// column, the published winds.
func climadaExpected(t testing.TB) (idx []int, cols map[string][]float64) {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "wind", "climada_expected.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comment = '#'
	recs, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	cols = map[string][]float64{}
	for _, r := range recs[1:] {
		i, err := strconv.Atoi(r[0])
		if err != nil {
			t.Fatal(err)
		}
		idx = append(idx, i)
		for j, name := range recs[0][1:] {
			v, err := strconv.ParseFloat(r[j+1], 64)
			if err != nil {
				t.Fatal(err)
			}
			cols[name] = append(cols[name], v)
		}
	}
	return idx, cols
}

// TestWindCLIMADAModels reproduces CLIMADA's test_windfield_models: the
// 1951 track resampled hourly, each plain profile (and the H10
// configurations the test exercises) on the 296 centroids, compared with
// the published values within 0.01 m/s.
func TestWindCLIMADAModels(t *testing.T) {
	tr := readTestTrack(t, "climada_trac_brb_test_1951239N12334.csv")
	pts := climadaCentroids(t)
	idx, cols := climadaExpected(t)
	for _, tc := range []struct {
		column string
		opt    WindOptions
	}{
		{"H08", WindOptions{Model: WindH08}},
		{"H10", WindOptions{Model: WindH10}},
		{"H1980", WindOptions{Model: WindH1980}},
		{"ER11", WindOptions{Model: WindER11}},
		{"H10_vmaxrec_rho1.2", WindOptions{Model: WindH10, h10: h10Config{vmaxRecorded: true, rhoAir: 1.2}}},
		{"H10_vmaxrec_rhoP", WindOptions{Model: WindH10, h10: h10Config{vmaxRecorded: true, rhoAir: -1}}},
		{"H10_vmaxrec_rhoP_brackets", WindOptions{Model: WindH10, h10: h10Config{vmaxRecorded: true, rhoAir: -1, vmaxInBrackets: true}}},
	} {
		t.Run(tc.column, func(t *testing.T) {
			want, ok := cols[tc.column]
			if !ok {
				t.Fatalf("no column %s in climada_expected.csv", tc.column)
			}
			got, err := MaxWind(tr, pts, tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			got = climadaIntensity(got)
			worst := 0.0
			for j, c := range idx {
				d := math.Abs(got[c] - want[j])
				worst = max(worst, d)
				if d > climadaTolerance {
					t.Errorf("centroid %d: %.6f m/s, CLIMADA %.6f (off by %.4f)", c, got[c], want[j], d)
				}
			}
			t.Logf("%s: max abs difference %.2g m/s over %d published centroids", tc.column, worst, len(idx))
		})
	}
}

// TestWindCLIMADANonZeroCount checks the whole grid against the other
// published fact: 255 of the 296 centroids have a non-zero H08 intensity
// (test_set_one_pass).
func TestWindCLIMADANonZeroCount(t *testing.T) {
	tr := readTestTrack(t, "climada_trac_brb_test_1951239N12334.csv")
	got, err := MaxWind(tr, climadaCentroids(t), WindOptions{Model: WindH08})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range climadaIntensity(got) {
		if v > 0 {
			n++
		}
	}
	if n != 255 {
		t.Errorf("%d centroids with a non-zero H08 intensity, CLIMADA 255", n)
	}
}
