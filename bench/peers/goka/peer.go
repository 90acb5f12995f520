package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"

	"github.com/sitetwin/sitetwin/twin"
)

// peer holds the processor's callbacks. Its state is all in the group
// table (goka.Persist): a project's twin under the project id, the city's
// state under twin.CityWide. The tracker only measures.
type peer struct {
	rules  *twin.Rules
	alerts goka.Stream // output: every alert raised or cleared, as the engine's alerts topic
	outbox goka.Stream // output: requests to outside services, as the engine's outbox topic
	track  *tracker
	log    *slog.Logger
}

// graph defines the group: the input topics and the loopback topic, the
// two output topics, and the group table.
func (p *peer) graph(group string, topics []string) *goka.GroupGraph {
	return goka.DefineGroup(goka.Group(group),
		goka.Inputs(goka.StringsToStreams(topics...), new(codec.Bytes), p.input),
		goka.Loop(loopCodec{}, p.loop),
		goka.Output(p.alerts, new(codec.Bytes)),
		goka.Output(p.outbox, new(codec.Bytes)),
		goka.Persist(tableCodec{}),
	)
}

// job is the measurement of one input record: it is applied when its
// callback returns, unless it caused follow-up work (see tracker).
type job struct {
	t     *tracker
	at    time.Time
	token string
}

// follow notes n pieces of follow-up work and returns the token they
// carry.
func (j *job) follow(ctx goka.Context, n int) string {
	if j.token == "" {
		j.token = fmt.Sprintf("%s/%d@%d", ctx.Topic(), ctx.Partition(), ctx.Offset())
		j.t.add(j.token, j.at, 1) // the callback itself
	}
	j.t.add(j.token, j.at, n)
	return j.token
}

func (j *job) end() {
	if j.token == "" {
		j.t.record(j.at)
		return
	}
	j.t.finish(j.token)
}

// input handles a record of an input topic: a CloudEvent keyed by its
// project id, or by "*" for a city-wide event.
func (p *peer) input(ctx goka.Context, msg any) {
	j := &job{t: p.track, at: ctx.Timestamp()}
	defer j.end()
	raw, _ := msg.([]byte)
	ev, err := twin.Decode(raw)
	switch {
	case err != nil:
		p.reject(ctx, "decode: "+err.Error())
		return
	case ev.Project != ctx.Key():
		p.reject(ctx, fmt.Sprintf("keyed %q, for project %q", ctx.Key(), ev.Project))
		return
	case ev.Drill != "":
		p.reject(ctx, "drill events are not applied by the peer")
		return
	}
	ev.Received = ctx.Timestamp() // as the engine does: it bounds how far ahead the event time may be
	if ev.Project == twin.CityWide {
		p.cityEvent(ctx, j, raw, ev)
		return
	}
	pt, known := p.twin(ctx)
	if !known {
		// an unknown project gets a fresh twin, kept only if the event
		// applies (its registration)
		pt = twin.NewProject(ev.Project, p.rules)
	}
	if err := p.apply(ctx, pt, ev); err != nil {
		p.reject(ctx, err.Error())
		return
	}
	if !known {
		// a new twin: the city learns of it and tells it the active
		// city-wide events
		ctx.Loopback(twin.CityWide, &loopMsg{Registered: pt.ID, Token: j.follow(ctx, 1)})
	}
}

// twin returns the twin of the context's key from the group table.
func (p *peer) twin(ctx goka.Context) (*twin.ProjectTwin, bool) {
	v := ctx.Value()
	if v == nil {
		return nil, false
	}
	pt, ok := v.(*twin.ProjectTwin)
	if !ok {
		ctx.Fail(fmt.Errorf("group table value of %q is a %T, not a twin", ctx.Key(), v))
	}
	return pt, true
}

