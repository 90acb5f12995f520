package predict

import (
	"math"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// EarnedSchedule holds the earned-schedule indicators of a project at its
// status date (Lipke, "Schedule is different", The Measurable News, March
// 2003; Lipke, Earned Schedule, 2009). All durations are in days from the
// baseline's planned start:
//
//	PD      planned duration: the baseline's planned finish − planned start
//	ES      earned schedule: when the baseline planned the value earned so far
//	AT      actual time: status date − planned start
//	SPI(t)  = ES / AT
//	SV(t)   = ES − AT (negative: behind)
//	IEAC(t) = PD / SPI(t) (= AT + (PD − ES) / SPI(t)): the duration the whole
//	          project takes if the rest goes at the rate so far
//	TSPI    = (PD − ES) / (PD − AT): the schedule performance the remaining
//	          work needs to finish in the planned duration (> 1: faster than
//	          the baseline)
//
// Once the planned duration has passed with work remaining (AT >= PD, ES <
// PD) no rate finishes by PD, and TSPI is undefined. Lipke then measures the
// to-complete index against a new target duration ED instead of PD:
// TSPI(ED) = (PD − ES) / (ED − AT); TSPIDeadline is that index with ED the
// project's deadline (approved extensions included).
type EarnedSchedule struct {
	Known      bool      `json:"known"` // false until there is a baseline and time has passed its start
	StatusDate time.Time `json:"status_date,omitzero"`
	PDDays     float64   `json:"pd_days"`
	ESDays     float64   `json:"es_days"`
	ATDays     float64   `json:"at_days"`
	SPIt       float64   `json:"spi_t"` // 0 when nothing is earned
	SVtDays    float64   `json:"sv_t_days"`
	IEACtDays  float64   `json:"ieac_t_days,omitempty"` // 0 when SPI(t) is 0: no rate to extrapolate
	IEACtDate  time.Time `json:"ieac_t_date,omitzero"`  // planned start + IEAC(t)
	TSPI       float64   `json:"tspi"`
	TSPIKnown  bool      `json:"tspi_known"` // false once PD has passed with work remaining
	// DeadlineDays is the deadline in days from the planned start; 0 when
	// there is none.
	DeadlineDays float64 `json:"deadline_days,omitempty"`
	// TSPIDeadline is (PD − ES) / (deadline − AT); TSPIDeadlineKnown is
	// false with no deadline, or once it has passed with work remaining.
	TSPIDeadline      float64 `json:"tspi_deadline,omitempty"`
	TSPIDeadlineKnown bool    `json:"tspi_deadline_known"`
}

// ComputeEarnedSchedule returns the indicators for a planned duration, an
// earned schedule and an actual time (days), and a deadline in days from the
// planned start (0 or less for none). Known is false when PD or AT is not
// positive; an input that is NaN or infinite gives the zero value, so no
// field is ever NaN or infinite.
func ComputeEarnedSchedule(pd, es, at, deadline float64) EarnedSchedule {
	if !finite(pd) || !finite(es) || !finite(at) || !finite(deadline) {
		return EarnedSchedule{}
	}
	deadline = max(0, deadline)
	e := EarnedSchedule{PDDays: pd, ESDays: es, ATDays: at, SVtDays: es - at, DeadlineDays: deadline}
	if !(pd > 0 && at > 0) {
		return e
	}
	e.Known = true
	e.SPIt = es / at
	if e.SPIt > 0 {
		e.IEACtDays = pd / e.SPIt
	}
	e.TSPI, e.TSPIKnown = toComplete(pd, es, at, pd)
	if deadline > 0 {
		e.TSPIDeadline, e.TSPIDeadlineKnown = toComplete(pd, es, at, deadline)
	}
	return e
}

// toComplete is Lipke's to-complete schedule performance index against a
// target duration: (PD − ES) / (target − AT). With nothing left it is 0.
func toComplete(pd, es, at, target float64) (float64, bool) {
	left := pd - es
	switch {
	case left <= 0:
		return 0, true
	case target <= at:
		return 0, false
	}
	return left / (target - at), true
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// EarnedScheduleOf returns the earned-schedule indicators of a twin view at
// its schedule's status date. ES and AT are the twin's own (twin.Schedule:
// ES on the continuous planned-value curve, AT from the planned start); the
// deadline is the project's deadline, or its registered planned finish when
// it has none.
func EarnedScheduleOf(v *twin.ProjectView) EarnedSchedule {
	s := v.Schedule
	if !s.Known || s.PlannedStart.IsZero() || s.PlannedFinish.IsZero() {
		return EarnedSchedule{StatusDate: s.StatusDate}
	}
	var deadline float64
	if d := projectDeadline(v); !d.IsZero() {
		deadline = days(d.Sub(s.PlannedStart))
	}
	e := ComputeEarnedSchedule(days(s.PlannedFinish.Sub(s.PlannedStart)), s.ESDays, s.ATDays, deadline)
	e.StatusDate = s.StatusDate
	if e.IEACtDays > 0 {
		e.IEACtDate = s.PlannedStart.Add(dayDuration(e.IEACtDays))
	}
	return e
}

// projectDeadline is the deadline a forecast is measured against: the
// registered deadline (with approved extensions), else the registered
// planned finish, else the baseline's planned finish; zero when none is
// known.
func projectDeadline(v *twin.ProjectView) time.Time {
	switch {
	case !v.Info.Deadline.IsZero():
		return v.Info.Deadline
	case !v.Info.PlannedFinish.IsZero():
		return v.Info.PlannedFinish
	}
	return v.Schedule.PlannedFinish
}

// days converts a duration to days.
func days(d time.Duration) float64 { return d.Hours() / 24 }

// dayDuration converts days to a duration, to the second.
func dayDuration(x float64) time.Duration {
	return time.Duration(math.Round(x*86400)) * time.Second
}
