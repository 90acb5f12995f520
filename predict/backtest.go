package predict

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// Tasks a backtest scores: what a prediction is compared with.
const (
	// TaskFinish compares a model's P50 finish date (Dates["p50"]) with
	// the actual finish: MAE in days.
	TaskFinish = "finish"
	// TaskOnTime compares Values["p_on_time"] with whether the project
	// finished by its deadline: Brier and ROC AUC.
	TaskOnTime = "on_time"
	// TaskIncident compares Values["p_incident_30d@SITE"] (or, for a
	// project of one site, Values["p_incident_30d"]) with whether the site
	// reported an incident within 30 days: Brier and ROC AUC.
	TaskIncident = "incident_30d"
	// TaskCrane compares Values["p_exceed@CRANE"] with whether the crane's
	// jib wind went above its in-service limit within 72 hours: Brier,
	// ROC AUC, and hits, misses and false alarms at the alarm threshold.
	TaskCrane = "crane_exceed"
)

// Tasks lists the tasks in the order a backtest reports them.
var Tasks = []string{TaskFinish, TaskOnTime, TaskIncident, TaskCrane}

// Baseline model names in a backtest's scores: references every model
// should beat, computed from the same examples.
const (
	// BaselinePlan forecasts the finish of the baseline network (its
	// planned finish by likely durations), as if nothing had slipped.
	BaselinePlan = "baseline:plan"
	// BaselineEarnedSchedule forecasts the finish by earned schedule,
	// IEAC(t) = PD / SPI(t) (Lipke), the textbook extrapolation.
	BaselineEarnedSchedule = "baseline:ieac(t)"
	// BaselineRate forecasts every case with the rate of positives among
	// the scored cases: the climatological reference of a Brier score. It
	// knows the outcome's frequency, which no real forecast does.
	BaselineRate = "baseline:base rate"
)

// Score is how one model did on one task.
type Score struct {
	Model   string `json:"model"`
	Version string `json:"version,omitempty"`
	Task    string `json:"task"`
	// N is the forecasts scored, Positives how many of their outcomes
	// happened (incidents, cranes stopped, projects on time).
	N         int `json:"n"`
	Positives int `json:"positives,omitempty"`
	// MAEDays is for TaskFinish; Brier and AUC for the others (NaN when
	// undefined: AUC needs both outcomes).
	MAEDays float64 `json:"mae_days"`
	Brier   float64 `json:"brier"`
	AUC     float64 `json:"auc"`
	// At the alarm threshold (TaskCrane): forecasts at or above it that
	// came true (hits), outcomes below it (misses), forecasts that did not
	// come true (false alarms), and quiet forecasts that stayed quiet.
	Hits, Misses, FalseAlarms, CorrectQuiet int `json:"-"`
	// Unanswered counts labelled cases the model gave no forecast for
	// (not applicable, or an error).
	Unanswered int `json:"unanswered"`
}

// CraneScore is one model's record on one crane over the samples taken
// under a typhoon advisory.
type CraneScore struct {
	Model                                   string
	Crane                                   string
	Hits, Misses, FalseAlarms, CorrectQuiet int
	Forecasts                               int
}

// BacktestResult is what a backtest found.
type BacktestResult struct {
	Scores []Score
	Cranes []CraneScore
	// Labels counts the labelled cases of each task in the examples.
	Labels map[string]int
	// Errors counts the predictions that failed (other than not
	// applicable), by model, with the first error of each.
	Errors     map[string]int
	FirstError map[string]string
}

// BacktestOptions tune a backtest.
type BacktestOptions struct {
	// Workers run predictions in parallel (default: the CPUs).
	Workers int
	// Threshold is the crane alarm threshold on P(exceed) (default 0.5).
	Threshold float64
	// Progress, if set, is called from one goroutine at a time with the
	// predictions done and the total, done increasing by one each call.
	Progress func(done, total int)
}

