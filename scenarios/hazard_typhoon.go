package scenarios

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// DefaultCollapseProbability is the chance that a tower crane whose jib
// gust goes above its out-of-service rating collapses in a drill (a
// sitetwin default for rehearsal, not a fragility curve).
const DefaultCollapseProbability = 0.1

// craneClearShare is the share of its in-service limit below which a
// crane's wind alarm clears (the Shenzhen pack's crane_wind clear, 0.8):
// the planned stop is lifted once the wind at every crane of the site has
// fallen below it after its peak.
const craneClearShare = 0.8

// typhoonOptions are the typhoon model's crane options (the registry's
// "typhoon" model when it is the built-in one), with the scenario's
// ensemble size.
func (d *drill) typhoonOptions() predict.CraneOptions {
	var o predict.CraneOptions
	if m, ok := d.opt.Models.Get("typhoon"); ok {
		if tm, ok := m.(*predict.TyphoonModel); ok {
			o = tm.Options
		}
	}
	if o.TerrainAlpha == nil {
		o = predict.NewTyphoonModel(d.opt.Rules).Options
	}
	o.Ensemble.Members = d.s.Typhoon.Members
	return o
}

// typhoon lays the storm over the fork: the best track moved to the drill,
// advisories with their forecasts, jib gust readings, the winds at each
// site, the plan made from each advisory and the cranes that collapse.
func (d *drill) typhoon(ctx context.Context, h *hazard) error {
	spec := d.s.Typhoon
	base := *d.s.track
	base.Name = spec.Name
	track := &base
	if spec.ClosestAfter > 0 {
		track = Shift(track, d.w.lat, d.w.lon, d.start.Add(spec.ClosestAfter.D()))
	}
	first, last := track.Points[0].Time, track.Points[len(track.Points)-1].Time
	if last.Before(d.start) || first.After(d.end) {
		return fmt.Errorf("typhoon: the track (%s to %s) does not overlap the drill (%s to %s): set typhoon.closest_after",
			first.Format(time.RFC3339), last.Format(time.RFC3339), d.start.Format(time.RFC3339), d.end.Format(time.RFC3339))
	}
	for _, p := range track.Points {
		h.track = append(h.track, LatLon{Lat: p.Lat, Lon: p.Lon})
	}
	opts := d.typhoonOptions()
	cranes := d.w.cranes
	stormCranes := make([]StormCrane, len(cranes))
	for i, c := range cranes {
		stormCranes[i] = StormCrane{Project: d.w.sites[d.w.craneOf[i]].Project, Crane: c}
	}
	storm := Storm{Track: track, Cranes: stormCranes, AdvisoryEvery: spec.AdvisoryEvery.D(), Lead: spec.Lead.D(),
		// every hour at every crane: the fork has no other readings to
		// clear a crane's wind alarm once the storm has passed
		Floor:  1e-9,
		Errors: predict.EnsembleOptions{Members: spec.Members}, Crane: opts, Lat: d.w.lat, Lon: d.w.lon, Seed: d.s.Seed,
		Source: "sitetwin/drill/" + d.s.ID}
	evs, err := storm.Events()
	if err != nil {
		return err
	}
	var advisories []*twin.Event
	for _, e := range evs {
		if e.Time.Before(d.start) || !e.Time.Before(d.end) {
			continue
		}
		if e.Type == twin.TypeTyphoonAdvisory {
			if spec.Advisory != nil {
				continue // the scenario's own advisory replaces the storm's
			}
			advisories = append(advisories, e)
		}
		e.ID = d.s.ID + "-" + e.ID
		h.events = append(h.events, e)
	}
	if spec.Advisory != nil {
		adv := *spec.Advisory
		adv.Name = spec.Name
		adv.Issued = twin.TimeWhen(d.start)
		adv.Track = nil
		for _, p := range track.Points {
			adv.Track = append(adv.Track, twin.TrackPoint{Time: twin.TimeWhen(p.Time), Lat: p.Lat, Lon: p.Lon, PressureHPa: p.PressureHPa,
				MaxWindMS: p.MaxWindMS, WindAvgMinutes: p.WindAvgMinutes, RMWKm: p.RMWKm, R30Km: p.R30Km, R50Km: p.R50Km})
		}
		e := &twin.Event{ID: d.s.ID + "-advisory-1", Type: twin.TypeTyphoonAdvisory, Source: "sitetwin/drill/" + d.s.ID,
			Time: d.start, Project: twin.CityWide, Data: &adv}
		advisories = append(advisories, e)
		h.events = append(h.events, e)
	}

	// once the track ends the storm has gone: one calm reading at every
	// crane (the city's typical 2-3 m/s) clears the wind alarms it left
	if calm := last.Add(time.Hour); calm.Before(d.end) && !calm.Before(d.start) {
		for c, cr := range cranes {
			h.events = append(h.events, &twin.Event{ID: fmt.Sprintf("%s-calm-%s", d.s.ID, cr.ID), Type: twin.TypeSensorReading,
				Source: "sitetwin/drill/" + d.s.ID, Time: calm, Project: stormCranes[c].Project, Site: cr.Site,
				Data: &twin.SensorReading{Kind: twin.SensorWindGust, Value: 2.5, Unit: "m/s", Equipment: cr.ID}})
		}
	}

	// what happens: the winds of the best track at every crane and site
	ground := make([]predict.Crane, len(d.w.sites))
	for i, s := range d.w.sites {
		ground[i] = predict.Crane{ID: s.ID, Site: s.ID, Lat: s.Lat, Lon: s.Lon, HeightM: 10, Terrain: d.w.terrain[i], InServiceLimitMS: GaleMS}
	}
	meanOpts := opts
	meanOpts.Basis = predict.BasisMean10
	hours, jibTruth, err := predict.JibWinds(track, cranes, opts)
	if err != nil {
		return fmt.Errorf("typhoon jib winds: %w", err)
	}
	_, gustTruth, err := predict.JibWinds(track, ground, opts)
	if err != nil {
		return fmt.Errorf("typhoon ground winds: %w", err)
	}
	_, meanTruth, err := predict.JibWinds(track, ground, meanOpts)
	if err != nil {
		return fmt.Errorf("typhoon ground winds: %w", err)
	}
	for k := range d.n {
		t := d.stepTime(k)
		for i := range d.w.sites {
			h.ground[k][i] = round1(interpolate(hours, gustTruth[i], t))
		}
		for c := range cranes {
			i := d.w.craneOf[c]
			h.jib[k][i] = max(h.jib[k][i], round1(interpolate(hours, jibTruth[c], t)))
		}
	}
	limits := make([]float64, len(cranes))
	for c, cr := range cranes {
		limits[c] = cmp.Or(cr.InServiceLimitMS, opts.DefaultInServiceMS, 20)
	}
	d.liftAfterPeak(h, hours, jibTruth, limits)

	// what is forecast: each advisory's per-crane and per-site forecasts,
	// the predictions the twins record, and the plan they make
	plan := newPlanner(d)
	for _, e := range advisories {
		if err := ctx.Err(); err != nil {
			return err
		}
		adv := e.Data.(*twin.TyphoonAdvisory)
		ft, err := predict.TrackFromAdvisory(adv)
		if err != nil {
			return fmt.Errorf("advisory %s: %w", e.ID, err)
		}
		fs, err := predict.ForecastCranes(ft, cranes, opts)
		if err != nil {
			return fmt.Errorf("advisory %s: %w", e.ID, err)
		}
		gs, err := predict.ForecastCranes(ft, ground, meanOpts)
		if err != nil {
			return fmt.Errorf("advisory %s: %w", e.ID, err)
		}
		h.forecasts[e.ID] = d.typhoonPredictions(adv.Name, e.Time, fs)
		basis := fmt.Sprintf("advisory %s issued %s", e.ID, e.Time.Format("2006-01-02 15:04Z"))
		for c, f := range fs {
			if !f.FirstExceed.IsZero() {
				i := d.w.craneOf[c]
				plan.want(i, ActionStopCrane, cranes[c].ID, e.Time, f.FirstExceed,
					fmt.Sprintf("%s: jib gust forecast above %.0f m/s from %s (peak %.1f m/s, P(exceed) %.2f)", basis, f.InServiceLimitMS,
						f.FirstExceed.Format("01-02 15:04Z"), f.Peak, f.PExceed))
			}
		}
		for i, g := range gs {
			if g.FirstExceed.IsZero() {
				continue
			}
			why := fmt.Sprintf("%s: gale (10-min mean ≥ %.1f m/s at 10 m) forecast from %s", basis, GaleMS, g.FirstExceed.Format("01-02 15:04Z"))
			plan.want(i, ActionSecureSite, "", e.Time, g.FirstExceed, why)
			for _, pit := range d.w.pits[i] {
				plan.want(i, ActionEvacuatePit, pit, e.Time, g.FirstExceed, why)
			}
			plan.want(i, ActionShelter, "", e.Time, g.FirstExceed, why)
		}
	}
	// when the hazard really arrives at each action's subject
	for c := range cranes {
		if at := firstAbove(hours, jibTruth[c], limits[c]); !at.IsZero() {
			plan.hazardAt(d.w.craneOf[c], ActionStopCrane, cranes[c].ID, at)
		}
	}
	for i := range d.w.sites {
		if at := firstAbove(hours, meanTruth[i], GaleMS); !at.IsZero() {
			plan.hazardAt(i, ActionSecureSite, "", at)
			plan.hazardAt(i, ActionShelter, "", at)
			for _, pit := range d.w.pits[i] {
				plan.hazardAt(i, ActionEvacuatePit, pit, at)
			}
		}
	}
	h.actions = plan.finish()

	// cranes that fail: above their out-of-service rating
	p := cmp.Or(spec.CollapseProbability, DefaultCollapseProbability)
	rng := rand.New(rand.NewPCG(d.s.Seed, 0xc011_a95e))
	for c, cr := range cranes {
		oos := cmp.Or(cr.OutOfServiceLimitMS, opts.DefaultOutOfServiceMS)
		if oos <= 0 {
			continue
		}
		at := firstAbove(hours, jibTruth[c], oos)
		draw := rng.Float64()
		if at.IsZero() || at.Before(d.start) || !at.Before(d.end) || p < 0 || draw >= p {
			continue
		}
		i := d.w.craneOf[c]
		injuries := 1 + rng.IntN(4)
		if a := plan.find(i, ActionStopCrane, cr.ID); a != nil && !a.Done.After(at) {
			injuries = rng.IntN(2) // the crane was parked and the site cleared in time
		}
		in := d.newIncident(fmt.Sprintf("%s-collapse-%s", d.s.ID, cr.ID), i, at, twin.IncidentCrane, injuries, cr.ID,
			fmt.Sprintf("tower crane %s collapsed: jib gust above its out-of-service rating of %.0f m/s", cr.ID, oos))
		h.incidents = append(h.incidents, in)
		h.events = append(h.events, in.event(d.s.ID))
	}
	return nil
}

