// Package scenarios owns what is laid over a city to rehearse or to
// simulate a disaster: a typhoon's advisories and crane anemometer winds
// from its track (Storm), and the drills built on them. It is pure
// computation over twin, predict and citysim: no network, no clock.
package scenarios
