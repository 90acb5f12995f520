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

// ExposureOfTerrain maps a GB 50009-2012 terrain category to the exposure
// of its gusts: A (sea, coast, islands) off-sea, B (open country, villages,
// suburbs) off-land, C and D (cities) in-land.
func ExposureOfTerrain(category string) Exposure {
	switch category {
	case "A":
		return OffSea
	case "B":
		return OffLand
	default:
		return InLand
	}
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
