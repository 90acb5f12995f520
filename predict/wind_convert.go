package predict

import (
	"fmt"
	"math"
)

// Exposure is the roughness upwind of a point, as in the WMO guidelines
// for converting between wind averaging periods (Harper, Kepert and Ginger
// 2010, WMO/TD-No. 1555): it sets the gust factor.
type Exposure int

// Exposures of WMO/TD-No. 1555.
const (
	AtSea   Exposure = iota // open water, more than about 20 km offshore
	OffSea                  // on the coast with the wind blowing from the sea
	OffLand                 // open country, or the wind blowing off land
	InLand                  // suburbs, towns, forest
)

var exposureNames = [...]string{"at-sea", "off-sea", "off-land", "in-land"}

func (e Exposure) String() string {
	if e < 0 || int(e) >= len(exposureNames) {
		return fmt.Sprintf("Exposure(%d)", int(e))
	}
	return exposureNames[e]
}

// Averaging holds the factors between wind averaging periods. The wind
// profiles give 1-minute sustained winds (the US convention CLIMADA uses);
// JMA and HKO report 10-minute means, HKO's station maxima are hourly means
// and 3-second gusts.
type Averaging struct {
	// OneToTen: the 10-minute mean is OneToTen times the 1-minute
	// sustained wind. Default 0.93, the at-sea conversion recommended by
	// Harper, Kepert and Ginger (2010, WMO/TD-No. 1555) between agency
	// 1-minute and 10-minute estimates. 2- and 3-minute winds are
	// converted by interpolating in log(period) between 1 (factor 1) and
	// 10 minutes (factor OneToTen): 0.978 and 0.966 by default.
	OneToTen float64
	// TenToHour: the hourly mean is TenToHour times the 10-minute mean.
	// Default 0.95: the ratio of WMO/TD-No. 1555's 3-second gust factors
	// over 600 s and 3600 s (1.38/1.45 off-sea, 1.52/1.60 off-land,
	// 1.66/1.75 in-land, all 0.95).
	TenToHour float64
	// Gust: the maximum 3-second gust is Gust[e] times the 10-minute mean
	// for exposure e. Default 1.23 at-sea, 1.38 off-sea, 1.52 off-land, 1.66
	// in-land (WMO/TD-No. 1555, Table 1.1, gust factor G(3 s, 600 s)).
	Gust [4]float64
}

// DefaultAveraging returns the factors documented on Averaging.
func DefaultAveraging() Averaging {
	return Averaging{OneToTen: 0.93, TenToHour: 0.95, Gust: [4]float64{1.23, 1.38, 1.52, 1.66}}
}

func (a Averaging) validate() error {
	if !(a.OneToTen > 0.5 && a.OneToTen <= 1) || !(a.TenToHour > 0.5 && a.TenToHour <= 1) {
		return fmt.Errorf("averaging: OneToTen %v and TenToHour %v must be in (0.5, 1]", a.OneToTen, a.TenToHour)
	}
	for e, g := range a.Gust {
		if !(g >= 1 && g < 3) {
			return fmt.Errorf("averaging: gust factor %v for %s must be in [1, 3)", g, Exposure(e))
		}
	}
	return nil
}

// periodFactor is the ratio of a wind averaged over minutes to the 1-minute
// sustained wind.
func (a Averaging) periodFactor(minutes float64) float64 {
	if minutes <= 1 {
		return 1
	}
	return math.Pow(a.OneToTen, math.Log10(minutes))
}

// oneMinuteWind is a track point's maximum wind as a 1-minute sustained
// wind (m/s). A point without wind gets CLIMADA's statistical estimate from
// pressure (_estimate_vmax), at least 0.
func (a Averaging) oneMinuteWind(p *TrackPoint) float64 {
	if p.MaxWindMS > 0 {
		return p.MaxWindMS / a.periodFactor(p.WindAvgMinutes)
	}
	return max(0, climadaEstimateVmaxKt(p.Lat, p.Lon, p.PressureHPa)*knotMS)
}

// TenMinute converts a 1-minute sustained wind to a 10-minute mean.
func (a Averaging) TenMinute(v1 float64) float64 { return v1 * a.OneToTen }

// Hourly converts a 1-minute sustained wind to an hourly mean.
func (a Averaging) Hourly(v1 float64) float64 { return v1 * a.OneToTen * a.TenToHour }

// Gust3s converts a 1-minute sustained wind to the maximum 3-second gust
// for the exposure.
func (a Averaging) Gust3s(v1 float64, e Exposure) float64 {
	if e < 0 || int(e) >= len(a.Gust) {
		e = InLand
	}
	return v1 * a.OneToTen * a.Gust[e]
}

// TerrainProfile is the wind profile of a GB 50009-2012 terrain category
// (§8.2.1 and §8.4): the mean wind grows as a power of height up to the
// gradient height, is taken constant below a minimum height, and its
// turbulence intensity decays with height.
type TerrainProfile struct {
	Alpha           float64 // power-law exponent of the mean wind
	GradientHeightM float64 // where the wind no longer feels the ground
	MinHeightM      float64 // below it, the wind of this height
	Turbulence10    float64 // turbulence intensity at 10 m, I10
}

// GB50009Terrains returns the profiles of categories A (sea, coast,
// islands), B (open country, villages, suburbs), C (cities with dense
// buildings) and D (cities with dense tall buildings) of GB 50009-2012:
// exponents 0.12, 0.15, 0.22, 0.30; gradient heights 300, 350, 450, 550 m;
// minimum heights 5, 10, 15, 30 m (where its table of height coefficients
// becomes constant); I10 0.12, 0.14, 0.23, 0.39. alpha, if not nil,
// replaces the exponents (the rule pack's terrain_alpha); each must be in
// (0, 1).
func GB50009Terrains(alpha map[string]float64) (map[string]TerrainProfile, error) {
	t := map[string]TerrainProfile{
		"A": {0.12, 300, 5, 0.12},
		"B": {0.15, 350, 10, 0.14},
		"C": {0.22, 450, 15, 0.23},
		"D": {0.30, 550, 30, 0.39},
	}
	for k, a := range alpha {
		p, ok := t[k]
		if !ok {
			return nil, fmt.Errorf("terrain %q: want A, B, C or D", k)
		}
		if !(a > 0 && a < 1) {
			return nil, fmt.Errorf("terrain %s: exponent %v not in (0, 1)", k, a)
		}
		p.Alpha = a
		t[k] = p
	}
	return t, nil
}

// MeanFactor is the mean wind at height z (m) in this terrain over the
// mean wind at 10 m in ref: (zG_ref/10)^a_ref (z/zG)^a, the velocity form
// of GB 50009's height coefficient mu_z (for ref B, mu_z = MeanFactor²).
func (p TerrainProfile) MeanFactor(ref TerrainProfile, z float64) float64 {
	z = clamp(z, p.MinHeightM, p.GradientHeightM)
	z10 := clamp(10, ref.MinHeightM, ref.GradientHeightM)
	return math.Pow(ref.GradientHeightM/z10, ref.Alpha) * math.Pow(z/p.GradientHeightM, p.Alpha)
}

// GustFactor is the 3-second gust over the 10-minute mean at height z:
// 1 + g I10 (z/10)^-a with peak factor g = 2.5, the velocity form of GB
// 50009-2012's gust coefficient beta_gz = 1 + 2 g I10 (z/10)^-a.
func (p TerrainProfile) GustFactor(z float64) float64 {
	z = clamp(z, p.MinHeightM, p.GradientHeightM)
	return 1 + 2.5*p.Turbulence10*math.Pow(z/10, -p.Alpha)
}
