package predict

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// TyphoonModel forecasts, for every tower crane of a project, the wind at
// its jib from the active typhoon advisory: when it first exceeds the
// crane's in-service limit, its peak, the hours above, and the probability
// of exceeding over an ensemble around the track (see ForecastCranes). It
// is Expensive: the engine debounces it.
type TyphoonModel struct {
	Options CraneOptions
}

var _ Model = (*TyphoonModel)(nil)

// NewTyphoonModel returns the typhoon model with the calibrated wind field,
// the rule pack's terrain exponents, a fixed ensemble seed and a cache of
// the ensemble members shared by the projects under one advisory.
func NewTyphoonModel(r *twin.Rules) *TyphoonModel {
	o := CraneOptions{TerrainAlpha: r.TerrainAlpha, Members: &MemberCache{}}
	o.Ensemble.Seed = 20261120
	return &TyphoonModel{Options: o}
}

// Name is "typhoon".
func (*TyphoonModel) Name() string { return "typhoon" }

// Version of the typhoon model.
func (*TyphoonModel) Version() string { return "1" }

// Cost is Expensive (an ensemble of wind fields).
func (*TyphoonModel) Cost() Cost { return Expensive }

// Needs lists the events that change the forecast: an advisory, the
// cranes and their sites.
func (*TyphoonModel) Needs() []string {
	return []string{twin.TypeTyphoonAdvisory, twin.TypeEquipmentInstalled, twin.TypeSiteAdded}
}

// Predict forecasts the project's cranes under the active advisory.
func (m *TyphoonModel) Predict(_ context.Context, v *twin.ProjectView) (*Prediction, error) {
	adv := v.Weather.Advisory
	if adv == nil {
		return nil, fmt.Errorf("%w: no active typhoon advisory", ErrNotApplicable)
	}
	var cranes []Crane
	for _, s := range v.Sites {
		for _, e := range s.Equipment {
			if e.Kind == twin.KindTowerCrane {
				cranes = append(cranes, Crane{ID: e.ID, Site: s.ID, Lat: s.Lat, Lon: s.Lon, HeightM: e.HeightM, Terrain: s.Terrain,
					InServiceLimitMS: e.InServiceLimitMS, OutOfServiceLimitMS: e.OutOfServiceLimitMS})
			}
		}
	}
	if len(cranes) == 0 {
		return nil, fmt.Errorf("%w: no tower cranes", ErrNotApplicable)
	}
	track, err := TrackFromAdvisory(adv)
	if err != nil {
		return nil, fmt.Errorf("typhoon %s: %w", adv.Name, err)
	}
	fs, err := ForecastCranes(track, cranes, m.Options)
	if err != nil {
		return nil, fmt.Errorf("typhoon %s: %w", adv.Name, err)
	}
	p := &Prediction{
		Model: m.Name(), Version: m.Version(), Project: v.ID, At: v.Clock, Offset: -1,
		Values: map[string]float64{"cranes": float64(len(fs))}, Dates: map[string]time.Time{},
	}
	var exceeding int
	var maxP, peak float64
	var first time.Time
	for _, f := range fs {
		if f.HoursAbove > 0 {
			exceeding++
			if first.IsZero() || f.FirstExceed.Before(first) {
				first = f.FirstExceed
			}
		}
		maxP, peak = max(maxP, f.PExceed), max(peak, f.Peak)
		p.Values["p_exceed@"+f.Crane] = round3(f.PExceed) // what a backtest scores per crane
	}
	p.Values["cranes_exceeding"] = float64(exceeding)
	p.Values["max_p_exceed"] = round3(maxP)
	p.Values["peak_jib_wind_ms"] = round3(peak)
	if !first.IsZero() {
		p.Dates["first_exceed"] = first
	}
	if p.Details, err = json.Marshal(fs); err != nil {
		return nil, err
	}
	slices.SortStableFunc(fs, func(a, b CraneForecast) int {
		switch {
		case a.PExceed > b.PExceed:
			return -1
		case a.PExceed < b.PExceed:
			return 1
		}
		return 0
	})
	top := fs[0]
	p.Effects = []Effect{{Input: "crane " + top.Crane + " peak jib wind", Value: round3(top.Peak), Effect: round3(top.PExceed), Unit: "probability",
		Note: fmt.Sprintf("in-service limit %.0f m/s", top.InServiceLimitMS)}}
	p.Summary = fmt.Sprintf("typhoon %s: %d of %d cranes forecast above their in-service limit", adv.Name, exceeding, len(fs))
	if !first.IsZero() {
		p.Summary += ", first at " + first.Format("2006-01-02 15:04Z")
	}
	return p, nil
}

// NewRegistry returns a registry with the built-in models: delay, typhoon
// (with the rule pack's terrain exponents) and safety (the trained model
// embedded in the binary, DefaultSafetyModel).
func NewRegistry(r *twin.Rules) *Registry {
	reg := &Registry{}
	safety, err := DefaultSafetyModel()
	if err != nil {
		panic(err) // the embedded model is decoded by the package's tests
	}
	for _, m := range []Model{NewDelayModel(), NewTyphoonModel(r), safety} {
		if err := reg.Register(m); err != nil {
			panic(err) // built-in names are distinct
		}
	}
	return reg
}
