package statefun

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	sdk "github.com/apache/flink-statefun/statefun-sdk-go/v3/pkg/statefun"

	"github.com/sitetwin/sitetwin/twin"
)

// State formats. A state value is a JSON object that names its format and
// version. Since version 2 the twin inside is the binary snapshot the Kafka
// engine writes to its changelog (twin.ProjectTwin.AppendSnapshot, base64
// in the JSON) instead of the twin's JSON that version 1 held: a steady
// project's state encodes and decodes in 0.58 ms instead of 0.91 (the
// base64 costs part of the snapshot's gain; BenchmarkStateCodec); version 1
// states are still read. RocksDB compresses the state Flink keeps.
const (
	// ProjectStateFormat names a project function's state.
	ProjectStateFormat = "sitetwin.project-state"
	// CityStateFormat names the city function's state.
	CityStateFormat = "sitetwin.city-state"
	// StateVersion is the version this build writes. It reads every
	// version up to it; a state of a later version (written by a newer
	// build) is an error, never silently read.
	StateVersion = 2
)

// ErrStateVersion is wrapped by the decoders when a state was written by a
// later version of sitetwin than this one: roll forward, not back.
var ErrStateVersion = errors.New("state written by a newer sitetwin")

// ProjectState is what a project function keeps: its twin and the timers
// it has asked for.
type ProjectState struct {
	// Twin is the project twin; nil until the project's registration has
	// been applied.
	Twin *twin.ProjectTwin
	// Due names the expensive models with a debounced run scheduled.
	Due map[string]bool
	// Deadlines holds, per hazard, the rectification deadline a timer is
	// scheduled for.
	Deadlines map[string]time.Time
}

type projectStateJSON struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	// Twin is the twin as JSON (version 1).
	Twin *twin.ProjectTwin `json:"twin,omitempty"`
	// Snapshot is the twin's binary snapshot (version 2 on).
	Snapshot  []byte               `json:"twin_snapshot,omitempty"`
	Due       []string             `json:"due,omitempty"`
	Deadlines map[string]time.Time `json:"deadlines,omitempty"`
}

// EncodeProjectState writes a project state in the current version.
func EncodeProjectState(s *ProjectState) ([]byte, error) {
	v := projectStateJSON{Format: ProjectStateFormat, Version: StateVersion, Deadlines: s.Deadlines}
	if s.Twin != nil {
		snap, err := s.Twin.AppendSnapshot(nil)
		if err != nil {
			return nil, fmt.Errorf("encode project state: %w", err)
		}
		v.Snapshot = snap
	}
	for m, due := range s.Due {
		if due {
			v.Due = append(v.Due, m)
		}
	}
	slices.Sort(v.Due)
	if len(v.Deadlines) == 0 {
		v.Deadlines = nil
	}
	b, err := json.Marshal(&v)
	if err != nil {
		id := ""
		if s.Twin != nil {
			id = s.Twin.ID
		}
		return nil, fmt.Errorf("encode project state %s: %w", id, err)
	}
	return b, nil
}

// DecodeProjectState reads a project state of any version up to
// StateVersion.
func DecodeProjectState(b []byte) (*ProjectState, error) {
	var v projectStateJSON
	if err := checkedUnmarshal(b, ProjectStateFormat, &v, func() (string, int) { return v.Format, v.Version }); err != nil {
		return nil, err
	}
	s := &ProjectState{Twin: v.Twin, Due: map[string]bool{}, Deadlines: v.Deadlines}
	if v.Snapshot != nil {
		p, err := twin.DecodeSnapshot(v.Snapshot)
		if err != nil {
			return nil, fmt.Errorf("decode %s: twin: %w", ProjectStateFormat, err)
		}
		s.Twin = p
	}
	for _, m := range v.Due {
		s.Due[m] = true
	}
	if s.Deadlines == nil {
		s.Deadlines = map[string]time.Time{}
	}
	return s, nil
}

// CityState is what the city function keeps: the registered projects and
// the latest city-wide event of each kind (twin.CityKey), as received.
type CityState struct {
	Projects []string                   // sorted
	Events   map[string]json.RawMessage // by twin.CityKey
	Order    []string                   // keys of Events in order of arrival
}

type cityStateJSON struct {
	Format   string                     `json:"format"`
	Version  int                        `json:"version"`
	Projects []string                   `json:"projects"`
	Events   map[string]json.RawMessage `json:"events"`
	Order    []string                   `json:"order"`
}

