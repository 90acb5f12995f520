package predict

// Uplift is the reference-class prior for the works duration of a kind of
// project: how much longer than planned such projects take, in percent of
// the planned duration ("optimism bias").
//
// Source: Mott MacDonald, Review of Large Public Procurement in the UK
// (2002), for HM Treasury, as adopted in HM Treasury, The Green Book:
// Supplementary Guidance — Optimism Bias (2003), Table 2 "Optimism Bias
// Guidelines": works duration, upper (U) and lower (L) bound, per project
// type:
//
//	project type                    works duration U   L
//	Standard Buildings                             4   1
//	Non-standard Buildings                        39   2
//	Standard Civil Engineering                    20   1
//	Non-standard Civil Engineering                25   3
//	Equipment/Development                         54  10
//
// The guidance starts an appraisal from the upper bound and lowers it as the
// project's risks are shown to be managed; the lower bound is what a well
// managed project still overruns by. Standard civil engineering is mostly
// roads in that study, which is why it overruns in time more than the
// non-standard kind.
//
// Flyvbjerg's reference-class uplifts (Flyvbjerg and COWI, Procedures for
// Dealing with Optimism Bias in Transport Planning, UK Department for
// Transport, 2004) are for cost, not duration, and cover transport only; we
// found no published schedule uplift of his by project type, so the table is
// Mott MacDonald's. Which of its project types each sitetwin kind belongs to
// is our judgement, not the source's (see DefaultUplifts), and the table is
// data: ForecastOptions.Uplifts replaces it.
type Uplift struct {
	Kind     string  `json:"kind"`      // the sitetwin project kind
	Class    string  `json:"class"`     // the source's project type
	UpperPct float64 `json:"upper_pct"` // works duration optimism bias, upper bound, percent
	LowerPct float64 `json:"lower_pct"` // lower bound, percent
}

// Factor is the multiplier the prior puts on remaining durations:
// 1 + UpperPct/100 (the guidance's starting value; see ForecastProject for
// how it gives way to the observed rate as work is earned).
func (u Uplift) Factor() float64 { return 1 + u.UpperPct/100 }

// Mott MacDonald (2002) project types, with their works duration bounds.
var (
	standardBuildings    = Uplift{Class: "Standard Buildings", UpperPct: 4, LowerPct: 1}
	nonStandardBuildings = Uplift{Class: "Non-standard Buildings", UpperPct: 39, LowerPct: 2}
	standardCivil        = Uplift{Class: "Standard Civil Engineering", UpperPct: 20, LowerPct: 1}
	nonStandardCivil     = Uplift{Class: "Non-standard Civil Engineering", UpperPct: 25, LowerPct: 3}
)

// DefaultUplifts returns a new table of the works duration priors by
// sitetwin project kind:
//
//	housing     Standard Buildings              4%
//	school      Standard Buildings              4%
//	industrial  Standard Buildings              4%  (sheds, parks, logistics)
//	hospital    Non-standard Buildings         39%  (clinical services, specialist design)
//	municipal   Standard Civil Engineering     20%  (roads, drainage, utility tunnels)
//	water       Standard Civil Engineering     20%  (treatment plants, pumping, river works)
//	transport   Non-standard Civil Engineering 25%  (metro stations, interchanges)
//
// A kind missing from the table has no prior (factor 1).
func DefaultUplifts() map[string]Uplift {
	t := map[string]Uplift{
		"housing":    standardBuildings,
		"school":     standardBuildings,
		"industrial": standardBuildings,
		"hospital":   nonStandardBuildings,
		"municipal":  standardCivil,
		"water":      standardCivil,
		"transport":  nonStandardCivil,
	}
	for k, u := range t {
		u.Kind = k
		t[k] = u
	}
	return t
}
