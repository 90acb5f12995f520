package predict

import (
	"math"

	"github.com/sitetwin/sitetwin/twin"
)

// ProjectFeatures is the documented feature vector of a project: what a
// remote model receives (see connectors.RemoteModel). Names are stable;
// new ones may be added, none change meaning. Unknown figures are absent.
//
//	spi_t, spi              schedule performance (earned schedule; cost-based)
//	ev, pv                  earned and planned fraction complete, 0..1
//	sv_t_days, at_days      schedule variance and actual time, days
//	days_to_deadline        from the twin's clock
//	budget_cny, earned_cny, disbursed_cny
//	wage_balance_cny, arrears_days
//	credit                  contractor credit score
//	hazards_open_general, hazards_open_major, hazards_open_critical, hazards_overdue
//	alarms_warn, alarms_stop open alarms (project and sites)
//	sites, cranes, pits
//	typhoon_min_km          closest approach of an active advisory (absent: none)
func ProjectFeatures(v *twin.ProjectView) map[string]float64 {
	f := map[string]float64{
		"ev": v.Schedule.EV, "pv": v.Schedule.PV,
		"budget_cny": v.Info.BudgetCNY, "earned_cny": v.Funds.EarnedCNY, "disbursed_cny": v.Funds.DisbursedCNY,
		"wage_balance_cny": v.Funds.WageBalanceCNY, "arrears_days": v.Funds.ArrearsDays, "credit": v.Credit,
		"sites": float64(len(v.Sites)), "cranes": 0, "pits": 0,
		"hazards_open_general": 0, "hazards_open_major": 0, "hazards_open_critical": 0, "hazards_overdue": 0,
		"alarms_warn": 0, "alarms_stop": 0,
	}
	if v.Schedule.Known {
		f["spi_t"], f["spi"], f["sv_t_days"], f["at_days"] = v.Schedule.SPIt, v.Schedule.SPI, v.Schedule.SVtDays, v.Schedule.ATDays
	}
	if !v.Info.Deadline.IsZero() && !v.Clock.IsZero() {
		f["days_to_deadline"] = math.Round(v.Info.Deadline.Sub(v.Clock).Hours()/24*1000) / 1000
	}
	for _, h := range v.Hazards {
		if h.Status != twin.StatusOpen {
			continue
		}
		f["hazards_open_"+h.Severity]++
		if h.Overdue {
			f["hazards_overdue"]++
		}
	}
	for _, a := range v.Alarms {
		f["alarms_"+a.Level.String()]++
	}
	for _, s := range v.Sites {
		f["cranes"] += float64(s.Cranes)
		f["pits"] += float64(s.Pits)
	}
	if v.Weather.Typhoon != "" && v.Weather.TyphoonSite != "" {
		f["typhoon_min_km"] = v.Weather.TyphoonMinKm
	}
	return f
}
