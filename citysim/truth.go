package citysim

import (
	"math"
	"slices"
	"time"
)

// Ground truth for training and backtesting: the incident process's
// parameters (IncidentBaseRate, IncidentCoefficients), every incident with
// the factors it happened under (Incidents), and per project its true
// finish and the deadline it is held to (Projects, Truth). The process
// itself is documented in incidents.go.

// Coefficient is one factor of the incident rate: λ = IncidentBaseRate ×
// exp(Σ Beta × min(x, Cap)).
type Coefficient struct {
	Name    string  // the factor, as Factors.Values names it
	Beta    float64 // its coefficient, per unit of x
	Cap     float64 // x is capped here (0: no cap)
	Meaning string  // what x is
}

// IncidentCoefficients returns the coefficients of the incident rate, in a
// fixed order (that of Factors.Values).
func IncidentCoefficients() []Coefficient { return slices.Clone(coefficients[:]) }

// Factors are a site's incident risk factors at a moment: the inputs of the
// incident rate (see incidents.go for their exact definitions).
type Factors struct {
	OpenGeneral       int     // general hazards open at the site
	OpenMajor         int     // major hazards open
	OpenCritical      int     // critical hazards open
	Overdue           int     // open hazards past their deadline
	SensorAlarms7d    int     // sensor-alarm episodes in the last 7 days
	CraneWindExposure float64 // typical jib gust / in-service limit of the site's cranes (0: none)
	PitTrend          float64 // true displacement rate / rate alarm of the site's fastest pit (0: none)
	ContractorRisk    float64 // the contractor's hidden risk (Truth.ContractorRisk)
	Credit            float64 // the project's credit, 0..100
	Incidents90d      int     // incidents at the site in the last 90 days
}

// Values returns the factors as the x of IncidentCoefficients, in its
// order: counts as they are, ln of the contractor risk, and the credit as
// (100 − credit) / 10.
func (f Factors) Values() []float64 {
	return []float64{
		float64(f.OpenGeneral), float64(f.OpenMajor), float64(f.OpenCritical), float64(f.Overdue),
		float64(f.SensorAlarms7d), f.CraneWindExposure, f.PitTrend, math.Log(f.ContractorRisk),
		(100 - f.Credit) / 10, float64(f.Incidents90d),
	}
}

// Rate returns the site's incident rate at these factors, per working day
// (07:00-20:00 local).
func (f Factors) Rate() float64 {
	var sum float64
	for i, x := range f.Values() {
		if cf := coefficients[i]; cf.Cap > 0 {
			x = min(x, cf.Cap)
		}
		sum += coefficients[i].Beta * x
	}
	return IncidentBaseRate * math.Exp(sum)
}

// Incident is one incident of the simulated city, as its incident.reported
// event carries it, with the ground truth behind it.
type Incident struct {
	ID        string    // data.incident, e.g. P-001-S1-INC2
	Event     string    // the event id
	Project   string    // project id
	Site      string    // site id
	Occurred  time.Time // when it happened
	Reported  time.Time // the event time of its report (the same before Start; zero while Next has not sent it)
	Severity  string    // minor, serious or fatal
	Category  string    // fall, collapse, struck_by, crane, electrical, fire or other
	Equipment string    // the crane or pit involved, if any
	Injuries  int       // people hurt
	Rate      float64   // the site's incident rate when it happened, per working day
	Factors   Factors   // the site's factors when it happened
}

// Incidents returns every incident so far, in the order they happened:
// those of the history (at or before Start) and those the live stream has
// reached. The result is a copy.
func (c *City) Incidents() []Incident {
	var out []Incident
	for _, p := range c.projects {
		for _, in := range p.incs {
			out = append(out, Incident{
				ID: in.key(), Event: c.idPrefix + in.key(), Project: p.id, Site: in.site.id,
				Occurred: in.at, Reported: in.reported, Severity: in.severity, Category: in.category,
				Equipment: in.equipment, Injuries: in.injuries, Rate: in.rate, Factors: in.factors,
			})
		}
	}
	slices.SortStableFunc(out, func(a, b Incident) int { return a.Occurred.Compare(b.Occurred) })
	return out
}
