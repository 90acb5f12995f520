package statefun

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	sdk "github.com/apache/flink-statefun/statefun-sdk-go/v3/pkg/statefun"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// Timers. A project function sends itself delayed messages (SendAfter with
// a cancellation token) for two things that must happen later:
//
//   - a debounced run of an expensive model (the delay model's Monte
//     Carlo): the first event that needs it schedules a run Debounce
//     later; events meanwhile add nothing, and the run sees the twin as it
//     is then. State.Due says which runs are scheduled.
//   - a rectification deadline: while a hazard is open, a timer waits for
//     its deadline (the event-time distance from the twin's clock); when
//     it fires with the hazard still open, the models that read hazards
//     (the safety model) run on the twin seen at the deadline, so a risk
//     rises when a deadline passes even if no event comes. Rectifying or
//     closing the hazard, or moving its deadline, cancels the timer by its
//     token. State.Deadlines says which timers wait.
//
// A timer that fires after its reason went (a best-effort cancellation that
// came too late) finds nothing to do.

// timer is the value of a TimerTypeName message.
type timer struct {
	Kind     string    `json:"kind"` // timerPredict or timerDeadline
	Model    string    `json:"model,omitempty"`
	Hazard   string    `json:"hazard,omitempty"`
	Deadline time.Time `json:"deadline,omitzero"`
}

// pastDeadline is how long after a deadline its timer fires: a hazard is
// overdue once the clock is after its deadline, not at it.
const pastDeadline = time.Second

const (
	timerPredict  = "predict"
	timerDeadline = "deadline"
)

// predict runs the models the applied event concerns: cheap ones now,
// expensive ones debounced.
func (f *projectFn) predict(ctx sdk.Context, st *ProjectState, ev *twin.Event, eff twin.Effects) {
	var view *twin.ProjectView
	for _, m := range f.s.cfg.Models.After(ev, eff) {
		if m.Cost() == predict.Expensive {
			if !st.Due[m.Name()] {
				st.Due[m.Name()] = true
				f.schedule(ctx, f.s.cfg.Debounce, fmt.Sprintf("predict:%s:%s:%d", st.Twin.ID, m.Name(), st.Twin.Applied), timer{Kind: timerPredict, Model: m.Name()})
			}
			continue
		}
		if view == nil {
			view = st.Twin.View()
		}
		f.run(ctx, st.Twin, m, view)
	}
}

// run runs a model on a view and records its prediction on the twin,
// sending the alerts of the risks it changed.
func (f *projectFn) run(ctx sdk.Context, p *twin.ProjectTwin, m predict.Model, view *twin.ProjectView) {
	s := f.s
	rctx, cancel := context.WithTimeout(ctx, s.cfg.PredictTimeout)
	pred, err := m.Predict(rctx, view)
	cancel()
	switch {
	case errors.Is(err, predict.ErrNotApplicable):
		return
	case err != nil:
		s.log.Warn("model failed", "model", m.Name(), "project", p.ID, "err", err)
		return
	case pred == nil:
		return
	}
	pred.Offset = p.Applied // the twin's event count orders its predictions, as offsets do in the engine
	alerts, err := twin.RecordPrediction(p, pred, s.cfg.Rules)
	if err != nil {
		s.log.Warn("prediction not recorded", "project", p.ID, "model", m.Name(), "err", err)
		return
	}
	s.alerts(ctx, alerts)
}

// deadlines keeps one timer per open hazard with a deadline still ahead
// of the twin's clock, and cancels the others.
func (f *projectFn) deadlines(ctx sdk.Context, st *ProjectState) {
	p := st.Twin
	ids := make([]string, 0, len(p.Hazards))
	for id := range p.Hazards {
		ids = append(ids, id)
	}
	for id := range st.Deadlines {
		if _, ok := p.Hazards[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		h := p.Hazards[id]
		watch := h != nil && h.Status == twin.StatusOpen && h.Deadline.After(p.Clock)
		at, scheduled := st.Deadlines[id]
		if scheduled && (!watch || !at.Equal(h.Deadline)) {
			ctx.CancelDelayedMessage(deadlineToken(p.ID, id, at))
			delete(st.Deadlines, id)
			scheduled = false
		}
		if watch && !scheduled {
			st.Deadlines[id] = h.Deadline
			f.schedule(ctx, h.Deadline.Sub(p.Clock)+pastDeadline, deadlineToken(p.ID, id, h.Deadline).Token(), timer{Kind: timerDeadline, Hazard: id, Deadline: h.Deadline})
		}
	}
}

// deadlineToken is the cancellation token of a hazard's deadline timer.
func deadlineToken(project, hazard string, at time.Time) sdk.CancellationToken {
	t, _ := sdk.NewCancellationToken(fmt.Sprintf("deadline:%s:%s:%d", project, hazard, at.UnixMilli())) // never empty
	return t
}

// schedule sends the function a timer message after a delay, tagged with
// a cancellation token.
func (f *projectFn) schedule(ctx sdk.Context, delay time.Duration, token string, t timer) {
	b, err := json.Marshal(&t)
	if err != nil {
		panic(fmt.Errorf("encode timer: %w", err))
	}
	tok, err := sdk.NewCancellationToken(token)
	if err != nil {
		panic(fmt.Errorf("timer token: %w", err))
	}
	ctx.SendAfterWithCancellationToken(max(delay, 0), tok,
		sdk.MessageBuilder{Target: ctx.Self(), Value: b, ValueType: timerType})
}

// timer handles a timer the function set itself.
func (f *projectFn) timer(ctx sdk.Context, st *ProjectState, msg *sdk.Message) bool {
	s := f.s
	var t timer
	if err := json.Unmarshal(msg.RawValue(), &t); err != nil {
		s.deadLetter(ctx, msg, ClassMalformed, "timer: "+err.Error())
		return false
	}
	p := st.Twin
	switch t.Kind {
	case timerPredict:
		if !st.Due[t.Model] {
			return false
		}
		delete(st.Due, t.Model)
		if m, ok := s.cfg.Models.Get(t.Model); ok && p != nil {
			f.run(ctx, p, m, p.View())
		}
		return true
	case timerDeadline:
		at, ok := st.Deadlines[t.Hazard]
		if !ok || !at.Equal(t.Deadline) {
			return false // cancelled, or moved: a later timer stands for it
		}
		delete(st.Deadlines, t.Hazard)
		if p == nil {
			return true
		}
		if h := p.Hazards[t.Hazard]; h == nil || h.Status != twin.StatusOpen {
			return true
		}
		view := p.View()
		if at := t.Deadline.Add(pastDeadline); view.Clock.Before(at) {
			view.Clock = at // the twin as it stands once the deadline has passed
		}
		for _, m := range s.cfg.Models.After(&twin.Event{Type: twin.TypeHazardFound}, twin.Effects{}) {
			f.run(ctx, p, m, view)
		}
		return true
	}
	s.deadLetter(ctx, msg, ClassMalformed, fmt.Sprintf("timer: unknown kind %q", t.Kind))
	return false
}
