package statefun

import (
	sdk "github.com/apache/flink-statefun/statefun-sdk-go/v3/pkg/statefun"
)

// Namespace is the namespace of sitetwin's function types and egress.
const Namespace = "sitetwin"

// Function and egress type names, as module.yaml names them.
var (
	// ProjectFunction is the function type of a project twin; its id is
	// the project id.
	ProjectFunction = sdk.TypeNameFrom(Namespace + "/project")
	// CityFunction is the function type of the city; its one id is
	// CityID.
	CityFunction = sdk.TypeNameFrom(Namespace + "/city")
	// Egress is the Kafka egress every output record leaves through
	// (alerts, dead letters, outbound requests): io.statefun.kafka.v1/egress
	// with exactly-once delivery in module.yaml.
	Egress = sdk.TypeNameFrom(Namespace + "/kafka")
)

// CityID is the id of the one city function instance: the key city-wide
// events carry.
const CityID = "*"

// Value type names. They never change between versions: a stored state
// carries its own format version inside (see EncodeProjectState).
const (
	// EventTypeName is a CloudEvent in structured JSON, as raw bytes (not
	// the SDK's string type, which is a protobuf wrapper). Functions send
	// events to each other with it.
	EventTypeName = "sitetwin.types/cloudevent"
	// RegisteredTypeName is a project function telling the city that its
	// project is registered; the value is the project id as UTF-8.
	RegisteredTypeName = "sitetwin.types/registered"
	// TimerTypeName is a delayed message a project function sends itself
	// (JSON, see timer).
	TimerTypeName = "sitetwin.types/timer"
	// ProjectStateTypeName is the type of a project function's state.
	ProjectStateTypeName = "sitetwin.types/project-state"
	// CityStateTypeName is the type of the city function's state.
	CityStateTypeName = "sitetwin.types/city-state"
)

// IngressTypeName is the value type of a Kafka ingress topic of a stream
// (twin.Streams): EventTypeName + "." + stream, e.g.
// "sitetwin.types/cloudevent.sensor". An event of a type that belongs to
// another stream is dead-lettered, as the Kafka engine does with an event
// on the wrong topic.
func IngressTypeName(stream string) string { return EventTypeName + "." + stream }
