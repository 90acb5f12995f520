package statefun_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/statefun"
	"github.com/sitetwin/sitetwin/twin"
)

// TestCityWideEvents: a city-wide event keyed "*" reaches every registered
// project through the city function; a project registered later learns
// the active one; an event keyed by another project is forwarded to its
// own and applied once.
func TestCityWideEvents(t *testing.T) {
	rt := newRuntime(t, newServer(t, statefun.Config{}), 10)
	for _, id := range []string{"P-010", "P-011", "P-012"} {
		for _, e := range registration(id, t0.Add(-time.Hour)) {
			rt.event(e)
		}
	}
	rt.drain()
	rain := &twin.Event{ID: "rain-1", Type: twin.TypeRainfallWarning, Source: "szmb", Time: t0, Project: twin.CityWide,
		Data: &twin.RainfallWarning{Level: twin.RainRed, Issued: mustWhen(t0.Format(time.RFC3339))}}
	rt.event(rain)
	rt.drain()
	late := registration("P-013", t0.Add(time.Minute))
	for _, e := range late {
		rt.event(e)
	}
	// keyed by the wrong project: forwarded to P-010
	rt.ingress(twin.StreamSensor, "P-011", encode(t, noise("n-10", "P-010", t0.Add(2*time.Minute), 95)))
	rt.drain()
	for _, id := range []string{"P-010", "P-011", "P-012", "P-013"} {
		st := rt.projectState(id)
		if st.Twin.Weather.Rainstorm != twin.RainRed || st.Twin.Health != twin.Red {
			t.Errorf("%s: rainstorm %q, health %s", id, st.Twin.Weather.Rainstorm, st.Twin.Health)
		}
	}
	if st := rt.projectState("P-010"); st.Twin.Sites["P-010-S1"].Readings != 1 {
		t.Error("the misrouted reading was not applied to P-010")
	}
	if st := rt.projectState("P-011"); st.Twin.Sites["P-011-S1"].Readings != 0 {
		t.Error("the misrouted reading was applied to P-011")
	}
	if st := rt.projectState("*"); st != nil {
		t.Error("project instance * keeps state")
	}
	v := rt.state[cityAddr]["city"]
	city, err := statefun.DecodeCityState(v.Value)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(city.Projects, ",") != "P-010,P-011,P-012,P-013" || len(city.Events) != 1 {
		t.Errorf("city state: projects %v, %d events", city.Projects, len(city.Events))
	}
	if n := len(rt.deadLetters()); n != 0 {
		t.Errorf("%d dead letters", n)
	}
}

// slowModel is an expensive model that counts its runs and sees the
// hazards it is shown.
type slowModel struct{ runs *int }

func (slowModel) Name() string       { return "slow" }
func (slowModel) Version() string    { return "1" }
func (slowModel) Cost() predict.Cost { return predict.Expensive }
func (slowModel) Needs() []string {
	return []string{twin.TypeHazardFound, twin.TypeFundsDisbursed}
}
func (m slowModel) Predict(_ context.Context, v *twin.ProjectView) (*twin.Prediction, error) {
	*m.runs++
	overdue := 0.0
	for _, h := range v.Hazards {
		if h.Status == twin.StatusOpen && v.Clock.After(h.Deadline) {
			overdue++
		}
	}
	return &twin.Prediction{Model: "slow", Version: "1", Project: v.ID, At: v.Clock, Values: map[string]float64{"overdue": overdue}}, nil
}

var _ predict.Model = slowModel{}

// TestTimers: an expensive model runs once per debounce however many
// events ask for it, on the twin as it is when the timer fires; an open
// hazard's deadline waits on a timer with a cancellation token, which a
// rectification cancels; a deadline that passes with the hazard open runs
// the models that read hazards on the twin seen at the deadline.
func TestTimers(t *testing.T) {
	runs := 0
	reg := &predict.Registry{}
	if err := reg.Register(slowModel{&runs}); err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t, newServer(t, statefun.Config{Models: reg, Debounce: 3 * time.Second}), 10)
	for _, e := range registration("P-020", t0.Add(-time.Hour)) {
		rt.event(e)
	}
	hazard := func(id, deadline string) *twin.Event {
		return &twin.Event{ID: "found-" + id, Type: twin.TypeHazardFound, Source: "insp", Time: t0, Project: "P-020", Site: "P-020-S1",
			Data: &twin.HazardFound{Hazard: id, Severity: "major", Category: "scaffolding", Deadline: mustWhen(deadline)}}
	}
	rt.event(hazard("HZ-1", "2026-06-03T03:00:00Z"))
	rt.event(hazard("HZ-2", "2026-06-04T03:00:00Z"))
	rt.event(&twin.Event{ID: "pay-1", Type: twin.TypeFundsDisbursed, Source: "fund", Time: t0, Project: "P-020", Data: &twin.Payment{AmountCNY: 1}})
	rt.drain()

	var predictTimers, deadlineTimers []delayed
	for _, d := range rt.delayed {
		switch {
		case strings.HasPrefix(d.Token, "predict:P-020:slow:"):
			predictTimers = append(predictTimers, d)
		case strings.HasPrefix(d.Token, "deadline:P-020:"):
			deadlineTimers = append(deadlineTimers, d)
		}
	}
	if len(predictTimers) != 1 || predictTimers[0].DelayMs != 3000 || *predictTimers[0].Target != projectAddr("P-020") {
		t.Fatalf("predict timers %+v: want one, 3 s, to itself", predictTimers)
	}
	if len(deadlineTimers) != 2 || deadlineTimers[0].DelayMs != (48*time.Hour+time.Second).Milliseconds() || deadlineTimers[1].DelayMs != (72*time.Hour+time.Second).Milliseconds() {
		t.Fatalf("deadline timers %+v", deadlineTimers)
	}
	if runs != 0 {
		t.Fatalf("the expensive model ran %d times before its timer", runs)
	}
	rt.fire(predictTimers[0])
	if st := rt.projectState("P-020"); runs != 1 || st.Twin.Predictions.Latest["slow"] == nil || st.Due["slow"] {
		t.Fatalf("after the timer: %d runs, due %v", runs, st.Due)
	}
	rt.fire(predictTimers[0]) // delivered twice: nothing is due
	if runs != 1 {
		t.Fatalf("a second delivery ran the model again")
	}

	// HZ-1 rectified: its timer is cancelled by its token
	rt.event(&twin.Event{ID: "rect-1", Type: twin.TypeHazardRectified, Source: "c", Time: t0.Add(time.Hour), Project: "P-020", Site: "P-020-S1", Data: &twin.HazardRectified{Hazard: "HZ-1"}})
	rt.drain()
	last := rt.delayed[len(rt.delayed)-1]
	if !last.Cancel || last.Token != deadlineTimers[0].Token {
		t.Fatalf("last delayed %+v: want the cancellation of %s", last, deadlineTimers[0].Token)
	}
	// HZ-2's deadline passes with it open: the model sees it overdue
	rt.fire(deadlineTimers[1])
	st := rt.projectState("P-020")
	if p := st.Twin.Predictions.Latest["slow"]; p == nil || p.Values["overdue"] != 1 || !p.At.Equal(time.Date(2026, 6, 4, 3, 0, 1, 0, time.UTC)) {
		t.Fatalf("prediction at the deadline: %+v", p)
	}
	if len(st.Deadlines) != 0 {
		t.Errorf("deadlines still waiting: %v", st.Deadlines)
	}
	rt.fire(deadlineTimers[0]) // cancelled too late: nothing to do
	if runs != 2 {
		t.Errorf("%d model runs, want 2", runs)
	}
}
