package predict

import (
	"math"
	"slices"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// safetyFeatureNames are the names SiteFeatures returns, in a fixed order.
var safetyFeatureNames = []string{
	"hazards_open_general", "hazards_open_major", "hazards_open_critical", "hazards_overdue",
	"hazards_found_90d", "project_hazards_per_30d", "project_hazards_late", "project_late_share",
	"alarms_7d", "alarms_open_warn", "alarms_open_stop",
	"crane_exposure", "crane_wind_ratio", "pit_rate_ratio", "pit_cumulative_ratio",
	"cranes", "pits", "incidents_90d", "incidents_365d",
	"credit", "sites", "days_since_start", "progress",
}

// SafetyFeatureNames returns the names of SiteFeatures in their fixed
// order (a fresh slice).
func SafetyFeatureNames() []string { return slices.Clone(safetyFeatureNames) }

// Windows of the safety features.
const (
	hazardRecentWindow = 90 * 24 * time.Hour  // hazards_found_90d
	yearWindow         = 365 * 24 * time.Hour // incidents_365d
)

// craneAlpha is the GB 50009-2012 wind-profile exponent per terrain
// category (§8.2.1), as the Shenzhen pack and the twin's crane_wind rule
// use it (an unknown terrain counts as C, as the twin does).
var craneAlpha = map[string]float64{"A": 0.12, "B": 0.15, "C": 0.22, "D": 0.30}

// SiteFeatures is the documented feature vector of one site of a project:
// what the safety model reads. Every name is always present (0 when the
// site has none of it); names are stable, new ones may be added, none
// change meaning. Counts are taken at the site's At (the later of its
// newest reading and the project's newest event).
//
//	hazards_open_general, hazards_open_major, hazards_open_critical
//	                          hazards at the site found and not yet rectified, by severity
//	hazards_overdue           of those, the ones past their rectification deadline
//	hazards_found_90d         hazards at the site found in the last 90 days (any status)
//	project_hazards_per_30d   hazards found in the whole project per 30 days since its
//	                          planned start (at least 30 days counted): how often
//	                          inspectors find something, a mark of the contractor
//	project_hazards_late      hazards of the project that were (or are) not rectified
//	                          by a deadline
//	project_late_share        project_hazards_late over the hazards found (0 without)
//	alarms_7d                 sensor alarms raised at the site in the last 7 days
//	alarms_open_warn, alarms_open_stop
//	                          the site's standing alarms, by level
//	crane_exposure            the largest, over the site's tower cranes, of the jib's height
//	                          factor (h/10)^α (GB 50009 power law of the site's terrain) over
//	                          the crane's in-service limit relative to 20 m/s: 1 for a 10 m
//	                          crane rated 20 m/s, about 1.6 for 80 m in terrain C (0: no crane)
//	crane_wind_ratio          the largest, over the cranes, of the latest windowed wind at
//	                          the jib (rule crane_wind) over the crane's in-service limit
//	pit_rate_ratio            the largest, over the site's pits, of the latest displacement
//	                          rate (rule pit_rate, mm/d) over the pit's rate alarm value
//	pit_cumulative_ratio      the same for the cumulative displacement (rule pit_cumulative)
//	cranes, pits              tower cranes and foundation pits installed at the site
//	incidents_90d             incidents at the site in the last 90 days
//	incidents_365d            incidents at the site in the last 365 days
//	credit                    the project's contractor credit score (0-100)
//	sites                     the project's sites
//	days_since_start          days from the project's planned start (negative before it;
//	                          0 when unknown)
//	progress                  the project's earned fraction complete, 0..1
func SiteFeatures(v *twin.ProjectView, s *twin.SiteView) map[string]float64 {
	x := siteFeatureVector(v, s)
	f := make(map[string]float64, len(x))
	for i, n := range safetyFeatureNames {
		f[n] = x[i]
	}
	return f
}

// Indexes of the safety features in safetyFeatureNames.
const (
	sfOpenGeneral = iota
	sfOpenMajor
	sfOpenCritical
	sfOverdue
	sfFound90d
	sfProjectRate
	sfProjectLate
	sfLateShare
	sfAlarms7d
	sfAlarmsWarn
	sfAlarmsStop
	sfCraneExposure
	sfCraneWind
	sfPitRate
	sfPitCumulative
	sfCranes
	sfPits
	sfIncidents90d
	sfIncidents365d
	sfCredit
	sfSites
	sfDaysSinceStart
	sfProgress
	sfCount
)

// siteFeatureVector computes SiteFeatures in the order of
// safetyFeatureNames.
func siteFeatureVector(v *twin.ProjectView, s *twin.SiteView) []float64 {
	x := make([]float64, sfCount)
	at := s.At
	if at.IsZero() {
		at = v.Clock
	}
	clock := v.Clock
	if clock.IsZero() {
		clock = at
	}

	// hazards: the site's open ones and recent finds; the project's rate
	// of finds and of late rectifications since it began
	from := v.Info.PlannedStart
	var projectFound float64
	for i := range v.Hazards {
		h := &v.Hazards[i]
		if h.Found.After(clock) {
			continue
		}
		if h.Site == s.ID {
			if h.Status == twin.StatusOpen {
				switch h.Severity {
				case twin.SeverityGeneral:
					x[sfOpenGeneral]++
				case twin.SeverityMajor:
					x[sfOpenMajor]++
				case twin.SeverityCritical:
					x[sfOpenCritical]++
				}
				if !h.Deadline.IsZero() && clock.After(h.Deadline) {
					x[sfOverdue]++
				}
			}
			if at.Sub(h.Found) < hazardRecentWindow {
				x[sfFound90d]++
			}
		}
		projectFound++
		if from.IsZero() || h.Found.Before(from) {
			from = h.Found
		}
		if h.Overdue || h.Missed > 0 || h.Status == twin.StatusOpen && !h.Deadline.IsZero() && clock.After(h.Deadline) {
			x[sfProjectLate]++
		}
	}
	if days := clock.Sub(from).Hours() / 24; projectFound > 0 {
		x[sfProjectRate] = projectFound * 30 / math.Max(days, 30)
		x[sfLateShare] = x[sfProjectLate] / projectFound
	}

	// sensors
	x[sfAlarms7d] = float64(s.AlarmsLast7d)
	for _, a := range s.Alarms {
		switch a.Level {
		case twin.LevelWarn:
			x[sfAlarmsWarn]++
		case twin.LevelStop:
			x[sfAlarmsStop]++
		}
	}
	alpha, ok := craneAlpha[s.Terrain]
	if !ok {
		alpha = craneAlpha["C"]
	}
	equipment := make(map[string]*twin.Equipment, len(s.Equipment))
	for i := range s.Equipment {
		e := &s.Equipment[i]
		equipment[e.ID] = e
		switch e.Kind {
		case twin.KindTowerCrane:
			x[sfCranes]++
			h := e.HeightM
			if h <= 0 {
				h = 10
			}
			x[sfCraneExposure] = math.Max(x[sfCraneExposure], math.Pow(h/10, alpha)*20/limitOr(e.InServiceLimitMS, 20))
		case twin.KindFoundationPit:
			x[sfPits]++
		}
	}
	for _, w := range s.Windows {
		e := equipment[w.Equipment]
		if e == nil {
			continue
		}
		switch {
		case w.Rule == "crane_wind" && e.Kind == twin.KindTowerCrane:
			x[sfCraneWind] = math.Max(x[sfCraneWind], w.Value/limitOr(e.InServiceLimitMS, 20))
		case w.Rule == "pit_rate" && e.Kind == twin.KindFoundationPit:
			x[sfPitRate] = math.Max(x[sfPitRate], math.Abs(w.Value)/limitOr(e.AlarmRateMMPerDay, 2))
		case w.Rule == "pit_cumulative" && e.Kind == twin.KindFoundationPit:
			x[sfPitCumulative] = math.Max(x[sfPitCumulative], math.Abs(w.Value)/limitOr(e.AlarmCumulativeMM, 30))
		}
	}

	// incidents and the project
	x[sfIncidents90d] = float64(s.IncidentsLast90d)
	for _, in := range s.Incidents {
		if !in.Time.After(at) && at.Sub(in.Time) < yearWindow {
			x[sfIncidents365d]++
		}
	}
	x[sfCredit] = v.Credit
	x[sfSites] = float64(len(v.Sites))
	if ps := v.Info.PlannedStart; !ps.IsZero() && !clock.IsZero() {
		x[sfDaysSinceStart] = math.Round(clock.Sub(ps).Hours()/24*1000) / 1000
	}
	x[sfProgress] = v.Schedule.EV
	for i, f := range x {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			x[i] = 0
		}
		x[i] = round6(x[i])
	}
	return x
}

// limitOr returns a limit, or def when it is not positive.
func limitOr(limit, def float64) float64 {
	if limit > 0 {
		return limit
	}
	return def
}

// round6 rounds to 6 decimals, so that features print and compare stably.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
