package predict

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// DelayModel forecasts a project's finish by Monte Carlo over its milestone
// network (see ForecastProject). It is Expensive: the engine debounces it.
type DelayModel struct {
	Options ForecastOptions
}

var _ Model = (*DelayModel)(nil)

// NewDelayModel returns the delay model with the default options and a
// fixed seed, so that the same twin gives the same forecast.
func NewDelayModel() *DelayModel {
	o := DefaultForecastOptions()
	o.Sim.Seed = 20261120
	return &DelayModel{Options: o}
}

// Name is "delay".
func (*DelayModel) Name() string { return "delay" }

// Version of the delay model.
func (*DelayModel) Version() string { return "1" }

// Cost is Expensive (a Monte Carlo run).
func (*DelayModel) Cost() Cost { return Expensive }

// Needs lists the events that change the schedule.
func (*DelayModel) Needs() []string {
	return []string{twin.TypeProjectRegistered, twin.TypePlanBaselined, twin.TypeProgressReported,
		twin.TypeMilestoneCompleted, twin.TypeAcceptancePassed, twin.TypeChangeOrderApproved}
}

// Predict forecasts the project's finish: P50/P80/P90 dates, P(finish by
// the deadline), and how the remaining critical path, the observed SPI(t)
// and the reference-class uplift moved the P50.
func (m *DelayModel) Predict(_ context.Context, v *twin.ProjectView) (*Prediction, error) {
	f, err := ForecastProject(v, m.Options)
	if errors.Is(err, ErrNoBaseline) {
		return nil, fmt.Errorf("%w: %v", ErrNotApplicable, err)
	}
	if err != nil {
		return nil, err
	}
	p := &Prediction{
		Model: m.Name(), Version: m.Version(), Project: v.ID, At: v.Clock, Offset: -1,
		Values: map[string]float64{
			"p50_days": round3(f.P50Days), "p80_days": round3(f.P80Days), "p90_days": round3(f.P90Days),
			"mean_days": round3(f.Mean), "spi_t": round3(f.SPIt), "factor": round3(f.Factor),
		},
		Dates: map[string]time.Time{"p50": f.P50, "p80": f.P80, "p90": f.P90, "status": f.StatusDate},
	}
	if p.Details, err = json.Marshal(f.Milestones); err != nil {
		return nil, err
	}
	if !f.Deadline.IsZero() {
		p.Values["p_on_time"] = round3(f.PDeadline)
		p.Dates["deadline"] = f.Deadline
	}
	for _, c := range f.Contributions {
		p.Effects = append(p.Effects, Effect{Input: c.Input, Value: round3(c.Value), Effect: round3(c.Days), Unit: "days", Note: c.Note})
	}
	p.Summary = fmt.Sprintf("P50 finish %s, P80 %s", f.P50.Format(time.DateOnly), f.P80.Format(time.DateOnly))
	if !f.Deadline.IsZero() {
		p.Summary += fmt.Sprintf("; P(on time by %s) %.0f%%", f.Deadline.Format(time.DateOnly), 100*f.PDeadline)
	}
	return p, nil
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
