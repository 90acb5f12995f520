package statefun

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/sitetwin/sitetwin/twin"
)

// Dead-letter classes, as the Kafka engine counts them.
const (
	ClassMalformed  = "malformed"   // not a JSON object, or not a known value type
	ClassInvalid    = "invalid"     // a CloudEvent with a bad field
	ClassWrongTopic = "wrong_topic" // an event on the topic of another stream
	ClassRejected   = "rejected"    // well formed, but impossible for the twin (twin.ErrRejected)
	ClassPanic      = "panic"       // applying it panicked
	ClassDrill      = "drill"       // a drill event: drills do not run in StateFun mode
)

// IngressError says why an ingress value cannot be applied. Its Reason is
// what a dead letter carries.
type IngressError struct {
	Class  string // one of the Class constants
	Reason string // e.g. "decode: data.unit: must be one of dB(A), dBA, dB for noise (got \"decibels\")"
}

func (e *IngressError) Error() string { return e.Reason }

// DecodeIngress decodes a message value of an event type name
// (EventTypeName, or IngressTypeName of a stream) into a validated event.
// topicPrefix names the topics in reasons ("sitetwin"). Errors are
// *IngressError. The event's Received is left zero: the StateFun ingress
// does not pass on the Kafka record timestamp.
func DecodeIngress(typename string, value []byte, topicPrefix string) (*twin.Event, error) {
	stream, ok := ingressStream(typename)
	if !ok {
		return nil, &IngressError{Class: ClassMalformed, Reason: fmt.Sprintf("value type %q is not a sitetwin event (want %s or %s.<stream>)", typename, EventTypeName, EventTypeName)}
	}
	ev, err := twin.Decode(value)
	if err != nil {
		class := ClassInvalid
		if errors.Is(err, twin.ErrMalformed) {
			class = ClassMalformed
		}
		return nil, &IngressError{Class: class, Reason: "decode: " + err.Error()}
	}
	if want := twin.StreamOf(ev.Type); stream != "" && want != stream {
		return nil, &IngressError{Class: ClassWrongTopic, Reason: fmt.Sprintf("event type %s belongs on topic %s.%s, not %s.%s", ev.Type, topicPrefix, want, topicPrefix, stream)}
	}
	return ev, nil
}

// ingressStream returns the stream of an event type name ("" for
// EventTypeName itself), and whether it is one.
func ingressStream(typename string) (string, bool) {
	if typename == EventTypeName {
		return "", true
	}
	s, ok := strings.CutPrefix(typename, EventTypeName+".")
	return s, ok && slices.Contains(twin.Streams(), s)
}

// isEvent reports whether a value type name is an event's.
func isEvent(typename string) bool {
	_, ok := ingressStream(typename)
	return ok
}
