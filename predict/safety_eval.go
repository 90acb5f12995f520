package predict

import (
	"context"
	"fmt"
	"hash/fnv"
)

// SafetyEvaluation compares the safety model with its logistic baseline on
// held-out examples (EvaluateSafety).
type SafetyEvaluation struct {
	// Train and Test count the labelled sites on each side and the
	// incidents among them.
	TrainRows      int `json:"train_rows"`
	TrainPositives int `json:"train_positives"`
	TestRows       int `json:"test_rows"`
	TestPositives  int `json:"test_positives"`
	// Forest, Logistic and BaseRate are the scores on the held-out sites
	// of the forest, the logistic baseline and the training base rate
	// said of every site.
	Forest   SafetyScore `json:"forest"`
	Logistic SafetyScore `json:"logistic"`
	BaseRate SafetyScore `json:"base_rate"`
}

// SafetyScore is a model's ROC AUC and Brier score on held-out sites, with
// its mean forecast (against the rate of incidents, a check of
// calibration).
type SafetyScore struct {
	AUC     float64 `json:"auc"`
	Brier   float64 `json:"brier"`
	MeanP   float64 `json:"mean_p"`
	Model   string  `json:"model"`
	Version string  `json:"version,omitempty"`
}

// SplitByProject splits examples into those of the projects held out
// (test) and the others (train): a project is held out when FNV-1a of its
// id, modulo 1000, is below holdout × 1000, the same on every run and for
// every history. Every view of a held-out project is tested and none
// trained on, so that a site's weekly samples and its project's contractor
// never sit on both sides. Examples without a view go to train.
func SplitByProject(examples []Example, holdout float64) (train, test []Example) {
	for _, ex := range examples {
		if ex.View != nil && heldOut(ex.View.ID, holdout) {
			test = append(test, ex)
		} else {
			train = append(train, ex)
		}
	}
	return train, test
}

func heldOut(project string, holdout float64) bool {
	h := fnv.New32a()
	h.Write([]byte(project))
	return float64(h.Sum32()%1000) < holdout*1000
}

// EvaluateSafety trains the safety model with opts and the logistic
// baseline on train, and scores both, and train's base rate, on test's
// labelled sites. It blocks until done or ctx ends; it fails when either
// side lacks sites with and without an incident.
func EvaluateSafety(ctx context.Context, train, test []Example, opts SafetyOptions) (*SafetyEvaluation, error) {
	ev := &SafetyEvaluation{}
	sm, err := NewSafetyModel(opts)
	if err != nil {
		return nil, fmt.Errorf("evaluate safety: %w", err)
	}
	forest, err := sm.TrainSafety(ctx, train)
	if err != nil {
		return nil, fmt.Errorf("evaluate safety: %w", err)
	}
	lm, _ := NewSafetyLogistic(LogisticOptions{})
	logit, err := lm.Train(ctx, train)
	if err != nil {
		return nil, fmt.Errorf("evaluate safety: %w", err)
	}
	tr := forest.Training()
	ev.TrainRows, ev.TrainPositives = tr.Rows, tr.Positives
	x, y, err := SafetyRows(test)
	if err != nil {
		return nil, fmt.Errorf("evaluate safety: held-out: %w", err)
	}
	if _, err := trainingOf(len(test), y); err != nil {
		return nil, fmt.Errorf("evaluate safety: held-out: %w", err)
	}
	ev.TestRows = len(y)
	for _, v := range y {
		if v {
			ev.TestPositives++
		}
	}
	scoreOf := func(name, version string, sc safetyScorer) SafetyScore {
		p := make([]float64, len(x))
		contrib := make([]float64, sfCount)
		var sum float64
		for i, r := range x {
			p[i] = sc.score(r, contrib)
			clear(contrib)
			sum += p[i]
		}
		return SafetyScore{Model: name, Version: version, AUC: round6(AUC(p, y)), Brier: round6(Brier(p, y)), MeanP: round6(sum / float64(len(p)))}
	}
	ev.Forest = scoreOf(forest.Name(), forest.Version(), forest)
	lg := logit.(*SafetyLogistic)
	ev.Logistic = scoreOf(lg.Name(), lg.Version(), lg)
	base := make([]float64, len(y))
	for i := range base {
		base[i] = tr.BaseRate
	}
	ev.BaseRate = SafetyScore{Model: "base rate", AUC: 0.5, Brier: round6(Brier(base, y)), MeanP: tr.BaseRate}
	return ev, nil
}
