package statefun

import (
	"fmt"
	"strings"
	"time"

	sdk "github.com/apache/flink-statefun/statefun-sdk-go/v3/pkg/statefun"

	"github.com/sitetwin/sitetwin/twin"
)

// projectFn is the sitetwin/project function: one instance per project id.
type projectFn struct{ s *Server }

var _ sdk.StatefulFunction = (*projectFn)(nil)

// Invoke handles one message: an event (from the ingress, forwarded by
// another project, or fanned out by the city), or a timer it set itself.
// It returns an error only when the state cannot be read or handling
// panicked; the runtime then retries the batch, in which a message that
// panicked is dead-lettered.
func (f *projectFn) Invoke(ctx sdk.Context, msg sdk.Message) error {
	s := f.s
	s.stats.invocations.Add(1)
	b := batchOf(ctx)
	st, err := f.state(ctx, b)
	if err != nil {
		return err
	}
	return s.invoke(ctx, &msg, b, "project "+ctx.Self().Id,
		func() bool { return f.handle(ctx, st, &msg) },
		func() error {
			enc, err := EncodeProjectState(st)
			if err != nil {
				return err
			}
			ctx.Storage().Set(projectSpec, enc)
			return nil
		})
}

// state returns the instance's state: decoded once per batch.
func (f *projectFn) state(ctx sdk.Context, b *batch) (*ProjectState, error) {
	if b != nil && b.project != nil {
		return b.project, nil
	}
	st := &ProjectState{Due: map[string]bool{}, Deadlines: map[string]time.Time{}}
	var raw []byte
	if ctx.Storage().Get(projectSpec, &raw) {
		var err error
		if st, err = DecodeProjectState(raw); err != nil {
			return nil, fmt.Errorf("project %s: %w", ctx.Self().Id, err)
		}
	}
	if b != nil {
		b.project = st
	}
	return st, nil
}

// handle handles one message and reports whether the state changed.
func (f *projectFn) handle(ctx sdk.Context, st *ProjectState, msg *sdk.Message) bool {
	s := f.s
	typename := msg.ValueTypeName().String()
	switch {
	case typename == TimerTypeName:
		return f.timer(ctx, st, msg)
	case !strings.HasPrefix(typename, EventTypeName):
		s.deadLetter(ctx, msg, ClassMalformed, fmt.Sprintf("value type %q is not one sitetwin/project takes (%s, %s.<stream>, %s)", typename, EventTypeName, EventTypeName, TimerTypeName))
		return false
	}
	ev, err := DecodeIngress(typename, msg.RawValue(), s.cfg.TopicPrefix)
	if err != nil {
		ie := err.(*IngressError)
		s.deadLetter(ctx, msg, ie.Class, ie.Reason)
		return false
	}
	self := ctx.Self().Id
	fromCity := ctx.Caller() != nil && ctx.Caller().FunctionType.String() == CityFunction.String()
	switch {
	case ev.Drill != "":
		s.deadLetter(ctx, msg, ClassDrill, fmt.Sprintf("drill %s: drills run against the Kafka engine (sitetwin run, sitetwin drill run --live), not in StateFun mode", ev.Drill))
		return false
	case ev.Project == twin.CityWide && !fromCity:
		// city-wide: the city fans it out to every registered project
		send(ctx, CityFunction, CityID, eventType, msg.RawValue())
		s.stats.forwarded.Add(1)
		return false
	case ev.Project == twin.CityWide:
		if st.Twin == nil {
			return false // not registered (any more): city-wide events concern registered twins only
		}
	case ev.Project != self:
		// keyed by something else than its project: on to its own instance
		send(ctx, ProjectFunction, ev.Project, eventType, msg.RawValue())
		s.stats.forwarded.Add(1)
		return false
	}
	return f.apply(ctx, st, ev, msg)
}

// apply applies an event to the twin (a new one for an unknown project)
// and sends what it produced.
func (f *projectFn) apply(ctx sdk.Context, st *ProjectState, ev *twin.Event, msg *sdk.Message) bool {
	s := f.s
	p, known := st.Twin, st.Twin != nil
	if !known {
		p = twin.NewProject(ctx.Self().Id, s.cfg.Rules)
	}
	eff, err := s.cfg.Apply(p, ev, s.cfg.Rules)
	if err != nil {
		if ev.Project == twin.CityWide {
			s.log.Warn("city event rejected", "project", p.ID, "event", ev.ID, "err", err)
			return false
		}
		s.deadLetter(ctx, msg, ClassRejected, err.Error())
		return false
	}
	s.stats.applied.Add(1)
	if !known {
		st.Twin = p
		// a new twin: the city learns of it and tells it the active city-wide events
		send(ctx, CityFunction, CityID, registeredType, []byte(p.ID))
	}
	if eff.Duplicate {
		s.stats.duplicates.Add(1)
		return true // the twin counts duplicates
	}
	s.alerts(ctx, eff.Alerts)
	s.outbound(ctx, eff.Outbound)
	f.predict(ctx, st, ev, eff)
	if twin.StreamOf(ev.Type) == twin.StreamInspection {
		f.deadlines(ctx, st)
	}
	return true
}