// typhoonPredictions turns one advisory's crane forecasts into the
// typhoon model's prediction for each project with cranes: the same
// figures TyphoonModel.Predict gives (it forecasts a project's cranes
// alone; here all cranes of the city are forecast at once, with the same
// options and ensemble seed, which gives each crane the same figures).
func (d *drill) typhoonPredictions(name string, at time.Time, fs []predict.CraneForecast) []*twin.Prediction {
	byProject := map[string][]predict.CraneForecast{}
	var order []string
	for c, f := range fs {
		p := d.w.sites[d.w.craneOf[c]].Project
		if _, ok := byProject[p]; !ok {
			order = append(order, p)
		}
		byProject[p] = append(byProject[p], f)
	}
	out := make([]*twin.Prediction, 0, len(order))
	for _, id := range order {
		pfs := byProject[id]
		p := &twin.Prediction{Model: "typhoon", Version: "1", Project: id, At: at, Offset: -1,
			Values: map[string]float64{"cranes": float64(len(pfs))}, Dates: map[string]time.Time{}}
		var exceeding int
		var maxP, peak float64
		var first time.Time
		for _, f := range pfs {
			if f.HoursAbove > 0 {
				exceeding++
				if first.IsZero() || f.FirstExceed.Before(first) {
					first = f.FirstExceed
				}
			}
			maxP, peak = max(maxP, f.PExceed), max(peak, f.Peak)
			p.Values["p_exceed@"+f.Crane] = round3(f.PExceed)
		}
		p.Values["cranes_exceeding"] = float64(exceeding)
		p.Values["max_p_exceed"] = round3(maxP)
		p.Values["peak_jib_wind_ms"] = round3(peak)
		if !first.IsZero() {
			p.Dates["first_exceed"] = first
		}
		p.Details, _ = json.Marshal(pfs)
		top := slices.MaxFunc(pfs, func(a, b predict.CraneForecast) int { return cmp.Compare(a.PExceed, b.PExceed) })
		for _, f := range pfs { // the first of the highest, as the model's stable sort gives
			if f.PExceed == top.PExceed {
				top = f
				break
			}
		}
		p.Effects = []twin.Effect{{Input: "crane " + top.Crane + " peak jib wind", Value: round3(top.Peak), Effect: round3(top.PExceed), Unit: "probability",
			Note: fmt.Sprintf("in-service limit %.0f m/s", top.InServiceLimitMS)}}
		p.Summary = fmt.Sprintf("typhoon %s: %d of %d cranes forecast above their in-service limit", name, exceeding, len(pfs))
		if !first.IsZero() {
			p.Summary += ", first at " + first.Format("2006-01-02 15:04Z")
		}
		out = append(out, p)
	}
	return out
}

