package predict

import (
	"fmt"
	"time"
)

// JibWinds returns the wind at each crane's jib, hour by hour, from a track
// taken as what happened: the same chain as ForecastCranes (the model's
// 1-minute 10 m wind, as a 10-minute mean, at jib height in the site's
// terrain, as a gust on BasisGust) without the ensemble. jib[i][k] is crane
// i at times[k]. Simulations use it for what a crane's anemometer records.
func JibWinds(t *Track, cranes []Crane, opt CraneOptions) (times []time.Time, jib [][]float64, err error) {
	if err := t.Validate(); err != nil {
		return nil, nil, err
	}
	setup, err := opt.setup(cranes)
	if err != nil {
		return nil, nil, err
	}
	avg := opt.Wind.Averaging
	if avg == (Averaging{}) {
		avg = DefaultAveraging()
	}
	steps, err := resampleHourly(t, avg.oneMinuteWind)
	if err != nil {
		return nil, nil, err
	}
	sp := paramsFromSteps(steps, opt.Wind.Model, opt.Wind.MaxDistKm, avg, opt.Wind.h10)
	jib = make([][]float64, len(cranes))
	for i := range cranes {
		s := setup[i]
		row := make([]float64, len(sp.t))
		sp.speedsAt(s.at.Lat, s.at.Lon, func(k int, v float64) { row[k] = v * s.factor })
		jib[i] = row
	}
	return sp.t, jib, nil
}

// ForecastTrack returns what a forecaster issuing at issued would have
// given for the next lead of a storm whose track is best: the best track
// from issued on, hourly, displaced along and across its heading and
// scaled in intensity by one draw of the ensemble's errors (draw holds
// three standard normal numbers: along, cross, intensity; their spread
// grows with lead time as EnsembleOptions says, from issued). Points are
// kept every step hours (and the last), with 1-minute winds. It errors
// when the best track does not cover issued.
func ForecastTrack(best *Track, issued time.Time, lead, step time.Duration, draw [3]float64, e EnsembleOptions) (*Track, error) {
	if err := best.Validate(); err != nil {
		return nil, err
	}
	if step < time.Hour {
		step = time.Hour
	}
	e.Issued = issued
	ens, err := e.withDefaults()
	if err != nil {
		return nil, err
	}
	steps, err := resampleHourly(best, DefaultAveraging().oneMinuteWind)
	if err != nil {
		return nil, err
	}
	n := steps.len()
	if n == 0 || issued.Before(steps.t[0]) || issued.After(steps.t[n-1]) {
		return nil, fmt.Errorf("forecast track: %s is outside the track (%s to %s)", issued.Format(time.RFC3339),
			best.Points[0].Time.Format(time.RFC3339), best.Points[len(best.Points)-1].Time.Format(time.RFC3339))
	}
	p := perturbSteps(steps, ensembleDraw{draw[0], draw[1], draw[2]}, ens)
	out := &Track{Name: best.Name, Format: "forecast", Issued: issued}
	until := issued.Add(lead)
	var last time.Time
	for k := range n {
		at := p.t[k]
		if at.Before(issued) || at.After(until) {
			continue
		}
		final := k == n-1 || p.t[k+1].After(until)
		if !last.IsZero() && at.Sub(last) < step && !final {
			continue
		}
		last = at
		out.Points = append(out.Points, TrackPoint{Time: at, Lat: p.lat[k], Lon: wrapLon(p.lon[k]),
			PressureHPa: p.pres[k], EnvPressureHPa: p.env[k], MaxWindMS: p.vmax1[k], WindAvgMinutes: 1,
			RMWKm: p.rmwKm[k], R30Km: p.r30Km[k], R50Km: p.r50Km[k], Line: len(out.Points) + 1})
	}
	if len(out.Points) < 2 {
		return nil, fmt.Errorf("forecast track: fewer than 2 points between %s and the end of the track", issued.Format(time.RFC3339))
	}
	return out, nil
}
