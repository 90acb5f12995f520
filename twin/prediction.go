package twin

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// Prediction is what a model says about a project (or one of its sites or
// cranes), with the contribution of each input, so that a person can see
// why. Models produce it (package predict); the twin keeps the latest of
// each model and raises risks from it (RecordPrediction).
type Prediction struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	Project string `json:"project"`
	// Subject narrows the prediction to a site or a crane ("" for the
	// whole project).
	Subject string `json:"subject,omitempty"`
	// At is the twin's clock (event time) the prediction was made at.
	At time.Time `json:"at"`
	// Offset is the input offset of the last event the twin had applied
	// when the prediction was made (-1 when unknown).
	Offset int64 `json:"offset"`
	// Values are the named figures: for delay "p_on_time", "p50_days" ...
	Values map[string]float64 `json:"values"`
	// Dates are the named dates: for delay "p50", "p80", "p90".
	Dates map[string]time.Time `json:"dates,omitempty"`
	// Effects say what moved the prediction, largest first.
	Effects []Effect `json:"effects,omitempty"`
	// Summary is one line for a person.
	Summary string `json:"summary"`
	// Details are the model's further output as JSON (per-crane
	// forecasts, criticality ...).
	Details json.RawMessage `json:"details,omitempty"`
}

// Effect is the contribution of one input to a prediction.
type Effect struct {
	Input  string  `json:"input"`  // e.g. "spi_t", "open_major_hazards"
	Value  float64 `json:"value"`  // the input's value
	Effect float64 `json:"effect"` // its effect on the headline figure, in that figure's unit
	Unit   string  `json:"unit,omitempty"`
	Note   string  `json:"note,omitempty"`
}

// key names a prediction within a twin: its model, and subject if any.
func (p *Prediction) key() string {
	if p.Subject == "" {
		return p.Model
	}
	return p.Model + "@" + p.Subject
}

// Predictions is what a twin keeps of predictions: the latest of each model
// (and subject), and the risks their figures raise under the rule pack.
// Risks are not health: health stands on facts; risks on forecasts.
type Predictions struct {
	Latest map[string]*Prediction `json:"latest,omitempty"` // by model or model@subject
	Risks  map[string]*Alarm      `json:"risks,omitempty"`  // by risk rule id, or id@subject
	Seq    int64                  `json:"seq,omitempty"`    // numbers the risk alerts
}

// IsZero reports whether nothing was predicted.
func (p Predictions) IsZero() bool { return len(p.Latest) == 0 && len(p.Risks) == 0 && p.Seq == 0 }

// RiskRule raises a risk when a model's figure crosses a band.
type RiskRule struct {
	ID     string `json:"id"`
	Model  string `json:"model"`
	Value  string `json:"value"` // the prediction's value it reads
	Label  string `json:"label"` // how a reason names it
	Band   Band   `json:"band"`
	Action string `json:"action,omitempty"`
	Source string `json:"source"`
}

// RecordPrediction keeps a prediction as the latest of its model and
// subject, unless the twin already holds one made at a later input offset
// (or, with equal offsets, a later clock), and evaluates the pack's risk
// rules on it. It returns the alerts of the risks whose level changed. It
// changes only the twin's Predictions: facts, health and the audit chain
// are untouched, and a canonical dump leaves predictions out (they depend
// on when a model ran).
func RecordPrediction(p *ProjectTwin, pr *Prediction, r *Rules) ([]Alert, error) {
	if pr == nil || pr.Model == "" {
		return nil, reject("a prediction needs a model name")
	}
	if pr.Project != p.ID {
		return nil, reject("prediction for project %q recorded on twin %q", pr.Project, p.ID)
	}
	ps := &p.Predictions
	if ps.Latest == nil {
		ps.Latest = map[string]*Prediction{}
	}
	if old, ok := ps.Latest[pr.key()]; ok && (old.Offset > pr.Offset || old.Offset == pr.Offset && old.At.After(pr.At)) {
		return nil, nil // made from an older state than the one kept
	}
	ps.Latest[pr.key()] = pr
	var alerts []Alert
	for i := range r.Risks {
		rule := &r.Risks[i]
		if rule.Model != pr.Model {
			continue
		}
		key := rule.ID
		if pr.Subject != "" {
			key += "@" + pr.Subject
		}
		x, have := pr.Values[rule.Value]
		if ps.Risks == nil {
			ps.Risks = map[string]*Alarm{}
		}
		old, had := ps.Risks[key]
		from := LevelOK
		if had {
			from = old.Level
		}
		lvl, th := LevelOK, math.NaN()
		if have && !math.IsNaN(x) {
			lvl, th = rule.Band.Next(from, x)
		}
		if lvl == LevelOK {
			if had {
				delete(ps.Risks, key)
				alerts = append(alerts, p.riskAlert(old, pr, ChangeCleared, from, LevelOK, "cleared: "+old.Reason))
			}
			continue
		}
		op := ">"
		if rule.Band.Below {
			op = "<"
		}
		reason := fmt.Sprintf("%s %s %s %s (%s)", rule.Label, riskNum(x), op, riskNum(th), strings.TrimSpace(pr.Summary))
		if pr.Subject != "" {
			reason = pr.Subject + ": " + reason
		}
		if !had {
			old = &Alarm{Key: key, Rule: rule.ID, Site: pr.Subject, Since: pr.At, Action: rule.Action, Responsible: p.Info.Contractor}
			ps.Risks[key] = old
		}
		old.Value, old.Threshold, old.Reason = round6(x), round6(th), reason
		if from == lvl {
			continue
		}
		old.Level, old.Since = lvl, pr.At
		change := ChangeRaised
		switch {
		case from == LevelWarn && lvl == LevelStop:
			change = ChangeEscalated
		case from == LevelStop && lvl == LevelWarn:
			change = ChangeEased
		}
		alerts = append(alerts, p.riskAlert(old, pr, change, from, lvl, reason))
	}
	return alerts, nil
}

func (p *ProjectTwin) riskAlert(al *Alarm, pr *Prediction, change string, from, to Level, reason string) Alert {
	p.Predictions.Seq++
	return Alert{
		ID: fmt.Sprintf("%s#r%d", p.ID, p.Predictions.Seq), Project: p.ID, District: p.Info.District,
		Site: al.Site, Rule: al.Rule, Key: "risk:" + al.Key, Change: change, Level: to, From: from,
		Reason: reason, Action: al.Action, Value: al.Value, Threshold: al.Threshold, Time: pr.At,
		Event: fmt.Sprintf("prediction:%s@%d", pr.key(), pr.Offset), Responsible: al.Responsible,
	}
}

// riskNum formats a probability or figure for a risk reason: two decimals.
func riskNum(x float64) string {
	if math.IsNaN(x) {
		return "?"
	}
	return fmt.Sprintf("%.2f", x)
}
