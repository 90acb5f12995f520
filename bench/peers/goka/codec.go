package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/lovoo/goka"

	"github.com/sitetwin/sitetwin/twin"
)

// cityState is the value of the group table's city key (twin.CityWide): the
// projects registered so far, to which a city-wide event is fanned out, and
// the latest city-wide event of each kind, which a project registered later
// is told of. sitetwin's engine keeps the same per partition (worker.go,
// cityState and applyStoredCity).
type cityState struct {
	Projects []string                   `json:"projects"` // sorted
	Events   map[string]json.RawMessage `json:"events"`   // by twin.CityKey, as received
	Order    []string                   `json:"order"`    // keys of Events in order of arrival
}

// cityPrefix starts the encoding of a cityState. A project twin's encoding
// is a binary snapshot, which starts with a zero byte, so the two never
// look alike.
var cityPrefix = []byte(`{"city":`)

// tableCodec is the codec of the group table. A project's value is its
// *twin.ProjectTwin, encoded with AppendSnapshot and decoded with
// twin.DecodeSnapshot: the bytes of a snapshot in sitetwin's twin-state
// changelog (streams/worker.go, checkpoint and decodeTwin), the fastest
// codec of a twin there is. The city key's value is a *cityState in a
// {"city": ...} object.
type tableCodec struct{}

var _ goka.Codec = tableCodec{}

// Encode encodes a *twin.ProjectTwin or a *cityState.
func (tableCodec) Encode(v any) ([]byte, error) {
	switch v := v.(type) {
	case *twin.ProjectTwin:
		return v.AppendSnapshot(nil)
	case *cityState:
		return json.Marshal(struct {
			City *cityState `json:"city"`
		}{v})
	}
	return nil, fmt.Errorf("group table value %T is neither a *twin.ProjectTwin nor a *cityState", v)
}

// Decode returns a *cityState for the city's value and a *twin.ProjectTwin
// for any other.
func (tableCodec) Decode(b []byte) (any, error) {
	if bytes.HasPrefix(b, cityPrefix) {
		var w struct {
			City *cityState `json:"city"`
		}
		if err := json.Unmarshal(b, &w); err != nil || w.City == nil {
			return nil, fmt.Errorf("decode city state: %v", err)
		}
		if w.City.Events == nil {
			w.City.Events = map[string]json.RawMessage{}
		}
		return w.City, nil
	}
	p, err := twin.DecodeSnapshot(b)
	if err != nil {
		return nil, fmt.Errorf("decode twin: %w", err)
	}
	return p, nil
}

// loopMsg is a message of the group's loopback topic: a project that was
// just registered, to the city key; or a city-wide event, to a project.
type loopMsg struct {
	// Registered is the project that was registered (to the city key).
	Registered string `json:"registered,omitempty"`
	// Event is a city-wide CloudEvent to apply (to a project key).
	Event json.RawMessage `json:"event,omitempty"`
	// Received is the Kafka timestamp of the city-wide record, Unix ms, set
	// as the event's Received as the engine does; 0 for a stored event told
	// to a project registered later (the engine decodes it afresh then).
	Received int64 `json:"received,omitempty"`
	// Token names the input record whose work this is, for the
	// measurement (see tracker); "" for none.
	Token string `json:"token,omitempty"`
}

// loopCodec encodes loopMsg as JSON.
type loopCodec struct{}

var _ goka.Codec = loopCodec{}

// Encode encodes a *loopMsg.
func (loopCodec) Encode(v any) ([]byte, error) {
	m, ok := v.(*loopMsg)
	if !ok {
		return nil, fmt.Errorf("loopback value %T is not a *loopMsg", v)
	}
	return json.Marshal(m)
}

// Decode decodes a *loopMsg.
func (loopCodec) Decode(b []byte) (any, error) {
	m := new(loopMsg)
	if err := json.Unmarshal(b, m); err != nil {
		return nil, fmt.Errorf("decode loopback message: %w", err)
	}
	return m, nil
}
