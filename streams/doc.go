// Package streams runs sitetwin on Kafka: the embedded broker (kfake on a
// real TCP port), topic creation, the engine that consumes the input topics
// in a consumer group and applies every event with twin.Apply, and the
// publisher that produces events (the simulated city, replays).
//
// The engine gives each assigned partition number to one worker goroutine
// that owns that partition's twins: no locks on the hot path. Records that
// cannot be applied go, unchanged, to the dead-letter topic with the reason
// in a header; records keyed or partitioned differently from Kafka's default
// partitioner are forwarded to the partition that owns their project; the
// twins changed since the last checkpoint are written to the compacted
// twin-state changelog before offsets are committed (binary snapshots, a
// busy twin's as a delta from the snapshot last written whole, delta.go),
// and are restored from it when a partition is assigned. Readers get views of the twins from Store.
//
// Main types: Broker, Engine, Store, Publisher, Topics.
//
// It imports twin and the franz-go and Prometheus client libraries; never
// dashboard or connectors.
package streams
