package twin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// SpecVersion is the only CloudEvents version accepted.
const SpecVersion = "1.0"

// CityWide is the project attribute of an event that concerns every twin in
// the city (a typhoon advisory, a rainstorm warning). Runtimes deliver such
// an event to every project twin they hold.
const CityWide = "*"

// Event types, as listed in DESIGN.md. Each one has a Data type below.
const (
	TypeProjectRegistered    = "project.registered"
	TypeSiteAdded            = "site.added"
	TypeEquipmentInstalled   = "equipment.installed"
	TypePlanBaselined        = "plan.baselined"
	TypeSensorReading        = "sensor.reading"
	TypeProgressReported     = "progress.reported"
	TypeMilestoneCompleted   = "milestone.completed"
	TypeFundsDisbursed       = "funds.disbursed"
	TypeWagesPaid            = "wages.paid"
	TypeWageAccountDeposited = "wage_account.deposited"
	TypeChangeOrderApproved  = "change_order.approved"
	TypeHazardFound          = "hazard.found"
	TypeHazardRectified      = "hazard.rectified"
	TypeAcceptancePassed     = "acceptance.passed"
	TypeInspectionCompleted  = "inspection.completed"
	TypeIncidentReported     = "incident.reported"
	TypeTyphoonAdvisory      = "typhoon.advisory"
	TypeRainfallWarning      = "rainfall.warning"
)

// Streams group event types the way the input topics do: the topic of a
// type is "sitetwin." followed by its stream.
const (
	StreamRegistry   = "registry"
	StreamSensor     = "sensor"
	StreamProgress   = "progress"
	StreamPayment    = "payment"
	StreamInspection = "inspection"
	StreamWeather    = "weather"
)

// typeInfo says, per event type, its stream, whether it needs a site, and how
// to make an empty value of its data.
type typeInfo struct {
	stream   string
	needSite bool
	newData  func() Data
}

var types = map[string]typeInfo{
	TypeProjectRegistered:    {StreamRegistry, false, func() Data { return new(ProjectRegistered) }},
	TypeSiteAdded:            {StreamRegistry, true, func() Data { return new(SiteAdded) }},
	TypeEquipmentInstalled:   {StreamRegistry, true, func() Data { return new(EquipmentInstalled) }},
	TypePlanBaselined:        {StreamRegistry, false, func() Data { return new(PlanBaselined) }},
	TypeSensorReading:        {StreamSensor, true, func() Data { return new(SensorReading) }},
	TypeProgressReported:     {StreamProgress, false, func() Data { return new(ProgressReported) }},
	TypeMilestoneCompleted:   {StreamProgress, false, func() Data { return new(MilestoneCompleted) }},
	TypeFundsDisbursed:       {StreamPayment, false, func() Data { return new(Payment) }},
	TypeWagesPaid:            {StreamPayment, false, func() Data { return new(Payment) }},
	TypeWageAccountDeposited: {StreamPayment, false, func() Data { return new(Payment) }},
	TypeChangeOrderApproved:  {StreamPayment, false, func() Data { return new(ChangeOrderApproved) }},
	TypeHazardFound:          {StreamInspection, false, func() Data { return new(HazardFound) }},
	TypeHazardRectified:      {StreamInspection, false, func() Data { return new(HazardRectified) }},
	TypeAcceptancePassed:     {StreamInspection, false, func() Data { return new(AcceptancePassed) }},
	TypeInspectionCompleted:  {StreamInspection, false, func() Data { return new(InspectionCompleted) }},
	TypeIncidentReported:     {StreamInspection, true, func() Data { return new(IncidentReported) }},
	TypeTyphoonAdvisory:      {StreamWeather, false, func() Data { return new(TyphoonAdvisory) }},
	TypeRainfallWarning:      {StreamWeather, false, func() Data { return new(RainfallWarning) }},
}

// StreamOf returns the stream (topic suffix) of an event type, or "" when the
// type is unknown.
func StreamOf(eventType string) string { return types[eventType].stream }

// Streams returns every stream name, in a fixed order.
func Streams() []string {
	return []string{StreamRegistry, StreamSensor, StreamProgress, StreamPayment, StreamInspection, StreamWeather}
}

// Types returns every known event type, sorted.
func Types() []string {
	return slices.Sorted(maps.Keys(types))
}

// Event is one decoded CloudEvent. Data holds a pointer to the typed data of
// the event's type (for example *SensorReading for sensor.reading).
//
// Received is not part of the CloudEvent: the runtime that hands the event
// to Apply sets it, Encode leaves it out and Decode leaves it zero.
type Event struct {
	ID       string    // unique; used for de-duplication
	Type     string    // one of the Type constants
	Source   string    // who produced it (a gateway, a service)
	Time     time.Time // event time
	Project  string    // project id, or CityWide
	Site     string    // site id, for site events
	Drill    string    // non-empty when the event belongs to a drill (extension attribute "drill")
	Data     Data
	Received time.Time // when the runtime received it, e.g. the Kafka record timestamp; zero when unknown
}

