package predict

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

func jmaMangkhut(t *testing.T) *Track {
	t.Helper()
	f, err := os.Open("testdata/wind/mangkhut_2018_1822_jma.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := ParseTrack(f)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// TestJibWinds: the hourly jib winds peak where ForecastCranes says.
func TestJibWinds(t *testing.T) {
	tr := jmaMangkhut(t)
	cranes := []Crane{
		{ID: "TC1", Lat: 22.54, Lon: 114.06, HeightM: 150, Terrain: "C"},
		{ID: "TC2", Lat: 22.30, Lon: 114.17, HeightM: 60, Terrain: "A", InServiceLimitMS: 25},
	}
	opt := CraneOptions{Ensemble: EnsembleOptions{Members: 1}}
	times, jib, err := JibWinds(tr, cranes, opt)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := ForecastCranes(tr, cranes, opt)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range fs {
		peak, at, hours := 0.0, time.Time{}, 0
		for k, v := range jib[i] {
			if v > peak {
				peak, at = v, times[k]
			}
			if v > f.InServiceLimitMS {
				hours++
			}
		}
		if math.Abs(peak-f.Peak) > 1e-9 || !at.Equal(f.PeakAt) || hours != f.HoursAbove || peak < 20 {
			t.Errorf("%s: peak %.2f at %v, %d hours above; ForecastCranes %.2f at %v, %d hours", f.Crane, peak, at, hours, f.Peak, f.PeakAt, f.HoursAbove)
		}
	}
}

// TestForecastTrack: with no error drawn a forecast follows the best
// track; with errors it is displaced more at longer leads.
func TestForecastTrack(t *testing.T) {
	tr := jmaMangkhut(t)
	issued := tr.Points[20].Time
	f, err := ForecastTrack(tr, issued, 72*time.Hour, 6*time.Hour, [3]float64{}, EnsembleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !f.Issued.Equal(issued) || !f.Points[0].Time.Equal(issued) || f.Points[len(f.Points)-1].Time.Sub(issued) != 72*time.Hour || len(f.Points) != 13 {
		t.Fatalf("forecast from %v: %d points %v .. %v", issued, len(f.Points), f.Points[0].Time, f.Points[len(f.Points)-1].Time)
	}
	if p, q := f.Points[0], tr.Points[20]; math.Abs(p.Lat-q.Lat) > 1e-6 || math.Abs(p.Lon-q.Lon) > 1e-6 {
		t.Fatalf("no error drawn, yet the forecast starts at %v,%v, not %v,%v", p.Lat, p.Lon, q.Lat, q.Lon)
	}
	g, err := ForecastTrack(tr, issued, 72*time.Hour, 6*time.Hour, [3]float64{1, 1, 0}, EnsembleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d0 := twin.DistanceKm(f.Points[0].Lat, f.Points[0].Lon, g.Points[0].Lat, g.Points[0].Lon)
	d72 := twin.DistanceKm(f.Points[12].Lat, f.Points[12].Lon, g.Points[12].Lat, g.Points[12].Lon)
	// sd 20 km + 2.5 km/h: one sd along and across is √2·20 = 28 km at 0 h, √2·200 = 283 km at 72 h
	if math.Abs(d0-28.3) > 3 || math.Abs(d72-282.8) > 25 {
		t.Fatalf("displacement %.1f km at 0 h, %.1f km at 72 h", d0, d72)
	}
	if _, err := ForecastTrack(tr, tr.Points[0].Time.Add(-time.Hour), 72*time.Hour, 6*time.Hour, [3]float64{}, EnsembleOptions{}); err == nil {
		t.Fatal("a forecast issued before the track: no error")
	}
}
