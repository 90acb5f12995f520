package predict

import (
	"testing"
)

// benchSites is a 100 × 100 grid of sites over the Pearl River Delta
// (about 200 km square).
func benchSites() []LatLon {
	pts := make([]LatLon, 0, 10_000)
	for i := range 100 {
		for j := range 100 {
			pts = append(pts, LatLon{21.5 + 0.02*float64(i), 112.8 + 0.022*float64(j)})
		}
	}
	return pts
}

// BenchmarkWindField10kSites72h: the wind field of a 72-hour track (13
// six-hourly points, 73 hourly steps) at 10,000 sites, every hour stored.
//
//	go test ./predict -run XXX -bench WindField -benchmem
func BenchmarkWindField10kSites72h(b *testing.B) {
	tr := straightTrack(950)
	pts := benchSites()
	for _, m := range []WindModel{WindAuto, WindH08} {
		b.Run(m.String(), func(b *testing.B) {
			for b.Loop() {
				w, err := ComputeWindField(tr, pts, WindOptions{Model: m})
				if err != nil {
					b.Fatal(err)
				}
				if len(w.Times) != 73 {
					b.Fatalf("%d steps", len(w.Times))
				}
			}
		})
	}
}

// BenchmarkForecastCranes: 1,000 cranes, 50 ensemble members.
func BenchmarkForecastCranes1kCranes50Members(b *testing.B) {
	tr := straightTrack(950)
	var cranes []Crane
	for i, p := range benchSites()[:1000] {
		cranes = append(cranes, Crane{ID: string(rune('A' + i%26)), Lat: p.Lat + 0.5, Lon: p.Lon + 0.5, HeightM: 60, Terrain: "C"})
	}
	for b.Loop() {
		if _, err := ForecastCranes(tr, cranes, CraneOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