// Data is the typed payload of an event. Validate checks the fields and
// normalises units; it returns a *ValidationError naming the field.
type Data interface {
	validate(v *validator)
}

// ValidationError says which field of an event is wrong and which rule it
// broke. Its text is what a dead-letter header and an HTTP 400 body carry.
type ValidationError struct {
	Field string // dotted path, e.g. "data.value" or "time"
	Rule  string // what the field must be
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Rule }

// ErrMalformed is wrapped by Decode when the bytes are not a JSON object at
// all (as opposed to a well-formed event with a bad field).
var ErrMalformed = errors.New("malformed event")

// envelope is the wire form of an event (CloudEvents 1.0, structured JSON).
type envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Type            string          `json:"type"`
	Source          string          `json:"source"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Project         string          `json:"project"`
	Site            string          `json:"site,omitempty"`
	Drill           string          `json:"drill,omitempty"`
	Data            json.RawMessage `json:"data"`
}

// Limits on identifiers and sizes, so that a hostile producer cannot make a
// twin grow without bound through one event.
const (
	maxIDLen    = 200
	maxTextLen  = 500
	maxListLen  = 1000
	maxEventLen = 1 << 20
)

// Years an event time or a date in data may fall in. Times outside them are
// producer bugs, and beyond year 9999 a twin could no longer be written as
// JSON.
const (
	minYear = 1970
	maxYear = 2200
)

// inYears reports whether t, in UTC, falls in minYear..maxYear.
func inYears(t time.Time) bool {
	y := t.UTC().Year()
	return y >= minYear && y <= maxYear
}

// Decode parses one CloudEvent in structured JSON mode and validates it. The
// error is a *ValidationError (wrapped) for a bad field, or wraps
// ErrMalformed when the bytes are not a JSON object. The event's Received is
// left zero for the runtime to set.
func Decode(b []byte) (*Event, error) {
	if len(b) > maxEventLen {
		return nil, &ValidationError{Field: "event", Rule: fmt.Sprintf("must be at most %d bytes, is %d", maxEventLen, len(b))}
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if e, ok := decodeFast(b); ok {
		return e, nil
	}
	return decodeGeneral(b)
}

// decodeGeneral is Decode with encoding/json: every shape of event, and the
// errors of every bad one.
func decodeGeneral(b []byte) (*Event, error) {
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&env); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) && ute.Field != "" {
			return nil, &ValidationError{Field: ute.Field, Rule: "must be a JSON " + jsonKind(ute.Type.Kind().String())}
		}
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrMalformed)
	}
	return fromEnvelope(&env)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "float64", "int", "int64", "int32":
		return "number"
	case "slice":
		return "array"
	case "bool":
		return "boolean"
	default:
		return "object"
	}
}

func fromEnvelope(env *envelope) (*Event, error) {
	return fromEnvelopeWith(env, unmarshalData)
}

// errFast is what the fast path's data decoder returns for data it leaves
// to the general path.
var errFast = errors.New("not the fast path's shape")

// unmarshalData decodes an event's data with encoding/json, naming the field
// of a type mismatch.
func unmarshalData(info typeInfo, raw []byte) (Data, error) {
	data := info.newData()
	if err := json.Unmarshal(raw, data); err != nil {
		v := &validator{}
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			if ute.Field == "" {
				return nil, v.fail("data", "must be a JSON object")
			}
			return nil, v.fail("data."+ute.Field, "must be a JSON "+jsonKind(ute.Type.Kind().String()))
		}
		return nil, v.fail("data", "must be a JSON object: "+err.Error())
	}
	return data, nil
}

// fromEnvelopeWith checks the envelope's attributes, decodes its data with
// decode and validates it.
func fromEnvelopeWith(env *envelope, decode func(typeInfo, []byte) (Data, error)) (*Event, error) {
	v := &validator{}
	if env.SpecVersion != SpecVersion {
		return nil, v.fail("specversion", `must be "1.0"`)
	}
	if err := checkID("id", env.ID); err != nil {
		return nil, err
	}
	info, ok := types[env.Type]
	if !ok {
		if env.Type == "" {
			return nil, v.fail("type", "is required")
		}
		return nil, v.fail("type", fmt.Sprintf("unknown event type %q (known: %s)", env.Type, strings.Join(Types(), ", ")))
	}
	if env.Source == "" {
		return nil, v.fail("source", "is required")
	}
	if len(env.Source) > maxTextLen {
		return nil, v.fail("source", fmt.Sprintf("must be at most %d characters", maxTextLen))
	}
	if env.Time == "" {
		return nil, v.fail("time", "is required (RFC 3339 event time)")
	}
	t, err := time.Parse(time.RFC3339Nano, env.Time)
	if err != nil {
		return nil, v.fail("time", "must be an RFC 3339 timestamp such as 2026-11-20T08:00:00Z")
	}
	if !inYears(t) {
		return nil, v.fail("time", fmt.Sprintf("must be between %d and %d (UTC)", minYear, maxYear))
	}
	if env.DataContentType != "" && !strings.HasPrefix(env.DataContentType, "application/json") {
		return nil, v.fail("datacontenttype", "must be application/json (structured mode)")
	}
	if env.Project == "" {
		return nil, v.fail("project", "is required (the project id, or \"*\" for a city-wide weather event)")
	}
	if env.Project == CityWide {
		if info.stream != StreamWeather {
			return nil, v.fail("project", `"*" (city-wide) is only allowed for weather events`)
		}
	} else if err := checkID("project", env.Project); err != nil {
		return nil, err
	}
	if info.needSite {
		if env.Site == "" {
			return nil, v.fail("site", "is required for "+env.Type)
		}
	}
	if env.Site != "" {
		if err := checkID("site", env.Site); err != nil {
			return nil, err
		}
	}
	if env.Drill != "" {
		if err := checkID("drill", env.Drill); err != nil {
			return nil, err
		}
	}
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return nil, v.fail("data", "is required")
	}
	data, err := decode(info, env.Data)
	if err != nil {
		return nil, err
	}
	v.eventType = env.Type
	data.validate(v)
	if v.err != nil {
		return nil, v.err
	}
	return &Event{
		ID: env.ID, Type: env.Type, Source: env.Source, Time: t,
		Project: env.Project, Site: env.Site, Drill: env.Drill, Data: data,
	}, nil
}

// Encode writes the event as a CloudEvent in structured JSON mode. Decode of
// the result gives back an equal event, but for Received, which is not part
// of the CloudEvent and comes back zero.
func Encode(e *Event) ([]byte, error) {
	if e.Data == nil {
		return nil, &ValidationError{Field: "data", Rule: "is required"}
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("encode %s data: %w", e.Type, err)
	}
	return json.Marshal(envelope{
		SpecVersion: SpecVersion, ID: e.ID, Type: e.Type, Source: e.Source,
		Time:            e.Time.UTC().Format(time.RFC3339Nano),
		DataContentType: "application/json",
		Project:         e.Project, Site: e.Site, Drill: e.Drill, Data: data,
	})
}

// Peek reads only the attributes needed to route a record (type, project),
// without validating the rest. Runtimes use it to find where a record
// belongs before the owner decodes it fully.
func Peek(b []byte) (eventType, project string, err error) {
	var env struct {
		Type    string `json:"type"`
		Project string `json:"project"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return env.Type, env.Project, nil
}

