// Package citysim is a deterministic simulator of a Shenzhen construction
// district. It produces the CloudEvents (as *twin.Event values) that outside
// gateways would send to sitetwin: the registry (projects, sites, equipment,
// baselines), progress, payments, inspections, sensor readings and weather
// warnings.
//
// The package owns the generated city and its ground truth: which projects
// run behind plan, which contractors are careless, which foundation pit is
// moving, when dust spikes and night-time noisy work happen. Prediction
// models are trained on its output, so every random process is documented
// where it is drawn, with its rate and magnitude: the projects' history and
// its continuation in script.go, weather, dust spikes and noisy nights in
// live.go, sensor values in sensors.go, the safety incidents
// (incident.reported: a Poisson process whose rate is a documented function
// of the site's hazards, sensor alarms, cranes, pits, contractor, credit and
// earlier incidents) and the pits' surges in incidents.go, and the facts
// they rest on (district centres, climate normals, warning criteria) in
// facts.go. Projects returns the hidden truth of each project (Truth:
// performance, contractor risk, actual finish and the deadline it is held
// to; Pit.Trending), Incidents every incident with the factors and rate it
// happened under, and IncidentCoefficients the parameters of that rate:
// what a backtest scores models against (truth.go).
//
// Main types: Config, City (New, Bootstrap, Next, Projects, Incidents), the
// Project description that Projects returns, and Incident, Factors and
// Coefficient of the incident process.
//
// A City is a pure function of its Config: it reads no clock, does no I/O,
// starts no goroutines and uses no global random source; the same Config
// gives the same events, byte for byte. It imports only the standard library
// and package twin.
package citysim
