// Package twin is sitetwin's domain: the event envelope (CloudEvents 1.0,
// structured JSON) and its typed data, the project and site twins, the rule
// packs that hold a jurisdiction's thresholds as data, and Apply, the one
// place where twin state changes.
//
// Apply is deterministic and does no I/O: time comes from the events, never
// from a clock, so the Kafka engine, StateFun, drills, backtests and tests
// all get the same state and alerts from the same events. Health is
// red/amber/green from the alarms the rules raise, each with a
// human-readable reason; key actions go into a per-project hash chain.
//
// A twin's snapshot is its JSON, or the binary form of
// ProjectTwin.AppendSnapshot that the engine checkpoints; DecodeSnapshot
// reads either.
//
// Main types: Event (Decode, Encode), ProjectTwin and SiteTwin, Rules
// (ParseRules, DefaultRules), Effects with its Alerts, AuditRecord.
//
// The package imports only the standard library.
package twin
