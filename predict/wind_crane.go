package predict

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Crane is a tower crane whose jib wind is forecast.
type Crane struct {
	ID       string
	Site     string
	Lat, Lon float64
	// HeightM is the jib height above ground (m).
	HeightM float64
	// Terrain is the GB 50009-2012 terrain category of the site: A (sea,
	// coast), B (open country, suburbs), C (city), D (dense tall city).
	// Empty: C, as for a twin site.
	Terrain string
	// InServiceLimitMS is the wind at the jib (m/s) above which the crane
	// must stop work; 0: CraneOptions.DefaultInServiceMS.
	InServiceLimitMS float64
	// OutOfServiceLimitMS is the wind the parked crane is rated for; 0:
	// CraneOptions.DefaultOutOfServiceMS (0 there: not evaluated).
	OutOfServiceLimitMS float64
}

// WindBasis is the wind compared with a crane's limits.
type WindBasis int

const (
	// BasisGust compares the 3-second gust at the jib (the default): the
	// twin's crane_wind rule compares the largest of the anemometer's wind
	// speed and gust readings over 10 minutes with the same limit.
	BasisGust WindBasis = iota
	// BasisMean10 compares the 10-minute mean at the jib.
	BasisMean10
)

// CraneOptions configure ForecastCranes. The zero value means every
// default.
type CraneOptions struct {
	// Wind selects the model (default WindAuto) and the averaging factors.
	Wind WindOptions
	// TerrainAlpha overrides the power-law exponents of the GB 50009-2012
	// terrain categories, as the twin's rule pack gives them
	// (terrain_alpha). nil: GB 50009's 0.12, 0.15, 0.22, 0.30.
	TerrainAlpha map[string]float64
	// RefTerrain is the terrain the model's 10 m wind stands for. Default
	// "B" (open country: GB 50009's reference for the basic wind).
	RefTerrain string
	// Basis is the wind compared with the limits. Default BasisGust.
	Basis WindBasis
	// DefaultInServiceMS applies to cranes without their own in-service
	// limit. 0: 20 m/s (GB/T 3811-2008: 250 Pa at the jib; the rule pack's
	// crane_wind default).
	DefaultInServiceMS float64
	// DefaultOutOfServiceMS applies to cranes without their own rating.
	// 0: no default; such cranes get no out-of-service figures.
	DefaultOutOfServiceMS float64
	// Ensemble sets the track-error ensemble behind PExceed.
	Ensemble EnsembleOptions
	// Members, when set, shares the ensemble members' wind parameters
	// between forecasts under the same track (see MemberCache); nil
	// computes them for each forecast. Either gives the same forecasts.
	Members *MemberCache
}

// CraneForecast is what the typhoon model says about one crane. The
// deterministic figures come from the advisory's track; the probabilities
// from the ensemble around it.
type CraneForecast struct {
	Crane string `json:"crane"`
	Site  string `json:"site,omitempty"`
	// FirstExceed is the first forecast hour at which the jib wind exceeds
	// the in-service limit (zero if it never does).
	FirstExceed time.Time `json:"first_exceed,omitzero"`
	// Peak is the highest jib wind (m/s, on Basis) and PeakAt its hour.
	Peak   float64   `json:"peak_ms"`
	PeakAt time.Time `json:"peak_at,omitzero"`
	// HoursAbove counts the forecast hours above the in-service limit.
	HoursAbove int `json:"hours_above"`
	// InServiceLimitMS and OutOfServiceLimitMS are the limits applied
	// (0: no out-of-service rating).
	InServiceLimitMS    float64 `json:"in_service_limit_ms"`
	OutOfServiceLimitMS float64 `json:"out_of_service_limit_ms,omitempty"`
	// OutOfServiceExceeded: the peak exceeds the out-of-service rating.
	OutOfServiceExceeded bool `json:"out_of_service_exceeded,omitempty"`
	// PExceed is the share of ensemble members in which the jib wind
	// exceeds the in-service limit at some hour; POutOfService the same for
	// the out-of-service rating.
	PExceed       float64 `json:"p_exceed"`
	POutOfService float64 `json:"p_out_of_service,omitempty"`
}

// CranesOfSite lists the tower cranes of a twin site.
func CranesOfSite(s *twin.SiteTwin) []Crane {
	var out []Crane
	for _, id := range slices.Sorted(maps.Keys(s.Equipment)) {
		e := s.Equipment[id]
		if e.Kind != twin.KindTowerCrane {
			continue
		}
		out = append(out, Crane{ID: id, Site: s.ID, Lat: s.Lat, Lon: s.Lon, HeightM: e.HeightM, Terrain: s.Terrain,
			InServiceLimitMS: e.InServiceLimitMS, OutOfServiceLimitMS: e.OutOfServiceLimitMS})
	}
	return out
}

// craneSetup is a crane with everything resolved: where its wind is
// computed, the factor from the model's 1-minute 10 m wind to the jib
// wind on the chosen basis, and its limits.
type craneSetup struct {
	at        LatLon
	factor    float64
	inService float64
	outOfServ float64
}

