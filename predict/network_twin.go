package predict

import (
	"github.com/sitetwin/sitetwin/twin"
)

// NetworkFromMilestones builds the baseline network of a twin: its baselined
// milestones, in baseline order, with their three-point estimates in days and
// their dependencies. Milestones seen only in progress reports (not
// baselined) are left out. An error is a *NetworkError whose Row is the
// 1-based position in ms.
func NetworkFromMilestones(ms []twin.Milestone) (*Network, error) {
	var acts []Activity
	var rows []int
	for i, m := range ms {
		if !m.Baselined {
			continue
		}
		acts = append(acts, Activity{
			ID: m.ID, Name: m.Name,
			Optimistic: m.OptimisticDays, Likely: m.LikelyDays, Pessimistic: m.PessimisticDays,
			Predecessors: m.DependsOn,
		})
		rows = append(rows, i+1)
	}
	if len(acts) == 0 {
		return nil, &NetworkError{Reason: "no baselined milestones (no plan.baselined yet)"}
	}
	return buildNetwork(acts, rows)
}
