package streams

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// Predictions. After an event changes a twin, the models that need that
// event type run: cheap ones inline on the worker's goroutine, expensive ones
// (Monte Carlo, ensembles, remote models) on a bounded pool, debounced per
// twin and model (at most one run in flight; events meanwhile ask for one
// more run with a fresh view). A result goes back to the twin through the
// poll loop, into the open transaction: the twin records it
// (twin.RecordPrediction) and the risks it raises become alerts. A sensor
// reading asks for a run only when it changed an alarm.

// predJob is one expensive model run.
type predJob struct {
	model     predict.Model
	view      *twin.ProjectView
	partition int32
	offset    int64
}

// predResult is a finished run, for the poll loop.
type predResult struct {
	partition int32
	project   string
	model     string
	pred      *twin.Prediction
	err       error
	took      time.Duration
}

// predictor runs expensive models on a bounded pool.
type predictor struct {
	e       *Engine
	jobs    chan predJob
	results chan predResult
	wg      sync.WaitGroup
	cancel  context.CancelFunc
}

// startPredictor starts the pool when the engine has models.
func (e *Engine) startPredictor() {
	if e.cfg.Models == nil || len(e.cfg.Models.Names()) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &predictor{e: e, jobs: make(chan predJob, e.cfg.PredictQueue), results: make(chan predResult, e.cfg.PredictQueue), cancel: cancel}
	for range e.cfg.PredictWorkers {
		p.wg.Go(func() { p.run(ctx) })
	}
	e.pred = p
}

func (p *predictor) stop() {
	p.cancel()
	p.wg.Wait()
}

// run executes jobs until ctx ends.
func (p *predictor) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-p.jobs:
			jctx, cancel := context.WithTimeout(ctx, p.e.cfg.PredictTimeout)
			start := time.Now()
			pred, err := j.model.Predict(jctx, j.view)
			cancel()
			if pred != nil {
				pred.Offset = j.offset
			}
			r := predResult{partition: j.partition, project: j.view.ID, model: j.model.Name(), pred: pred, err: err, took: time.Since(start)}
			select {
			case p.results <- r:
			case <-ctx.Done():
				return
			}
		}
	}
}

// predictionResults takes the finished runs so far, without waiting.
func (e *Engine) predictionResults() []predResult {
	if e.pred == nil {
		return nil
	}
	var out []predResult
	for {
		select {
		case r := <-e.pred.results:
			out = append(out, r)
		default:
			return out
		}
	}
}

// dueKey names a debounced run: a twin and a model.
type dueKey struct{ project, model string }

// trigger runs or schedules the models an applied event concerns. It runs
// on the worker's goroutine.
func (w *worker) trigger(p *twin.ProjectTwin, ev *twin.Event, eff twin.Effects) {
	var view *twin.ProjectView
	for _, m := range w.e.cfg.Models.After(ev, eff) {
		if m.Cost() == predict.Expensive {
			w.due[dueKey{p.ID, m.Name()}] = w.cur
			continue
		}
		if view == nil {
			view = p.View()
		}
		start := time.Now()
		pred, err := m.Predict(context.Background(), view)
		w.e.observePrediction(m.Name(), err, time.Since(start))
		if err == nil && pred != nil {
			pred.Offset = w.cur
			w.record(p, pred)
		}
	}
}

// submitDue hands the due expensive runs to the pool, one in flight per
// twin and model; a run that cannot be queued now stays due.
func (w *worker) submitDue() {
	if w.e.pred == nil || len(w.due) == 0 {
		return
	}
	keys := make([]dueKey, 0, len(w.due))
	for k := range w.due {
		if !w.inflight[k] {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b dueKey) int {
		if a.project != b.project {
			if a.project < b.project {
				return -1
			}
			return 1
		}
		if a.model < b.model {
			return -1
		}
		if a.model > b.model {
			return 1
		}
		return 0
	})
	for _, k := range keys {
		p, ok := w.twins[k.project]
		m, ok2 := w.e.cfg.Models.Get(k.model)
		if !ok || !ok2 {
			delete(w.due, k)
			continue
		}
		select {
		case w.e.pred.jobs <- predJob{model: m, view: p.View(), partition: w.partition, offset: w.due[k]}:
			w.inflight[k] = true
			delete(w.due, k)
		default:
			w.e.metrics.predDeferred.Inc()
			return // the pool is full: try again after the next batch
		}
	}
}

// finish records a finished run on its twin (if it is still here) and
// schedules another run if events asked for one meanwhile.
func (w *worker) finish(r predResult) {
	k := dueKey{r.project, r.model}
	delete(w.inflight, k)
	w.e.observePrediction(r.model, r.err, r.took)
	if r.err == nil && r.pred != nil {
		if p, ok := w.twin(r.project); ok {
			w.record(p, r.pred)
		}
	}
	w.submitDue()
}

// record keeps a prediction on its twin and produces the alerts of the
// risks it raised.
func (w *worker) record(p *twin.ProjectTwin, pred *twin.Prediction) {
	alerts, err := twin.RecordPrediction(p, pred, w.e.cfg.Rules)
	if err != nil {
		w.e.log.Warn("prediction not recorded", "project", p.ID, "model", pred.Model, "err", err)
		return
	}
	w.dirty[p.ID] = true
	w.touched[p.ID] = true
	for i := range alerts {
		b, _ := json.Marshal(&alerts[i])
		w.produce(&kgo.Record{Topic: w.e.cfg.Topics.Alerts(), Partition: w.partition, Key: []byte(p.ID), Value: b})
	}
	w.alerts = append(w.alerts, alerts...)
}

// observePrediction counts a model run.
func (e *Engine) observePrediction(model string, err error, took time.Duration) {
	outcome := "ok"
	switch {
	case errors.Is(err, predict.ErrNotApplicable):
		outcome = "not_applicable"
	case err != nil:
		outcome = "error"
		e.log.Warn("model failed", "model", model, "err", err)
	}
	e.metrics.predictions.WithLabelValues(model, outcome).Inc()
	e.metrics.predSeconds.WithLabelValues(model).Observe(took.Seconds())
}