// EncodeCityState writes the city state in the current version.
func EncodeCityState(s *CityState) ([]byte, error) {
	v := cityStateJSON{Format: CityStateFormat, Version: StateVersion, Projects: s.Projects, Events: s.Events, Order: s.Order}
	if v.Projects == nil {
		v.Projects = []string{}
	}
	if v.Events == nil {
		v.Events = map[string]json.RawMessage{}
	}
	if v.Order == nil {
		v.Order = []string{}
	}
	b, err := json.Marshal(&v)
	if err != nil {
		return nil, fmt.Errorf("encode city state: %w", err)
	}
	return b, nil
}

// DecodeCityState reads a city state of any version up to StateVersion.
func DecodeCityState(b []byte) (*CityState, error) {
	var v cityStateJSON
	if err := checkedUnmarshal(b, CityStateFormat, &v, func() (string, int) { return v.Format, v.Version }); err != nil {
		return nil, err
	}
	s := &CityState{Projects: v.Projects, Events: v.Events, Order: v.Order}
	if s.Events == nil {
		s.Events = map[string]json.RawMessage{}
	}
	if !slices.IsSorted(s.Projects) {
		slices.Sort(s.Projects)
	}
	if len(s.Order) != len(s.Events) {
		// not written by this package; keep what is there, in key order
		s.Order = slices.Sorted(maps.Keys(s.Events))
	}
	return s, nil
}

// checkedUnmarshal decodes a state value and checks its format and
// version.
func checkedUnmarshal(b []byte, format string, into any, header func() (string, int)) error {
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("decode %s: %w", format, err)
	}
	f, ver := header()
	switch {
	case f != format:
		return fmt.Errorf("decode %s: the value is a %q", format, f)
	case ver < 1:
		return fmt.Errorf("decode %s: version %d", format, ver)
	case ver > StateVersion:
		return fmt.Errorf("decode %s version %d (this build reads up to %d): %w", format, ver, StateVersion, ErrStateVersion)
	}
	return nil
}

// stateType is the SDK type of a state: the value is the state's bytes,
// encoded and decoded by this package (Serialize takes and Deserialize
// fills a *[]byte).
type stateType struct{ name sdk.TypeName }

var (
	projectStateType sdk.SimpleType = stateType{sdk.TypeNameFrom(ProjectStateTypeName)}
	cityStateType    sdk.SimpleType = stateType{sdk.TypeNameFrom(CityStateTypeName)}
)

// GetTypeName returns the state's type name.
func (t stateType) GetTypeName() sdk.TypeName { return t.name }

// Deserialize reads the state's bytes into a *[]byte.
func (t stateType) Deserialize(r io.Reader, receiver any) error {
	p, ok := receiver.(*[]byte)
	if !ok {
		return fmt.Errorf("%s: receiver is a %T, not a *[]byte", t.name, receiver)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r); err != nil {
		return fmt.Errorf("read %s: %w", t.name, err)
	}
	*p = buf.Bytes()
	return nil
}

// Serialize writes the state's bytes, given as []byte.
func (t stateType) Serialize(w io.Writer, data any) error {
	b, ok := data.([]byte)
	if !ok {
		return fmt.Errorf("%s: value is a %T, not a []byte", t.name, data)
	}
	_, err := w.Write(b)
	return err
}

// rawType is the SDK type of raw message bytes of a type name (events,
// registrations, timers).
type rawType struct{ name sdk.TypeName }

// GetTypeName returns the type name.
func (t rawType) GetTypeName() sdk.TypeName { return t.name }

// Deserialize is not used: messages are read with Message.RawValue.
func (t rawType) Deserialize(r io.Reader, receiver any) error {
	return stateType(t).Deserialize(r, receiver)
}

// Serialize writes the bytes, given as []byte.
func (t rawType) Serialize(w io.Writer, data any) error { return stateType(t).Serialize(w, data) }

var (
	eventType      sdk.SimpleType = rawType{sdk.TypeNameFrom(EventTypeName)}
	registeredType sdk.SimpleType = rawType{sdk.TypeNameFrom(RegisteredTypeName)}
	timerType      sdk.SimpleType = rawType{sdk.TypeNameFrom(TimerTypeName)}
)

// Value specs of the functions' state.
var (
	projectSpec = sdk.ValueSpec{Name: "project", ValueType: projectStateType}
	citySpec    = sdk.ValueSpec{Name: "city", ValueType: cityStateType}
)