func checkID(field, id string) error {
	if id == "" {
		return &ValidationError{Field: field, Rule: "is required"}
	}
	if len(id) > maxIDLen {
		return &ValidationError{Field: field, Rule: fmt.Sprintf("must be at most %d characters", maxIDLen)}
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '-' || r == '_' || r == '.' || r == ':' || r == '/' || r == '@'
		if !ok {
			return &ValidationError{Field: field, Rule: fmt.Sprintf("may contain only letters, digits and - _ . : / @ (found %q)", r)}
		}
	}
	return nil
}

// validator collects the first validation error of a data payload.
type validator struct {
	eventType string
	err       error
}

func (v *validator) fail(field, rule string) error {
	if v.err == nil {
		v.err = &ValidationError{Field: field, Rule: rule}
	}
	return v.err
}

func (v *validator) id(field, s string) {
	if v.err != nil {
		return
	}
	if err := checkID("data."+field, s); err != nil {
		v.err = err
	}
}

func (v *validator) optID(field, s string) {
	if s != "" {
		v.id(field, s)
	}
}

func (v *validator) text(field, s string, required bool) {
	if required && strings.TrimSpace(s) == "" {
		v.fail("data."+field, "is required")
		return
	}
	if len(s) > maxTextLen {
		v.fail("data."+field, fmt.Sprintf("must be at most %d characters", maxTextLen))
	}
}

func (v *validator) finite(field string, x float64) bool {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		v.fail("data."+field, "must be a finite number")
		return false
	}
	return true
}

func (v *validator) positive(field string, x float64) {
	if v.finite(field, x) && x <= 0 {
		v.fail("data."+field, "must be greater than 0")
	}
}

func (v *validator) nonNegative(field string, x float64) {
	if v.finite(field, x) && x < 0 {
		v.fail("data."+field, "must not be negative")
	}
}

func (v *validator) oneOf(field, s string, allowed ...string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	if s == "" {
		v.fail("data."+field, "is required (one of "+strings.Join(allowed, ", ")+")")
		return
	}
	v.fail("data."+field, fmt.Sprintf("must be one of %s (got %q)", strings.Join(allowed, ", "), s))
}

func (v *validator) between(field string, x, lo, hi float64) {
	if v.finite(field, x) && (x < lo || x > hi) {
		v.fail("data."+field, fmt.Sprintf("must be between %g and %g", lo, hi))
	}
}

// CityKey names what a city-wide event stands for, so that a runtime keeps
// only the latest of each for twins registered later: its type, and for a
// rainfall warning of one district also the district ("rainfall.warning/
// Nanshan"). A later event of the same key replaces the earlier one.
func CityKey(e *Event) string {
	if d, ok := e.Data.(*RainfallWarning); ok && d.District != "" {
		return e.Type + "/" + d.District
	}
	return e.Type
}