// city returns the city's state from the group table.
func (p *peer) city(ctx goka.Context) *cityState {
	v := ctx.Value()
	if v == nil {
		return &cityState{Events: map[string]json.RawMessage{}}
	}
	st, ok := v.(*cityState)
	if !ok {
		ctx.Fail(fmt.Errorf("group table value of %q is a %T, not the city state", ctx.Key(), v))
	}
	return st
}

// apply applies an event to a twin with twin.Apply, stores the twin in the
// group table and emits the alerts and outbound requests, as the engine's
// worker does.
func (p *peer) apply(ctx goka.Context, pt *twin.ProjectTwin, ev *twin.Event) error {
	eff, err := twin.Apply(pt, ev, p.rules)
	if err != nil {
		return err
	}
	ctx.SetValue(pt)
	for i := range eff.Alerts {
		a := &eff.Alerts[i]
		b, _ := json.Marshal(a)
		ctx.Emit(p.alerts, a.Project, b)
	}
	for i := range eff.Outbound {
		o := &eff.Outbound[i]
		b, _ := json.Marshal(o)
		ctx.Emit(p.outbox, o.Key, b)
	}
	return nil
}

// cityEvent remembers a city-wide event as the latest of its kind and fans
// it out, through the loopback topic, to every registered project.
func (p *peer) cityEvent(ctx goka.Context, j *job, raw []byte, ev *twin.Event) {
	st := p.city(ctx)
	k := twin.CityKey(ev)
	if i := slices.Index(st.Order, k); i >= 0 {
		st.Order = slices.Delete(st.Order, i, i+1)
	}
	st.Order = append(st.Order, k)
	st.Events[k] = slices.Clone(raw)
	ctx.SetValue(st)
	if len(st.Projects) == 0 {
		return
	}
	tok := j.follow(ctx, len(st.Projects))
	for _, id := range st.Projects {
		ctx.Loopback(id, &loopMsg{Event: raw, Received: ev.Received.UnixMilli(), Token: tok})
	}
}

// loop handles a loopback message: a registration at the city key, a
// city-wide event at a project's.
func (p *peer) loop(ctx goka.Context, msg any) {
	m, _ := msg.(*loopMsg)
	if m == nil {
		ctx.Fail(fmt.Errorf("loopback message %T", msg))
	}
	defer p.track.finish(m.Token)
	if ctx.Key() == twin.CityWide {
		p.register(ctx, m)
		return
	}
	pt, known := p.twin(ctx)
	if !known {
		return // not registered: city-wide events concern registered twins only
	}
	ev, err := twin.Decode(m.Event)
	if err != nil {
		ctx.Fail(fmt.Errorf("city event for %s no longer decodes: %w", ctx.Key(), err))
	}
	if m.Received != 0 {
		ev.Received = time.UnixMilli(m.Received)
	}
	if err := p.apply(ctx, pt, ev); err != nil {
		p.log.Warn("city event rejected", "project", pt.ID, "event", ev.ID, "err", err)
	}
}

// register adds a project to the city's and tells it the active city-wide
// events, oldest first.
func (p *peer) register(ctx goka.Context, m *loopMsg) {
	st := p.city(ctx)
	i, found := slices.BinarySearch(st.Projects, m.Registered)
	if found {
		return
	}
	st.Projects = slices.Insert(st.Projects, i, m.Registered)
	ctx.SetValue(st)
	p.track.more(m.Token, len(st.Order))
	for _, k := range st.Order {
		ctx.Loopback(m.Registered, &loopMsg{Event: st.Events[k], Token: m.Token})
	}
}

// reject counts a record that could not be applied (the engine would
// dead-letter it) and logs the first few.
func (p *peer) reject(ctx goka.Context, reason string) {
	if n := p.track.reject(); n <= 10 {
		p.log.Warn("record not applied", "source", fmt.Sprintf("%s/%d@%d", ctx.Topic(), ctx.Partition(), ctx.Offset()), "reason", reason)
		if n == 10 {
			p.log.Warn("further records not applied are counted, not logged")
		}
	}
}
