package predict

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Bounds of the observed SPI(t) used to scale the remaining work (see
// ForecastOptions).
const (
	DefaultMinSPIt = 0.25
	DefaultMaxSPIt = 2.0
)

// ForecastOptions configures ForecastProject.
type ForecastOptions struct {
	// Sim configures the Monte Carlo run; its zero fields take their
	// defaults (10 000 iterations of beta-PERT, seed 0, one goroutine).
	Sim SimOptions
	// Uplifts is the reference-class prior by project kind; nil means
	// DefaultUplifts().
	Uplifts map[string]Uplift
	// MinSPIt and MaxSPIt bound the observed SPI(t) before it scales the
	// remaining work: DefaultMinSPIt (0.25: at most 4 times slower than
	// planned) and DefaultMaxSPIt (2: at most twice as fast) when 0.
	MinSPIt, MaxSPIt float64
	// Deadline replaces the project's own deadline when not zero.
	Deadline time.Time
}

// DefaultForecastOptions returns the defaults: DefaultSimOptions, the
// default uplift table and the default SPI(t) bounds.
func DefaultForecastOptions() ForecastOptions {
	return ForecastOptions{Sim: DefaultSimOptions(), Uplifts: DefaultUplifts(), MinSPIt: DefaultMinSPIt, MaxSPIt: DefaultMaxSPIt}
}

// Forecast is the delay forecast of one project: when it will finish and how
// likely it is to meet its deadline, with the inputs that moved it.
type Forecast struct {
	Project       string         `json:"project"`
	Kind          string         `json:"kind,omitempty"`
	StatusDate    time.Time      `json:"status_date"`             // t = 0 of the figures in days
	PlannedFinish time.Time      `json:"planned_finish,omitzero"` // of the baseline network
	Deadline      time.Time      `json:"deadline,omitzero"`       // zero when none is known
	Done          bool           `json:"done"`                    // every milestone complete: the dates are the actual finish
	Earned        EarnedSchedule `json:"earned_schedule"`

	// The scaling of the remaining work (see ForecastProject).
	SPIt      float64 `json:"spi_t"`      // observed, 0 when unknown
	SPItUsed  float64 `json:"spi_t_used"` // bounded; 1 when unknown
	Weight    float64 `json:"weight"`     // of the observed rate: the earned fraction EV
	Uplift    Uplift  `json:"uplift"`
	Factor    float64 `json:"factor"`     // applied to every remaining duration
	StartDays float64 `json:"start_days"` // days from the status date until work can start (the planned start, when nothing is earned yet)

	// Analytic PERT on the remaining network, scaled: days from the status
	// date. CriticalPath is its mean critical path (milestones not done).
	PERTMean      float64  `json:"pert_mean"`
	PERTVariance  float64  `json:"pert_variance"`
	PDeadlinePERT float64  `json:"p_deadline_pert"` // 0 with no deadline
	CriticalPath  []string `json:"critical_path"`

	// Monte Carlo: Sim is in days from the status date (nil when Done), and
	// its mean and quantiles are repeated here, in days and as dates.
	Sim       *SimResult `json:"-"`
	Mean      float64    `json:"mean"`
	P50Days   float64    `json:"p50"`
	P80Days   float64    `json:"p80"`
	P90Days   float64    `json:"p90"`
	P50       time.Time  `json:"p50_date"`
	P80       time.Time  `json:"p80_date"`
	P90       time.Time  `json:"p90_date"`
	PDeadline float64    `json:"p_deadline"` // P(finish <= Deadline); 0 with no deadline

	Milestones    []MilestoneForecast `json:"milestones"`
	Contributions []Contribution      `json:"contributions"`
}

// MilestoneForecast is one milestone's part in a forecast.
type MilestoneForecast struct {
	ID            string  `json:"id"`
	Name          string  `json:"name,omitempty"`
	State         string  `json:"state"`          // "done", "in progress" or "not started"
	RemainingDays float64 `json:"remaining_days"` // PERT mean of the remaining work, scaled
	Criticality   float64 `json:"criticality"`    // share of iterations on a longest path; 0 when done
}

// Milestone states of MilestoneForecast.
const (
	StateDone       = "done"
	StateInProgress = "in progress"
	StateNotStarted = "not started"
)

// Contribution is how much one input moved the forecast: Days is the shift
// of the P50 finish date it caused, and the Days of a forecast's
// contributions add up to P50 − the baseline's planned finish.
type Contribution struct {
	Input string  `json:"input"` // "remaining_critical_path", "spi_t" or "uplift"
	Value float64 `json:"value"` // the input's value: P50 days of remaining work, SPI(t) used, uplift factor
	Days  float64 `json:"days"`
	Note  string  `json:"note"`
}

// ErrNoBaseline is returned by ForecastProject for a project without
// baselined milestones: there is nothing to forecast.
var ErrNoBaseline = errors.New("no baselined milestones to forecast")

// ForecastProject forecasts when a live project finishes, from a read-only
// view of its twin, at the view's status date (the schedule's data date,
// else the twin's clock):
//
//   - a completed milestone (milestone.completed, or 100% reported) takes no
//     more time; an in-progress one has (1 − percent) of its three-point
//     estimates left; a milestone not started has all of them; remaining
//     work starts at the status date, or at the planned start when nothing
//     has been earned yet and it lies ahead;
//   - every remaining duration is multiplied by one factor,
//     f = (1 − w)·U + w/SPI(t), where U is the reference-class uplift of the
//     project's kind (Uplift.Factor), SPI(t) the observed earned-schedule
//     index bounded to [MinSPIt, MaxSPIt], and w the earned fraction EV: the
//     prior speaks for the work not yet done, the observed rate for the work
//     done (a credibility weighting: with nothing earned w = 0 and SPI(t)
//     does not matter; an unknown SPI(t) counts as 1);
//   - the Monte Carlo of Simulate runs over that network, and the analytic
//     PERT answer is given beside it.
//
// Because f scales every remaining duration alike, T = start + f·T₀ where
// T₀ is the unscaled remaining time, so the contributions are exact: of the
// P50 finish's shift from the baseline's planned finish, Q₀·w·(1/SPI(t) − 1)
// days are SPI(t)'s, Q₀·(1 − w)·(U − 1) the uplift's (Q₀ the unscaled P50),
// and the rest the remaining work itself at its baseline estimates. An
// error wraps ErrNoBaseline, is a *NetworkError for a bad baseline, or names
// a bad option.
func ForecastProject(v *twin.ProjectView, opts ForecastOptions) (*Forecast, error) {
	if opts.Uplifts == nil {
		opts.Uplifts = DefaultUplifts()
	}
	if opts.MinSPIt == 0 {
		opts.MinSPIt = DefaultMinSPIt
	}
	if opts.MaxSPIt == 0 {
		opts.MaxSPIt = DefaultMaxSPIt
	}
	if !(opts.MinSPIt > 0 && opts.MinSPIt <= 1 && opts.MaxSPIt >= 1 && finite(opts.MaxSPIt)) {
		return nil, fmt.Errorf("SPI(t) bounds [%g, %g]: need 0 < min <= 1 <= max", opts.MinSPIt, opts.MaxSPIt)
	}
	base, err := NetworkFromMilestones(v.Milestones)
	if err != nil {
		var ne *NetworkError
		if errors.As(err, &ne) && ne.Row == 0 {
			return nil, fmt.Errorf("project %s: %w", v.ID, ErrNoBaseline)
		}
		return nil, fmt.Errorf("project %s: baseline: %w", v.ID, err)
	}
	f := &Forecast{
		Project: v.ID, Kind: v.Info.Kind, StatusDate: v.Schedule.StatusDate,
		PlannedFinish: v.Schedule.PlannedFinish, Earned: EarnedScheduleOf(v),
	}
	if f.StatusDate.IsZero() {
		f.StatusDate = v.Clock
	}
	if f.StatusDate.IsZero() {
		return nil, fmt.Errorf("project %s: no status date (no events applied)", v.ID)
	}
	f.Deadline = opts.Deadline
	if f.Deadline.IsZero() {
		f.Deadline = projectDeadline(v)
	}

	// The remaining network, unscaled.
	byID := make(map[string]*twin.Milestone, len(v.Milestones))
	for i := range v.Milestones {
		byID[v.Milestones[i].ID] = &v.Milestones[i]
	}
	acts := base.Activities()
	remaining := 0
	var lastDone time.Time
	for i := range acts {
		m := byID[acts[i].ID]
		frac := 1 - math.Min(1, math.Max(0, m.Percent/100))
		mf := MilestoneForecast{ID: m.ID, Name: m.Name, State: StateNotStarted}
		switch {
		case !m.Completed.IsZero() || frac == 0:
			mf.State, frac = StateDone, 0
			if m.Completed.After(lastDone) {
				lastDone = m.Completed
			} else if m.Completed.IsZero() && m.ProgressAt.After(lastDone) {
				lastDone = m.ProgressAt
			}
		case frac < 1:
			mf.State = StateInProgress
			remaining++
		default:
			remaining++
		}
		acts[i].Optimistic *= frac
		acts[i].Likely *= frac
		acts[i].Pessimistic *= frac
		f.Milestones = append(f.Milestones, mf)
	}

	// The scaling.
	f.Uplift = Uplift{Kind: v.Info.Kind, Class: "none (no reference class for this kind)"}
	if u, ok := opts.Uplifts[v.Info.Kind]; ok {
		f.Uplift = u
	}
	f.SPItUsed = 1
	if f.Earned.Known && f.Earned.SPIt > 0 {
		f.SPIt = f.Earned.SPIt
		f.SPItUsed = math.Min(opts.MaxSPIt, math.Max(opts.MinSPIt, f.SPIt))
	} else if f.Earned.Known {
		f.SPItUsed = opts.MinSPIt // time has passed and nothing is earned
	}
	f.Weight = math.Min(1, math.Max(0, v.Schedule.EV))
	if !f.Earned.Known {
		f.Weight = 0
	}
	u := f.Uplift.Factor()
	f.Factor = (1-f.Weight)*u + f.Weight/f.SPItUsed
	if v.Schedule.EV <= 0 && v.Schedule.PlannedStart.After(f.StatusDate) {
		f.StartDays = days(v.Schedule.PlannedStart.Sub(f.StatusDate))
	}

	deadlineDays := math.NaN()
	if !f.Deadline.IsZero() {
		deadlineDays = days(f.Deadline.Sub(f.StatusDate))
	}
	if remaining == 0 {
		f.Done = true
		if lastDone.IsZero() {
			lastDone = f.StatusDate
		}
		f.P50, f.P80, f.P90 = lastDone, lastDone, lastDone
		f.PERTMean = days(lastDone.Sub(f.StatusDate))
		f.Mean, f.P50Days, f.P80Days, f.P90Days = f.PERTMean, f.PERTMean, f.PERTMean, f.PERTMean
		f.CriticalPath = []string{}
		if !f.Deadline.IsZero() && !lastDone.After(f.Deadline) {
			f.PDeadline, f.PDeadlinePERT = 1, 1
		}
		f.Contributions = []Contribution{}
		return f, nil
	}

	rest, err := NewNetwork(acts)
	if err != nil {
		return nil, fmt.Errorf("project %s: remaining network: %w", v.ID, err) // cannot happen: scaled from a valid one
	}
	pert := AnalyzePERT(rest)
	sim0, err := Simulate(rest, opts.Sim)
	if err != nil {
		return nil, err
	}
	f.Sim = sim0.affine(f.StartDays, f.Factor)
	f.PERTMean = f.StartDays + f.Factor*pert.Mean
	f.PERTVariance = f.Factor * f.Factor * pert.Variance
	if !math.IsNaN(deadlineDays) {
		f.PDeadline = f.Sim.ProbFinishBy(deadlineDays)
		scaled := PERT{Mean: f.PERTMean, Variance: f.PERTVariance}
		f.PDeadlinePERT = scaled.ProbFinishBy(deadlineDays)
	}
	f.Mean, f.P50Days, f.P80Days, f.P90Days = f.Sim.Mean, f.Sim.P50, f.Sim.P80, f.Sim.P90
	f.P50 = f.StatusDate.Add(dayDuration(f.Sim.P50))
	f.P80 = f.StatusDate.Add(dayDuration(f.Sim.P80))
	f.P90 = f.StatusDate.Add(dayDuration(f.Sim.P90))
	f.CriticalPath = []string{}
	for _, i := range pert.CriticalPath {
		if f.Milestones[i].State != StateDone {
			f.CriticalPath = append(f.CriticalPath, f.Milestones[i].ID)
		}
	}
	for i := range f.Milestones {
		if f.Milestones[i].State == StateDone {
			continue // done: it cannot delay the finish any more
		}
		f.Milestones[i].Criticality = f.Sim.Criticality[i]
		f.Milestones[i].RemainingDays = f.Factor * pert.Activities[i].Mean
	}
	f.Sim.Criticality = milestoneCriticality(f.Milestones)

	q0 := sim0.P50
	spiDays := q0 * f.Weight * (1/f.SPItUsed - 1)
	upliftDays := q0 * (1 - f.Weight) * (u - 1)
	total := days(f.P50.Sub(f.PlannedFinish))
	if f.PlannedFinish.IsZero() { // no planned start registered: measure from the status date
		total = days(f.P50.Sub(f.StatusDate))
	}
	f.Contributions = []Contribution{
		{Input: "remaining_critical_path", Value: q0, Days: total - spiDays - upliftDays,
			Note: fmt.Sprintf("the remaining work at its baseline estimates (P50 %.1f days%s) against the planned finish", q0, startNote(f.StartDays))},
		{Input: "spi_t", Value: f.SPItUsed, Days: spiDays,
			Note: fmt.Sprintf("observed SPI(t) %.3f (bounded to %.3f), weighted by the earned fraction %.2f", f.SPIt, f.SPItUsed, f.Weight)},
		{Input: "uplift", Value: u, Days: upliftDays,
			Note: fmt.Sprintf("reference-class uplift %+.0f%% (%s), weighted by the unearned fraction %.2f", f.Uplift.UpperPct, f.Uplift.Class, 1-f.Weight)},
	}
	return f, nil
}

func startNote(startDays float64) string {
	if startDays <= 0 {
		return ""
	}
	return fmt.Sprintf(", starting in %.1f days at the planned start", startDays)
}

func milestoneCriticality(ms []MilestoneForecast) []float64 {
	out := make([]float64, len(ms))
	for i, m := range ms {
		out[i] = m.Criticality
	}
	return out
}
