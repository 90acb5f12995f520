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
// its continuation in script.go, weather and incidents in live.go, sensor
// values in sensors.go, and the facts they rest on (district centres,
// climate normals, warning criteria) in facts.go. Projects returns the
// hidden truth of each project (Truth, Pit.Trending).
//
// Main types: Config, City (New, Bootstrap, Next, Projects) and the Project
// description that Projects returns.
//
// A City is a pure function of its Config: it reads no clock, does no I/O,
// starts no goroutines and uses no global random source; the same Config
// gives the same events, byte for byte. It imports only the standard library
// and package twin.
package citysim