// liftAfterPeak sets, for each site with cranes, when its crane stop is
// lifted: the first step after the peak of its cranes' jib wind (as a
// share of their limits) at which every crane is below craneClearShare.
func (d *drill) liftAfterPeak(h *hazard, hours []time.Time, jib [][]float64, limits []float64) {
	share := make([][]float64, len(d.w.sites))
	for c := range jib {
		i := d.w.craneOf[c]
		if share[i] == nil {
			share[i] = make([]float64, d.n)
		}
		for k := range d.n {
			share[i][k] = max(share[i][k], interpolate(hours, jib[c], d.stepTime(k))/limits[c])
		}
	}
	for i, sh := range share {
		if sh == nil {
			continue
		}
		peak := 0
		for k, v := range sh {
			if v > sh[peak] {
				peak = k
			}
		}
		h.lift[i] = d.end
		for k := peak; k < d.n; k++ {
			if sh[k] < craneClearShare {
				h.lift[i] = d.stepTime(k)
				break
			}
		}
	}
}

// interpolate returns the value of an hourly series at t, linearly
// between hours; 0 outside the series.
func interpolate(hours []time.Time, v []float64, t time.Time) float64 {
	if len(hours) == 0 || t.Before(hours[0]) || t.After(hours[len(hours)-1]) {
		return 0
	}
	k, found := slices.BinarySearchFunc(hours, t, func(a, b time.Time) int { return a.Compare(b) })
	if found {
		return v[k]
	}
	f := float64(t.Sub(hours[k-1])) / float64(hours[k].Sub(hours[k-1]))
	return v[k-1] + f*(v[k]-v[k-1])
}

// firstAbove returns the first hour a series is above limit (zero: never).
func firstAbove(hours []time.Time, v []float64, limit float64) time.Time {
	for k, x := range v {
		if x > limit {
			return hours[k]
		}
	}
	return time.Time{}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