func (o *CraneOptions) setup(cranes []Crane) ([]craneSetup, error) {
	avg := o.Wind.Averaging
	if avg == (Averaging{}) {
		avg = DefaultAveraging()
	}
	if err := avg.validate(); err != nil {
		return nil, err
	}
	terrains, err := GB50009Terrains(o.TerrainAlpha)
	if err != nil {
		return nil, err
	}
	refName := o.RefTerrain
	if refName == "" {
		refName = "B"
	}
	ref, ok := terrains[refName]
	if !ok {
		return nil, fmt.Errorf("reference terrain %q: want A, B, C or D", refName)
	}
	inDef := o.DefaultInServiceMS
	if inDef == 0 {
		inDef = 20
	}
	out := make([]craneSetup, len(cranes))
	for i, c := range cranes {
		name := c.ID
		if name == "" {
			name = fmt.Sprint("#", i+1)
		}
		terrain := c.Terrain
		if terrain == "" {
			terrain = "C"
		}
		tp, ok := terrains[terrain]
		if !ok {
			return nil, fmt.Errorf("crane %s: terrain %q: want A, B, C or D (GB 50009-2012)", name, terrain)
		}
		if !(c.HeightM > 0 && c.HeightM <= 1000) {
			return nil, fmt.Errorf("crane %s: jib height %v m out of range (0, 1000]", name, c.HeightM)
		}
		if err := checkPoints([]LatLon{{c.Lat, c.Lon}}); err != nil {
			return nil, fmt.Errorf("crane %s: %w", name, err)
		}
		s := craneSetup{at: LatLon{c.Lat, c.Lon}, inService: c.InServiceLimitMS, outOfServ: c.OutOfServiceLimitMS}
		if s.inService == 0 {
			s.inService = inDef
		}
		if s.outOfServ == 0 {
			s.outOfServ = o.DefaultOutOfServiceMS
		}
		if !(s.inService > 0 && s.inService < 200) || !(s.outOfServ >= 0 && s.outOfServ < 200) {
			return nil, fmt.Errorf("crane %s: limits %v and %v m/s out of range", name, s.inService, s.outOfServ)
		}
		s.factor = avg.TenMinute(1) * tp.MeanFactor(ref, c.HeightM)
		switch o.Basis {
		case BasisGust:
			s.factor *= tp.GustFactor(c.HeightM)
		case BasisMean10:
		default:
			return nil, errors.New("unknown wind basis")
		}
		out[i] = s
	}
	return out, nil
}

// ForecastCranes forecasts the wind at each crane's jib from a track: the
// model's 1-minute 10 m wind at the crane's site, hour by hour, as a
// 10-minute mean (Averaging), brought to the jib height in the site's
// terrain (TerrainProfile.MeanFactor from RefTerrain), as a gust if Basis
// says so (TerrainProfile.GustFactor), against the crane's limits; then the same for every member of the
// ensemble (EnsembleOptions) for the probabilities. The result is in the
// order of cranes. It is deterministic: the same inputs and seed give the
// same forecasts.
func ForecastCranes(t *Track, cranes []Crane, opt CraneOptions) ([]CraneForecast, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	setup, err := opt.setup(cranes)
	if err != nil {
		return nil, err
	}
	ens, err := opt.Ensemble.withDefaults()
	if err != nil {
		return nil, err
	}
	if ens.Issued.IsZero() {
		ens.Issued = t.Issued
	}
	avg := opt.Wind.Averaging
	if avg == (Averaging{}) {
		avg = DefaultAveraging()
	}
	steps, err := resampleHourly(t, avg.oneMinuteWind)
	if err != nil {
		return nil, err
	}
	sp := paramsFromSteps(steps, opt.Wind.Model, opt.Wind.MaxDistKm, avg, opt.Wind.h10)
	out := make([]CraneForecast, len(cranes))
	for i, c := range cranes {
		s := setup[i]
		f := CraneForecast{Crane: c.ID, Site: c.Site, InServiceLimitMS: s.inService, OutOfServiceLimitMS: s.outOfServ}
		sp.speedsAt(s.at.Lat, s.at.Lon, func(k int, v float64) {
			jib := v * s.factor
			if jib > f.Peak {
				f.Peak, f.PeakAt = jib, sp.t[k]
			}
			if jib > s.inService {
				f.HoursAbove++
				if f.FirstExceed.IsZero() {
					f.FirstExceed = sp.t[k]
				}
			}
		})
		f.OutOfServiceExceeded = s.outOfServ > 0 && f.Peak > s.outOfServ
		out[i] = f
	}
	pIn, pOut := runEnsemble(steps, opt.Wind, avg, setup, ens, opt.Members)
	for i := range out {
		out[i].PExceed = pIn[i]
		if setup[i].outOfServ > 0 {
			out[i].POutOfService = pOut[i]
		}
	}
	return out, nil
}
