package twin

import (
	"math"
	"testing"
	"time"
)

func TestDistanceKm(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want                   float64
	}{
		{"same point", 22.53, 113.9, 22.53, 113.9, 0},
		{"one degree of latitude", 0, 0, 1, 0, math.Pi / 180 * earthRadiusKm},
		{"antipodes", 0, 0, 0, 180, math.Pi * earthRadiusKm},
		{"across the date line", 0, 179.5, 0, -179.5, math.Pi / 180 * earthRadiusKm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DistanceKm(tt.lat1, tt.lon1, tt.lat2, tt.lon2); math.Abs(got-tt.want) > 1e-6 {
				t.Fatalf("%v km, want %v", got, tt.want)
			}
		})
	}
}

func TestClosestApproach(t *testing.T) {
	t0 := ts("2026-08-14T00:00:00Z")
	pt := func(h float64, lat, lon float64) TrackPoint {
		return TrackPoint{Time: TimeWhen(t0.Add(time.Duration(h * float64(time.Hour)))), Lat: lat, Lon: lon}
	}
	tests := []struct {
		name   string
		track  []TrackPoint
		wantKm float64
		wantAt time.Time
	}{
		{"over the site half way along a segment", []TrackPoint{pt(0, 22.0, 114.0), pt(6, 23.0, 114.0)}, 0, t0.Add(3 * time.Hour)},
		{"closest at a track point", []TrackPoint{pt(0, 20.0, 114.0), pt(6, 21.0, 114.0), pt(12, 20.5, 115.0)}, 1.5 * math.Pi / 180 * earthRadiusKm, t0.Add(6 * time.Hour)},
		{"a single point", []TrackPoint{pt(0, 21.0, 114.0)}, 1.5 * math.Pi / 180 * earthRadiusKm, t0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			km, at := closestApproach(22.5, 114.0, tt.track)
			if math.Abs(km-tt.wantKm) > 1e-6 || !at.Equal(tt.wantAt) || at.Location() != time.UTC {
				t.Fatalf("%v km at %v, want %v at %v", km, at, tt.wantKm, tt.wantAt)
			}
		})
	}
	t.Run("points centuries apart are walked in bounded steps", func(t *testing.T) {
		track := []TrackPoint{
			{Time: DateWhen(1970, 1, 1), Lat: 22.0, Lon: 114.0},
			{Time: DateWhen(2200, 12, 31), Lat: 23.0, Lon: 114.0},
		}
		km, _ := closestApproach(22.5, 114.0, track)
		if km > 1 { // 2048 steps over one degree: within 0.03 km of the track
			t.Fatalf("%v km", km)
		}
	})
}
