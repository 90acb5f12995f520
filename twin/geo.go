package twin

import (
	"math"
	"time"
)

// earthRadiusKm is the mean Earth radius (IUGG), used by the haversine
// distance.
const earthRadiusKm = 6371.0088

// DistanceKm returns the great-circle distance between two points by the
// haversine formula.
func DistanceKm(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(a)))
}

// closestApproach returns the least distance from a point to a track and
// when the track is there: each segment between track points is walked in
// steps of at most 10 minutes, positions interpolated linearly.
func closestApproach(lat, lon float64, track []TrackPoint) (km float64, at time.Time) {
	km = math.Inf(1)
	for i, p := range track {
		t0 := p.Time.Start(time.UTC)
		if d := DistanceKm(lat, lon, p.Lat, p.Lon); d < km {
			km, at = d, t0
		}
		if i == len(track)-1 {
			break
		}
		q := track[i+1]
		t1 := q.Time.Start(time.UTC)
		steps := int(t1.Sub(t0) / (10 * time.Minute))
		for s := 1; s < steps; s++ {
			f := float64(s) / float64(steps)
			d := DistanceKm(lat, lon, p.Lat+f*(q.Lat-p.Lat), p.Lon+f*(q.Lon-p.Lon))
			if d < km {
				km, at = d, t0.Add(time.Duration(f*float64(t1.Sub(t0))))
			}
		}
	}
	return km, at
}
