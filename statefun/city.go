package statefun

import (
	"encoding/json"
	"fmt"
	"slices"

	sdk "github.com/apache/flink-statefun/statefun-sdk-go/v3/pkg/statefun"

	"github.com/sitetwin/sitetwin/twin"
)

// cityFn is the sitetwin/city function, one instance (CityID). City-wide
// events reach every project through it: a project function that receives
// one (the record was keyed "*", or by anything else) sends it here; the
// city keeps the latest of each kind (twin.CityKey) and sends it to every
// registered project. A project function whose registration has just been
// applied tells the city (RegisteredTypeName), which adds it to the set
// and sends it the active city-wide events, as the Kafka engine does for a
// twin registered after them.
type cityFn struct{ s *Server }

var _ sdk.StatefulFunction = (*cityFn)(nil)

// Invoke handles one message: a city-wide event or a registration.
func (f *cityFn) Invoke(ctx sdk.Context, msg sdk.Message) error {
	s := f.s
	s.stats.invocations.Add(1)
	b := batchOf(ctx)
	st, err := f.state(ctx, b)
	if err != nil {
		return err
	}
	return s.invoke(ctx, &msg, b, "city",
		func() bool { return f.handle(ctx, st, &msg) },
		func() error {
			enc, err := EncodeCityState(st)
			if err != nil {
				return err
			}
			ctx.Storage().Set(citySpec, enc)
			return nil
		})
}

// state returns the city's state: decoded once per batch.
func (f *cityFn) state(ctx sdk.Context, b *batch) (*CityState, error) {
	if b != nil && b.city != nil {
		return b.city, nil
	}
	st := &CityState{Events: map[string]json.RawMessage{}}
	var raw []byte
	if ctx.Storage().Get(citySpec, &raw) {
		var err error
		if st, err = DecodeCityState(raw); err != nil {
			return nil, fmt.Errorf("city: %w", err)
		}
	}
	if b != nil {
		b.city = st
	}
	return st, nil
}

// handle handles one message and reports whether the state changed.
func (f *cityFn) handle(ctx sdk.Context, st *CityState, msg *sdk.Message) bool {
	s := f.s
	typename := msg.ValueTypeName().String()
	if typename == RegisteredTypeName {
		id := string(msg.RawValue())
		if id == "" || id == twin.CityWide {
			s.deadLetter(ctx, msg, ClassMalformed, fmt.Sprintf("registration of project %q", id))
			return false
		}
		i, found := slices.BinarySearch(st.Projects, id)
		if found {
			return false
		}
		st.Projects = slices.Insert(st.Projects, i, id)
		for _, k := range st.Order {
			send(ctx, ProjectFunction, id, eventType, st.Events[k])
		}
		return true
	}
	if !isEvent(typename) {
		s.deadLetter(ctx, msg, ClassMalformed, fmt.Sprintf("value type %q is not one sitetwin/city takes (%s, %s)", typename, EventTypeName, RegisteredTypeName))
		return false
	}
	ev, err := DecodeIngress(typename, msg.RawValue(), s.cfg.TopicPrefix)
	if err != nil {
		ie := err.(*IngressError)
		s.deadLetter(ctx, msg, ie.Class, ie.Reason)
		return false
	}
	switch {
	case ev.Project != twin.CityWide:
		send(ctx, ProjectFunction, ev.Project, eventType, msg.RawValue())
		s.stats.forwarded.Add(1)
		return false
	case ev.Drill != "":
		s.deadLetter(ctx, msg, ClassDrill, fmt.Sprintf("drill %s: drills run against the Kafka engine (sitetwin run, sitetwin drill run --live), not in StateFun mode", ev.Drill))
		return false
	}
	k := twin.CityKey(ev)
	if i := slices.Index(st.Order, k); i >= 0 {
		st.Order = slices.Delete(st.Order, i, i+1)
	}
	st.Order = append(st.Order, k)
	st.Events[k] = slices.Clone(msg.RawValue())
	for _, id := range st.Projects {
		send(ctx, ProjectFunction, id, eventType, msg.RawValue())
	}
	s.stats.applied.Add(1)
	return true
}
