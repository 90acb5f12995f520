package scenarios

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// Storm is a typhoon laid over a city: what the weather service and the
// cranes' anemometers would have sent while it passed. The best track is
// what happened; advisories forecast it with errors.
type Storm struct {
	// Track is the storm's best track, already moved to the times wanted
	// (see Shift).
	Track *predict.Track
	// Cranes are the city's tower cranes, with their projects.
	Cranes []StormCrane
	// AdvisoryEvery is the time between advisories (default 6 h, as RSMC
	// Tokyo issues them for a typhoon outside its 24-hour area) and Lead
	// how far each forecasts (default 72 h).
	AdvisoryEvery, Lead time.Duration
	// Errors is the spread of the advisories' forecast errors (the
	// typhoon model's ensemble defaults when zero). Each advisory draws
	// its own along-track, cross-track and intensity error.
	Errors predict.EnsembleOptions
	// Crane sets the terrain exponents and wind chain of the anemometer
	// winds (as the typhoon model has them).
	Crane predict.CraneOptions
	// Floor is the share of a crane's in-service limit below which no
	// storm reading is sent (default 0.5): the city's own gusts cover the
	// calm hours.
	Floor float64
	// Lat, Lon is the city's centre and WithinKm (default 800 km, the
	// range at which Hong Kong and Shenzhen begin to warn of a tropical
	// cyclone) how near an advisory's forecast must come to it to be
	// issued to the city; with Lat and Lon zero every advisory is issued.
	Lat, Lon, WithinKm float64
	// Seed seeds the forecast errors and the anemometer noise.
	Seed uint64
	// Source is the CloudEvents source of the events (default
	// "sitetwin/storm").
	Source string
}

// StormCrane is a tower crane of a project.
type StormCrane struct {
	Project string
	predict.Crane
}

// anemometerNoise is the relative standard deviation of a storm reading
// around the modelled jib gust (a sitetwin default: cup anemometers are
// within a few per cent, the gust factor's spread is larger).
const anemometerNoise = 0.08

// Shift moves a track in time so that its point nearest to (lat, lon)
// comes at when; it returns a copy.
func Shift(t *predict.Track, lat, lon float64, when time.Time) *predict.Track {
	out := *t
	out.Points = slices.Clone(t.Points)
	best, bestKm := 0, math.Inf(1)
	for i, p := range t.Points {
		if d := twin.DistanceKm(lat, lon, p.Lat, p.Lon); d < bestKm {
			best, bestKm = i, d
		}
	}
	dt := when.Sub(t.Points[best].Time)
	for i := range out.Points {
		out.Points[i].Time = out.Points[i].Time.Add(dt)
	}
	if !out.Issued.IsZero() {
		out.Issued = out.Issued.Add(dt)
	}
	return &out
}

// Events returns the storm's events in time order: city-wide
// typhoon.advisory events every AdvisoryEvery from the track's first
// point, each forecasting Lead ahead, and a wind_gust reading at each
// crane's jib every hour the modelled gust reaches Floor of its limit.
func (s Storm) Events() ([]*twin.Event, error) {
	if s.Track == nil {
		return nil, errors.New("storm: no track")
	}
	if err := s.Track.Validate(); err != nil {
		return nil, fmt.Errorf("storm: %w", err)
	}
	every := cmp.Or(s.AdvisoryEvery, 6*time.Hour)
	lead := cmp.Or(s.Lead, 72*time.Hour)
	floor := cmp.Or(s.Floor, 0.5)
	source := cmp.Or(s.Source, "sitetwin/storm")
	name := cmp.Or(s.Track.Name, "storm")
	rng := rand.New(rand.NewPCG(s.Seed, 0x5702_0a11))
	var out []*twin.Event
	first, last := s.Track.Points[0].Time, s.Track.Points[len(s.Track.Points)-1].Time
	n := 0
	for at := first.Truncate(every); !at.After(last.Add(-2 * time.Hour)); at = at.Add(every) {
		if at.Before(first) {
			continue
		}
		draw := [3]float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()}
		f, err := predict.ForecastTrack(s.Track, at, lead, every, draw, s.Errors)
		if err != nil {
			continue // too near the end of the track for a forecast
		}
		if !s.near(f) {
			continue
		}
		n++
		adv := &twin.TyphoonAdvisory{Name: name, Issued: twin.TimeWhen(at)}
		for _, p := range f.Points {
			adv.Track = append(adv.Track, twin.TrackPoint{Time: twin.TimeWhen(p.Time), Lat: round(p.Lat, 2), Lon: round(p.Lon, 2),
				PressureHPa: round(p.PressureHPa, 1), MaxWindMS: round(p.MaxWindMS, 1), WindAvgMinutes: p.WindAvgMinutes,
				RMWKm: round(p.RMWKm, 1), R30Km: round(p.R30Km, 1), R50Km: round(p.R50Km, 1)})
		}
		out = append(out, &twin.Event{ID: fmt.Sprintf("storm-%s-advisory-%d", name, n), Type: twin.TypeTyphoonAdvisory,
			Source: source, Time: at, Project: twin.CityWide, Data: adv})
	}
	if len(s.Cranes) > 0 {
		cranes := make([]predict.Crane, len(s.Cranes))
		for i, c := range s.Cranes {
			cranes[i] = c.Crane
		}
		times, jib, err := predict.JibWinds(s.Track, cranes, s.Crane)
		if err != nil {
			return nil, fmt.Errorf("storm: %w", err)
		}
		limit := cmp.Or(s.Crane.DefaultInServiceMS, 20)
		for i, c := range s.Cranes {
			lim := cmp.Or(c.InServiceLimitMS, limit)
			offset := time.Duration(rng.IntN(50)+5) * time.Minute // the anemometer's own minute
			for k, v := range jib[i] {
				if v < floor*lim {
					continue
				}
				g := round(max(0, v*(1+anemometerNoise*rng.NormFloat64())), 1)
				out = append(out, &twin.Event{ID: fmt.Sprintf("storm-%s-%s-%d", name, c.ID, k), Type: twin.TypeSensorReading,
					Source: source, Time: times[k].Add(offset), Project: c.Project, Site: c.Site,
					Data: &twin.SensorReading{Kind: "wind_gust", Value: g, Unit: "m/s", Equipment: c.ID}})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *twin.Event) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// near reports whether a forecast comes within WithinKm of the city.
func (s Storm) near(f *predict.Track) bool {
	if s.Lat == 0 && s.Lon == 0 {
		return true
	}
	within := cmp.Or(s.WithinKm, 800)
	for _, p := range f.Points {
		if twin.DistanceKm(s.Lat, s.Lon, p.Lat, p.Lon) <= within {
			return true
		}
	}
	return false
}

func round(x float64, places int) float64 {
	p := math.Pow10(places)
	return math.Round(x*p) / p
}
