package twin

import (
	"math"
	"slices"
	"time"
)

const day = 24 * time.Hour

// replan lays the baseline out in time: a forward pass over the dependency
// network with the likely durations, from the project's planned start.
func (p *ProjectTwin) replan() {
	start := p.Info.PlannedStart
	base := make(map[string]*Milestone, len(p.Milestones))
	for _, m := range p.Milestones {
		if m.Baselined {
			base[m.ID] = m
		}
	}
	finish := make(map[string]time.Time, len(base))
	var visit func(m *Milestone) time.Time
	visit = func(m *Milestone) time.Time {
		if f, ok := finish[m.ID]; ok {
			return f
		}
		es := start
		for _, dep := range m.DependsOn {
			if d, ok := base[dep]; ok {
				if f := visit(d); f.After(es) {
					es = f
				}
			}
		}
		m.PlannedStart = es
		m.PlannedFinish = es.Add(time.Duration(m.LikelyDays * float64(day)))
		finish[m.ID] = m.PlannedFinish
		return m.PlannedFinish
	}
	var end time.Time
	for _, m := range p.Milestones {
		if !m.Baselined {
			continue
		}
		if start.IsZero() {
			m.PlannedStart, m.PlannedFinish = time.Time{}, time.Time{}
			continue
		}
		if f := visit(m); f.After(end) {
			end = f
		}
	}
	p.Schedule.PlannedStart, p.Schedule.PlannedFinish = start, end
}

// plannedFraction is PV(t): the budget-weighted fraction of the baseline
// planned to be complete at t, each milestone progressing linearly over its
// planned dates.
func (p *ProjectTwin) plannedFraction(t time.Time) float64 { return p.planned(t, false) }

// planned is PV(t), or with before its limit from the left: a milestone of
// zero length is a step in the planned-value curve at its date, not yet
// taken just before it.
func (p *ProjectTwin) planned(t time.Time, before bool) float64 {
	var pv float64
	for _, m := range p.Milestones {
		if !m.Baselined || m.PlannedStart.IsZero() {
			continue
		}
		if before && m.PlannedFinish.Equal(t) && m.PlannedStart.Equal(t) {
			continue
		}
		pv += m.BudgetShare * linearProgress(m.PlannedStart, m.PlannedFinish, t)
	}
	return pv
}

// linearProgress is the planned fraction of a milestone at t: 0 until its
// start, 1 from its finish, linear between. A milestone of zero length is 0
// before its date and 1 from it.
func linearProgress(from, to, t time.Time) float64 {
	switch {
	case !t.Before(to):
		return 1
	case !t.After(from):
		return 0
	}
	return float64(t.Sub(from)) / float64(to.Sub(from))
}

// earnedFraction is EV: the budget-weighted fraction actually complete.
func (p *ProjectTwin) earnedFraction() float64 {
	var ev float64
	for _, m := range p.Milestones {
		if m.Baselined {
			ev += m.BudgetShare * m.Percent / 100
		}
	}
	return ev
}

// earnedSchedule returns ES: the time, from the planned start, at which the
// baseline planned the value earned so far (Lipke's ES, taken on the
// continuous planned-value curve: the whole periods C plus the fraction I of
// the next). PV is piecewise linear between milestone dates, so the curve is
// inverted exactly by interpolation between its breakpoints.
func (p *ProjectTwin) earnedSchedule(ev float64) time.Duration {
	start := p.Schedule.PlannedStart
	var buf [33]time.Time // a plan of up to 16 milestones needs no allocation
	pts := append(buf[:0], start)
	for _, m := range p.Milestones {
		if m.Baselined && !m.PlannedStart.IsZero() {
			pts = append(pts, m.PlannedStart, m.PlannedFinish)
		}
	}
	slices.SortFunc(pts, func(a, b time.Time) int { return a.Compare(b) })
	pts = slices.CompactFunc(pts, func(a, b time.Time) bool { return a.Equal(b) })
	if ev <= 0 {
		return 0
	}
	prevT, prevV := start, p.plannedFraction(start)
	if prevV >= ev-1e-12 {
		return 0
	}
	for _, t := range pts[1:] {
		// PV is linear from the previous breakpoint up to t (exclusive);
		// at t it may step up by the share of zero-length milestones.
		left := p.planned(t, true)
		if left >= ev-1e-12 {
			if left == prevV {
				return t.Sub(start)
			}
			f := (ev - prevV) / (left - prevV)
			return prevT.Sub(start) + time.Duration(f*float64(t.Sub(prevT)))
		}
		v := p.plannedFraction(t)
		if v >= ev-1e-12 {
			return t.Sub(start)
		}
		prevT, prevV = t, v
	}
	return p.Schedule.PlannedFinish.Sub(start)
}

// lastProgress is the latest time progress was reported on, or a
// milestone completed, of the baselined milestones (zero: none yet).
func (p *ProjectTwin) lastProgress() time.Time {
	var d time.Time
	for _, m := range p.Milestones {
		if !m.Baselined {
			continue
		}
		for _, t := range []time.Time{m.ProgressAt, m.Completed} {
			if t.After(d) {
				d = t
			}
		}
	}
	return d
}

// updateSchedule recomputes the schedule state at the status date: the
// latest progress reported, or the clock once that is older than maxAge.
// A sensor reading moves only the clock, so after one it does nothing
// unless the status date moved (see esKnown).
func (p *ProjectTwin) updateSchedule(maxAge time.Duration) {
	s := &p.Schedule
	if !p.esKnown {
		p.ev, p.progressAt, p.esFor = round6(p.earnedFraction()), p.lastProgress(), math.NaN()
	}
	status := p.Clock
	if d := p.progressAt; !d.IsZero() && p.Clock.Sub(d) <= maxAge {
		status = d
	}
	if p.esKnown && status.Equal(p.schedAt) {
		return
	}
	p.esKnown, p.schedAt = true, status
	s.EV = p.ev
	s.Known = false
	s.PV, s.SPI, s.ESDays, s.ATDays, s.SPIt, s.SVtDays = 0, 0, 0, 0, 0, 0
	s.StatusDate = status
	if s.PlannedStart.IsZero() || s.PlannedFinish.IsZero() || !s.StatusDate.After(s.PlannedStart) {
		return
	}
	s.Known = true
	s.PV = round6(p.plannedFraction(s.StatusDate))
	if s.PV > 0 {
		s.SPI = round6(s.EV / s.PV)
	}
	// ES depends on the plan and EV only (NaN esFor: not computed yet).
	if p.esFor != s.EV {
		p.es, p.esFor = p.earnedSchedule(s.EV), s.EV
	}
	es := p.es
	at := s.StatusDate.Sub(s.PlannedStart)
	s.ESDays = round6(es.Hours() / 24)
	s.ATDays = round6(at.Hours() / 24)
	s.SVtDays = round6(s.ESDays - s.ATDays)
	if at > 0 {
		s.SPIt = round6(float64(es) / float64(at))
	}
}

// round6 rounds to 6 decimals, so that snapshots do not carry float noise
// that depends on summation order.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }
