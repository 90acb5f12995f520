package predict

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"github.com/sitetwin/sitetwin/twin"
)

// safetyScorer is what a per-site incident model computes: the probability
// for a feature vector (SiteFeatures in the order of SafetyFeatureNames)
// and each feature's contribution to it (in its unit) in contrib, which
// holds one zero per feature.
type safetyScorer interface {
	score(x, contrib []float64) float64
	note() string // how the contributions are computed, for Effects
}

// safetyTopFactors is how many factors a site's risk lists.
const safetyTopFactors = 5

// SiteRisk is one site's probability of an incident within 30 days, with
// its features and the factors that moved it most.
type SiteRisk struct {
	Site     string             `json:"site"`
	P        float64            `json:"p"`
	Factors  []SiteFactor       `json:"factors"`
	Features map[string]float64 `json:"-"`
}

// SiteFactor is a feature's value and its contribution to a site's risk.
type SiteFactor struct {
	Input  string  `json:"input"`
	Value  float64 `json:"value"`
	Effect float64 `json:"effect"`
}

// siteRisks scores the registered sites of a view, in view order.
func siteRisks(sc safetyScorer, v *twin.ProjectView) []SiteRisk {
	var out []SiteRisk
	contrib := make([]float64, sfCount)
	for i := range v.Sites {
		s := &v.Sites[i]
		if !s.Registered {
			continue
		}
		x := siteFeatureVector(v, s)
		clear(contrib)
		p := sc.score(x, contrib)
		r := SiteRisk{Site: s.ID, P: round6(p), Features: make(map[string]float64, sfCount)}
		for j, n := range safetyFeatureNames {
			r.Features[n] = x[j]
		}
		order := make([]int, 0, sfCount)
		for j, c := range contrib {
			if math.Abs(c) >= 5e-7 {
				order = append(order, j)
			}
		}
		slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(math.Abs(contrib[b]), math.Abs(contrib[a])) })
		for _, j := range order[:min(len(order), safetyTopFactors)] {
			r.Factors = append(r.Factors, SiteFactor{Input: safetyFeatureNames[j], Value: x[j], Effect: round6(contrib[j])})
		}
		if r.Factors == nil {
			r.Factors = []SiteFactor{}
		}
		out = append(out, r)
	}
	return out
}

// predictSafety builds the project prediction of a per-site incident
// model (see SafetyModel for its shape); unit names the contributions'
// unit.
func predictSafety(name, version string, sc safetyScorer, v *twin.ProjectView, unit string) (*Prediction, error) {
	risks := siteRisks(sc, v)
	if len(risks) == 0 {
		return nil, fmt.Errorf("%w: no registered sites", ErrNotApplicable)
	}
	p := &Prediction{
		Model: name, Version: version, Project: v.ID, At: v.Clock, Offset: -1,
		Values: map[string]float64{},
	}
	for _, r := range risks {
		p.Values["p_incident_30d@"+r.Site] = r.P
	}
	slices.SortStableFunc(risks, func(a, b SiteRisk) int {
		if c := cmp.Compare(b.P, a.P); c != 0 {
			return c
		}
		return cmp.Compare(a.Site, b.Site)
	})
	worst := risks[0]
	p.Values["p_incident_30d"] = worst.P
	for _, f := range worst.Factors {
		p.Effects = append(p.Effects, Effect{Input: f.Input, Value: f.Value, Effect: f.Effect, Unit: unit, Note: sc.note()})
	}
	p.Summary = fmt.Sprintf("P(incident within 30 days) %s at %s", percent(worst.P), worst.Site)
	if len(risks) > 1 {
		p.Summary += fmt.Sprintf(", the highest of %d sites", len(risks))
	}
	var ups []string
	for _, f := range worst.Factors {
		if f.Effect > 0 && len(ups) < 2 {
			ups = append(ups, fmt.Sprintf("%s %s", f.Input, trimFloat(f.Value)))
		}
	}
	if len(ups) > 0 {
		p.Summary += "; raised most by " + ups[0]
		if len(ups) > 1 {
			p.Summary += " and " + ups[1]
		}
	}
	var err error
	if p.Details, err = json.Marshal(risks); err != nil {
		return nil, fmt.Errorf("%s details: %w", name, err)
	}
	return p, nil
}

// percent formats a probability as a percentage, one decimal below 10%.
func percent(p float64) string {
	if p < 0.1 {
		return fmt.Sprintf("%.1f%%", 100*p)
	}
	return fmt.Sprintf("%.0f%%", 100*p)
}

// trimFloat formats a feature value: an integer as such, else 3 decimals
// at most.
func trimFloat(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) < 1e15 {
		return fmt.Sprintf("%.0f", x)
	}
	return fmt.Sprintf("%.3g", x)
}