// Backtest runs every model on every example and scores the forecasts
// against what happened next, side by side with the baselines. A model's
// failure on an example is counted, not fatal; the backtest ends early
// only when ctx does.
func Backtest(ctx context.Context, examples []Example, models []Model, opts BacktestOptions) (*BacktestResult, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Threshold <= 0 {
		opts.Threshold = 0.5
	}
	labelled := make([]int, 0, len(examples))
	for i := range examples {
		if len(examples[i].Label) > 0 {
			labelled = append(labelled, i)
		}
	}
	preds := make([][]*Prediction, len(models))
	errs := make([][]error, len(models))
	for m := range models {
		preds[m] = make([]*Prediction, len(examples))
		errs[m] = make([]error, len(examples))
	}
	total := len(models) * len(labelled)
	var done int // under progressMu
	var progressMu sync.Mutex
	jobs := make(chan [2]int)
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				m, i := j[0], j[1]
				preds[m][i], errs[m][i] = models[m].Predict(ctx, examples[i].View)
				if opts.Progress != nil {
					// counted under the lock, so the calls come in order
					progressMu.Lock()
					done++
					opts.Progress(done, total)
					progressMu.Unlock()
				}
			}
		}()
	}
feed:
	for m := range models {
		for _, i := range labelled {
			select {
			case jobs <- [2]int{m, i}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	res := &BacktestResult{Labels: map[string]int{}, Errors: map[string]int{}, FirstError: map[string]string{}}
	for _, i := range labelled {
		for k := range examples[i].Label {
			res.Labels[taskOf(k)]++
		}
	}
	for m, model := range models {
		for _, i := range labelled {
			if err := errs[m][i]; err != nil && !errors.Is(err, ErrNotApplicable) {
				if res.Errors[model.Name()] == 0 {
					res.FirstError[model.Name()] = err.Error()
				}
				res.Errors[model.Name()]++
			}
		}
		sc := newScorer(model.Name(), model.Version(), opts.Threshold)
		for _, i := range labelled {
			sc.add(&examples[i], preds[m][i])
		}
		res.Scores = append(res.Scores, sc.scores()...)
		res.Cranes = append(res.Cranes, sc.craneScores()...)
	}
	res.Scores = append(res.Scores, baselines(examples, labelled)...)
	return res, nil
}

// taskOf is the task of a label key.
func taskOf(label string) string {
	name, _, _ := strings.Cut(label, "@")
	if name == LabelFinishDays {
		return TaskFinish
	}
	return name
}

// scorer gathers one model's forecasts and outcomes by task.
type scorer struct {
	model, version string
	threshold      float64
	forecast       map[string][]float64
	actual         map[string][]float64
	unanswered     map[string]int
	cranes         map[string]*CraneScore
}

func newScorer(model, version string, threshold float64) *scorer {
	return &scorer{model: model, version: version, threshold: threshold,
		forecast: map[string][]float64{}, actual: map[string][]float64{}, unanswered: map[string]int{}, cranes: map[string]*CraneScore{}}
}

func (s *scorer) put(task string, f, a float64) {
	s.forecast[task] = append(s.forecast[task], f)
	s.actual[task] = append(s.actual[task], a)
}

// add scores one example's prediction (nil when the model gave none).
func (s *scorer) add(ex *Example, p *Prediction) {
	keys := make([]string, 0, len(ex.Label))
	for k := range ex.Label {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the order of the pairs does not change a score, but keeps runs identical
	for _, k := range keys {
		y := ex.Label[k]
		task := taskOf(k)
		_, subject, _ := strings.Cut(k, "@")
		f, ok := s.forecastOf(task, subject, ex, p)
		if !ok {
			s.unanswered[task]++
			continue
		}
		s.put(task, f, y)
		if task == TaskCrane {
			c := s.cranes[subject]
			if c == nil {
				c = &CraneScore{Model: s.model, Crane: subject}
				s.cranes[subject] = c
			}
			c.Forecasts++
			count(&c.Hits, &c.Misses, &c.FalseAlarms, &c.CorrectQuiet, f >= s.threshold, y == 1)
		}
	}
}

// forecastOf reads a prediction's forecast for a task and subject.
func (s *scorer) forecastOf(task, subject string, ex *Example, p *Prediction) (float64, bool) {
	if p == nil {
		return 0, false
	}
	var f float64
	var ok bool
	switch task {
	case TaskFinish:
		var d time.Time
		if d, ok = p.Dates["p50"]; ok {
			f = d.Sub(ex.At).Hours() / 24
		}
	case TaskOnTime:
		f, ok = p.Values["p_on_time"]
	case TaskIncident:
		if f, ok = p.Values["p_incident_30d@"+subject]; !ok && len(ex.View.Sites) == 1 {
			f, ok = p.Values["p_incident_30d"]
		}
	case TaskCrane:
		f, ok = p.Values["p_exceed@"+subject]
	}
	return f, ok && !math.IsNaN(f)
}

func count(hits, misses, falseAlarms, quiet *int, alarm, happened bool) {
	switch {
	case alarm && happened:
		*hits++
	case happened:
		*misses++
	case alarm:
		*falseAlarms++
	default:
		*quiet++
	}
}

// scores are the model's scores, one per task it answered.
func (s *scorer) scores() []Score {
	var out []Score
	for _, task := range Tasks {
		f, a := s.forecast[task], s.actual[task]
		if len(f) == 0 {
			continue
		}
		out = append(out, score(s.model, s.version, task, f, a, s.threshold, s.unanswered[task]))
	}
	return out
}

// score computes a task's figures from its forecasts and outcomes.
func score(model, version, task string, f, a []float64, threshold float64, unanswered int) Score {
	sc := Score{Model: model, Version: version, Task: task, N: len(f), Unanswered: unanswered,
		MAEDays: math.NaN(), Brier: math.NaN(), AUC: math.NaN()}
	if task == TaskFinish {
		sc.MAEDays = MAE(f, a)
		return sc
	}
	y := make([]bool, len(a))
	for i := range a {
		y[i] = a[i] == 1
		if y[i] {
			sc.Positives++
		}
		if task == TaskCrane {
			count(&sc.Hits, &sc.Misses, &sc.FalseAlarms, &sc.CorrectQuiet, f[i] >= threshold, y[i])
		}
	}
	sc.Brier, sc.AUC = Brier(f, y), AUC(f, y)
	return sc
}

func (s *scorer) craneScores() []CraneScore {
	out := make([]CraneScore, 0, len(s.cranes))
	for _, id := range slices.Sorted(mapKeys(s.cranes)) {
		out = append(out, *s.cranes[id])
	}
	return out
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// baselines scores the reference forecasts on the labelled examples.
func baselines(examples []Example, labelled []int) []Score {
	plan, ieac := newScorer(BaselinePlan, "", 0.5), newScorer(BaselineEarnedSchedule, "", 0.5)
	outcomes := map[string][]float64{}
	for _, i := range labelled {
		ex := &examples[i]
		for k, y := range ex.Label {
			if task := taskOf(k); task != TaskFinish {
				outcomes[task] = append(outcomes[task], y)
			}
		}
		a, ok := ex.Label[LabelFinishDays]
		if !ok {
			continue
		}
		if pf := ex.View.Schedule.PlannedFinish; !pf.IsZero() {
			plan.put(TaskFinish, pf.Sub(ex.At).Hours()/24, a)
		}
		if es := EarnedScheduleOf(ex.View); !es.IEACtDate.IsZero() {
			ieac.put(TaskFinish, es.IEACtDate.Sub(ex.At).Hours()/24, a)
		} else {
			ieac.unanswered[TaskFinish]++
		}
	}
	out := append(plan.scores(), ieac.scores()...)
	for _, task := range Tasks {
		a := outcomes[task]
		if len(a) == 0 {
			continue
		}
		var rate float64
		for _, y := range a {
			rate += y
		}
		rate /= float64(len(a))
		f := make([]float64, len(a))
		for i := range f {
			f[i] = rate
		}
		sc := score(BaselineRate, fmt.Sprintf("%.3f", rate), task, f, a, 0.5, 0)
		sc.Hits, sc.Misses, sc.FalseAlarms, sc.CorrectQuiet = 0, 0, 0, 0 // a constant is no alarm
		out = append(out, sc)
	}
	return out
}
