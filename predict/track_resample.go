package predict

import (
	"fmt"
	"math"
	"time"

	"gonum.org/v1/gonum/interp"
)

// trackSteps is a track resampled at whole hours, the way CLIMADA's
// TCTracks.equal_timestep(time_step_h=1) does it (tc_tracks.py,
// _one_interp_data): the times are the whole hours (UTC) from the first
// point to the last; latitude and longitude follow a not-a-knot cubic
// spline through the points (quadratic for 3 points, linear for 2: scipy's
// interp1d kinds 'cubic', 'quadratic', 'linear'), every other field is
// interpolated linearly. Longitudes are unwrapped across the antimeridian
// first. Winds are 1-minute sustained (m/s) before interpolation.
type trackSteps struct {
	t                              []time.Time
	lat, lon                       []float64 // lon continuous (may leave [-180, 180])
	pres, env, vmax1, rmwKm, r30Km []float64
	r50Km                          []float64
}

func (s *trackSteps) len() int { return len(s.t) }

// resampleHourly resamples t (which must pass Validate) to whole hours.
// conv gives each point's maximum wind as a 1-minute sustained wind in m/s
// (estimating it when the point has none).
func resampleHourly(t *Track, conv func(p *TrackPoint) float64) (*trackSteps, error) {
	n := len(t.Points)
	t0 := t.Points[0].Time
	xs := make([]float64, n)
	lat := make([]float64, n)
	lon := make([]float64, n)
	fields := make([][]float64, 6)
	for k := range fields {
		fields[k] = make([]float64, n)
	}
	for i := range t.Points {
		p := &t.Points[i]
		xs[i] = p.Time.Sub(t0).Hours()
		lat[i], lon[i] = p.Lat, p.Lon
		fields[0][i] = p.PressureHPa
		fields[1][i] = p.env()
		fields[2][i] = conv(p)
		fields[3][i] = p.RMWKm
		fields[4][i] = p.R30Km
		fields[5][i] = p.R50Km
	}
	unwrapLon(lon)

	first := t0.Truncate(time.Hour)
	if first.Before(t0) {
		first = first.Add(time.Hour)
	}
	last := t.Points[n-1].Time
	steps := int(last.Sub(first)/time.Hour) + 1
	if last.Before(first) {
		steps = 0
	}
	if steps < 2 {
		return nil, trackErr(0, "time", "the track covers fewer than 2 whole hours (%s to %s)", t0.Format(time.RFC3339), last.Format(time.RFC3339))
	}
	s := &trackSteps{t: make([]time.Time, steps)}
	at := make([]float64, steps)
	for k := range steps {
		s.t[k] = first.Add(time.Duration(k) * time.Hour)
		at[k] = s.t[k].Sub(t0).Hours()
	}
	var err error
	if s.lat, err = splineAt(xs, lat, at); err != nil {
		return nil, err
	}
	if s.lon, err = splineAt(xs, lon, at); err != nil {
		return nil, err
	}
	for k := range s.lat {
		s.lat[k] = clamp(s.lat[k], -90, 90) // a spline may overshoot near a pole
	}
	lin := func(ys []float64) []float64 {
		out := make([]float64, steps)
		for k, x := range at {
			out[k] = linearAt(xs, ys, x)
		}
		return out
	}
	s.pres, s.env, s.vmax1 = lin(fields[0]), lin(fields[1]), lin(fields[2])
	s.rmwKm = lin(fields[3])
	// a wind radius is known between two points that both give it
	known := func(ys []float64) []float64 {
		out := lin(ys)
		for k, x := range at {
			i := max(0, sortSearch(xs, x)-1)
			j := min(len(xs)-1, i+1)
			if xs[i] == x {
				j = i
			}
			if ys[i] <= 0 || ys[j] <= 0 {
				out[k] = 0
			}
		}
		return out
	}
	s.r30Km, s.r50Km = known(fields[4]), known(fields[5])
	return s, nil
}

// unwrapLon makes longitudes continuous: as CLIMADA does, a track with
// points both west of -170 and east of 170 is taken in 0..360.
func unwrapLon(lon []float64) {
	west, east := false, false
	for i, v := range lon {
		v = math.Mod(v+180, 360)
		if v < 0 {
			v += 360
		}
		lon[i] = v - 180 // in [-180, 180)
		west = west || lon[i] < -170
		east = east || lon[i] > 170
	}
	if west && east {
		for i := range lon {
			if lon[i] < 0 {
				lon[i] += 360
			}
		}
	}
}

// splineAt interpolates ys(xs) at the points at: linear for 2 nodes, the
// quadratic through 3, a not-a-knot cubic spline (gonum) for more.
func splineAt(xs, ys, at []float64) ([]float64, error) {
	out := make([]float64, len(at))
	switch len(xs) {
	case 2:
		for k, x := range at {
			out[k] = linearAt(xs, ys, x)
		}
	case 3:
		x0, x1, x2 := xs[0], xs[1], xs[2]
		for k, x := range at {
			out[k] = ys[0]*(x-x1)*(x-x2)/((x0-x1)*(x0-x2)) +
				ys[1]*(x-x0)*(x-x2)/((x1-x0)*(x1-x2)) +
				ys[2]*(x-x0)*(x-x1)/((x2-x0)*(x2-x1))
		}
	default:
		var sp interp.NotAKnotCubic
		if err := sp.Fit(xs, ys); err != nil {
			return nil, fmt.Errorf("track spline: %w", err)
		}
		for k, x := range at {
			out[k] = sp.Predict(x)
		}
	}
	return out, nil
}

// sortSearch returns the number of xs <= x.
func sortSearch(xs []float64, x float64) int {
	lo, hi := 0, len(xs)
	for lo < hi {
		m := (lo + hi) / 2
		if xs[m] <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// linearAt interpolates linearly in the sorted nodes xs, clamping outside.
func linearAt(xs, ys []float64, x float64) float64 {
	n := len(xs)
	if x <= xs[0] {
		return ys[0]
	}
	if x >= xs[n-1] {
		return ys[n-1]
	}
	lo, hi := 0, n-1
	for hi-lo > 1 {
		m := (lo + hi) / 2
		if xs[m] <= x {
			lo = m
		} else {
			hi = m
		}
	}
	f := (x - xs[lo]) / (xs[hi] - xs[lo])
	return ys[lo] + f*(ys[hi]-ys[lo])
}
