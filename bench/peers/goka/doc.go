// Command goka is the side-by-side peer of sitetwin's engine for the bench
// compare scenario (issue #9): the same workload as a goka processor.
//
// It consumes the input topics given, from the oldest offset, in a goka
// group whose group table (goka.Persist) holds each project's
// *twin.ProjectTwin, encoded as sitetwin's changelog encodes it (a binary
// snapshot, twin.ProjectTwin.AppendSnapshot).
// Every record is decoded with twin.Decode and applied with twin.Apply and
// twin.DefaultRules, as the engine applies it; alerts and outbound requests
// go to output topics. City-wide events (project "*") are fanned out to
// every registered project through the group's loopback topic, by a city
// state kept in the same table under "*". When it has applied the number of
// records asked for, it prints one JSON line on stdout:
//
//	{"events":N,"seconds":S,"events_per_s":X,"p50_ms":A,"p99_ms":B}
//
// and exits 0. See README.md for how goka and sarama are configured for the
// embedded kfake broker, and why.
//
// It is its own module so that sitetwin does not depend on goka; it uses
// sitetwin through a replace directive.
package main
