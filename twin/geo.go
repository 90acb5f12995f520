package twin

import (
	"math"
	"time"
)

// earthRadiusKm is the mean Earth radius (IUGG), used by the haversine
// distance.
const earthRadiusKm = 6371.0088

// maxTrackSteps bounds the interpolation steps of closestApproach over a
// whole track.
const maxTrackSteps = 4096

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
// when the track is there (UTC): each segment between track points is
// walked in steps of at most 10 minutes, positions interpolated linearly.
// The steps of a whole track are capped at about maxTrackSteps (a real
// advisory, 6-hourly points over a few days, stays far below it), so that
// a track whose points lie centuries apart cannot stall the twin.
func closestApproach(lat, lon float64, track []TrackPoint) (km float64, at time.Time) {
	km = math.Inf(1)
	maxSteps := max(1, maxTrackSteps/len(track))
	for i, p := range track {
		t0 := p.Time.Start(time.UTC).UTC()
		if d := DistanceKm(lat, lon, p.Lat, p.Lon); d < km {
			km, at = d, t0
		}
		if i == len(track)-1 {
			break
		}
		q := track[i+1]
		t1 := q.Time.Start(time.UTC).UTC()
		steps := int(min(t1.Sub(t0)/(10*time.Minute), time.Duration(maxSteps)))
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
