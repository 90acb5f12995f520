// Package statefun serves sitetwin's twins as Apache Flink Stateful
// Functions remote functions, through the official Go SDK
// (github.com/apache/flink-statefun/statefun-sdk-go/v3): Flink keeps the
// state and the exactly-once guarantees, this package answers the
// request-reply HTTP calls.
//
// Two function types live under the namespace "sitetwin":
//
//   - sitetwin/project, one instance per project id (the Kafka record key
//     of every input topic). It applies events with twin.Apply, the same
//     function the Kafka engine calls, keeps the twin in a ValueSpec of the
//     versioned type ProjectStateTypeName, and sends alerts, outbound
//     requests and dead letters to a Kafka egress. Expensive predictions
//     are debounced, and rectification deadlines are watched, with delayed
//     messages to itself (SendAfter with cancellation tokens).
//   - sitetwin/city, one instance ("*"). City-wide events (project "*")
//     reach it; it keeps the set of registered projects and the latest
//     city-wide event of each kind, fans every city-wide event out to the
//     registered projects, and tells a newly registered project the
//     active ones.
//
// Ingress values are raw CloudEvent JSON bytes with the typenames
// EventTypeName (from functions) or EventTypeName + "." + stream (from the
// Kafka ingress of an input topic, so that an event on the wrong topic is
// dead-lettered as the engine does). Server is the http.Handler: it sets
// the response Content-Type the Java runtime needs, turns panics into
// errors, and decodes and encodes a twin once per batch rather than once
// per message.
//
// The package imports twin and predict, and the SDK; not streams or any
// other adapter.
package statefun
