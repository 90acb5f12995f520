package predict

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Model predicts something about a project from a read-only view of its
// twin: its delay, its sites' incident risk, its cranes' typhoon wind.
//
// Built-in models are pure and ignore the context; a model that calls out
// (a remote HTTP model) honours its cancellation and deadline. Predict must
// not modify the view (it is shared), may be called from several goroutines
// at once, and returns ErrNotApplicable when the twin lacks what the model
// needs (no baseline, no cranes, no advisory).
type Model interface {
	// Name is the model's registry name, e.g. "delay".
	Name() string
	// Version changes whenever the model's output for the same input may
	// change; predictions carry it.
	Version() string
	// Cost says whether the engine may run the model inline on every change
	// (Cheap) or must debounce it onto its worker pool (Expensive).
	Cost() Cost
	// Needs lists the event types after which the model's prediction may
	// change; the engine runs it only after those (nil: after any event).
	Needs() []string
	// Predict returns the model's prediction for a twin.
	Predict(ctx context.Context, v *twin.ProjectView) (*Prediction, error)
}

// Cost is how expensive a model is to run.
type Cost int

// Costs.
const (
	// Cheap models run inline on every change of their twin.
	Cheap Cost = iota
	// Expensive models (Monte Carlo, ensembles, remote calls) run
	// debounced per twin on a bounded worker pool.
	Expensive
)

// ErrNotApplicable is returned by Predict when the twin lacks what the model
// needs; the engine records no prediction and raises nothing.
var ErrNotApplicable = errors.New("model not applicable to this twin")

// Prediction is what a model says about a twin, with the contribution of
// each input (the twin keeps the latest of each model and raises risks from
// it: twin.RecordPrediction).
type Prediction = twin.Prediction

// Effect is the contribution of one input to a prediction.
type Effect = twin.Effect

// Trainer is a model that learns from history. The engine never trains;
// `sitetwin train` does, and writes the artifact a model loads.
type Trainer interface {
	Model
	// Train fits the model to labelled examples, blocking until done or
	// until ctx ends, and returns the trained model.
	Train(ctx context.Context, examples []Example) (Model, error)
}

// Example is one labelled training example: the view of a twin at a moment
// and what actually happened next.
type Example struct {
	// At is when the example was taken (ReadHistory's sample time); the
	// view's clock is its project's newest event, at or before At.
	At    time.Time
	View  *twin.ProjectView
	Label map[string]float64 // e.g. "incident_30d@S-001-1": 1, "finish_days": 412 (see the Label constants)
}

// Registry is a set of models by name. A registry is a value: NewRegistry
// gives one with the built-in models; &Registry{} is an empty one (for
// tests). It is safe for concurrent use.
type Registry struct {
	mu     sync.RWMutex
	models map[string]Model
}

// ErrDuplicate is returned by Register for a name already registered.
var ErrDuplicate = errors.New("model already registered")

// Register adds a model; a second model of the same name is an error.
func (r *Registry) Register(m Model) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.Name() == "" {
		return errors.New("register model: empty name")
	}
	if _, ok := r.models[m.Name()]; ok {
		return fmt.Errorf("register model %q: %w", m.Name(), ErrDuplicate)
	}
	if r.models == nil {
		r.models = map[string]Model{}
	}
	r.models[m.Name()] = m
	return nil
}

// Get returns the model of a name.
func (r *Registry) Get(name string) (Model, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	m, ok := r.models[name]
	return m, ok
}

// Names returns the registered names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.models))
	for n := range r.models {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Models returns the registered models, sorted by name.
func (r *Registry) Models() []Model {
	out := []Model{}
	for _, n := range r.Names() {
		m, _ := r.Get(n)
		out = append(out, m)
	}
	return out
}

// After returns the models to run once an event has been applied with these
// effects, sorted by name: those that need the event's type (or every
// type), and none after a duplicate or after a sensor reading that changed
// no alarm (readings are the bulk of the stream, and a model's inputs move
// only when an alarm does). Runtimes run the Cheap ones at once and
// debounce the Expensive ones.
func (r *Registry) After(ev *twin.Event, eff twin.Effects) []Model {
	if r == nil || eff.Duplicate || ev.Type == twin.TypeSensorReading && len(eff.Alerts) == 0 {
		return nil
	}
	var out []Model
	for _, m := range r.Models() {
		if needs := m.Needs(); needs == nil || slices.Contains(needs, ev.Type) {
			out = append(out, m)
		}
	}
	return out
}
