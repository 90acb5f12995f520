// Package scenarios owns what is laid over a city to rehearse or to
// simulate a disaster: a typhoon's advisories and crane anemometer winds
// from its track (Storm), and the drills built on them.
//
// A drill is a Scenario (Parse: JSON, validated before anything runs, each
// error a *FieldError naming its field; Check against the city) of kind
// typhoon, rainstorm, crane_collapse, pit_collapse, fire or events, with the
// response resources (rescue teams, hospitals, shelters). Run forks the
// twins (Fork, through the twin's snapshot codec), lays the hazard over the
// fork in simulated time with twin.Apply, the rule pack and the prediction
// models, and returns the Timeline (per step: each site's wind at ground
// and jib, risk level, alerts, actions due, dispatch), the Plan (actions per
// site by deadline and by whom, a summary per district, the dispatch of
// teams to incidents, KPIs) and a self-contained HTML report (Report). The
// same scenario, twins and seed give the same bytes.
//
// It is pure computation over twin, predict and citysim: no network, no
// clock, no files (a scenario's track file is read through a ReadFunc that
// cmd gives).
package scenarios
