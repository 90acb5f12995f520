package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// trainCmd fits a model that learns to a recorded history, scores it on the
// held-out end of the history beside the model it replaces, and writes it.
func trainCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("train", "MODEL --history FILE --out DIR [--holdout F]", stderr)
	var hf historyFlags
	hf.register(fs)
	out := fs.String("out", "", "directory to write the trained model to (created if missing); `run --trained DIR` and `backtest --trained DIR` load it")
	holdout := fs.Float64("holdout", 0.25, "share of the samples, the latest, kept out of training to score the trained model on (0 trains on all)")
	pos, err := parseFlags(fs, args, getenv, 1)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: name the model to train (trainable: %s)", errUsage, trainableNames())
	}
	if *out == "" {
		return fmt.Errorf("%w: --out DIR is required", errUsage)
	}
	if !(*holdout >= 0 && *holdout < 1) {
		return fmt.Errorf("%w: --holdout must be from 0 to below 1", errUsage)
	}
	hist, rules, err := hf.read(ctx, stderr)
	if err != nil {
		return err
	}
	m, ok := predict.NewRegistry(rules).Get(pos[0])
	if !ok {
		return fmt.Errorf("%w: no built-in model %q", errUsage, pos[0])
	}
	tr, ok := m.(predict.Trainer)
	if !ok {
		return fmt.Errorf("%w: model %q does not learn from history (trainable: %s)", errUsage, pos[0], trainableNames())
	}
	train, test := splitByTime(hist.Examples, *holdout)
	if len(train) == 0 {
		return fmt.Errorf("no training examples: the history is too short for --holdout %g", *holdout)
	}
	began := time.Now()
	fitted, err := tr.Train(ctx, train)
	if err != nil {
		return fmt.Errorf("train %s: %w", pos[0], err)
	}
	fmt.Fprintf(stderr, "trained %s %s on %d examples in %s\n", fitted.Name(), fitted.Version(), len(train), time.Since(began).Round(time.Millisecond))
	if len(test) > 0 {
		fmt.Fprintf(stdout, "held out: %d examples from %s\n", len(test), test[0].At.Format(time.DateOnly))
		res, err := predict.Backtest(ctx, test, []predict.Model{renamed{fitted, fitted.Name() + " (trained)"}, m}, predict.BacktestOptions{})
		if err != nil {
			return err
		}
		writeBacktest(stdout, res, 0.5)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	s, ok := fitted.(predict.Saver)
	if !ok {
		return fmt.Errorf("model %s cannot be saved", fitted.Name())
	}
	file, err := predict.SaveTrained(*out, s)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", file)
	return nil
}

// splitByTime keeps the examples of the latest share of the labelled
// sample times for testing and the earlier ones for training: a model is
// scored on a future it did not see, as it will be used. (The last samples
// of a history have no labels yet: the split is among those that do.)
func splitByTime(ex []predict.Example, holdout float64) (train, test []predict.Example) {
	var times []time.Time
	for _, e := range ex {
		if len(e.Label) > 0 && !slices.ContainsFunc(times, e.At.Equal) {
			times = append(times, e.At)
		}
	}
	if holdout == 0 || len(times) < 2 {
		return ex, nil
	}
	slices.SortFunc(times, time.Time.Compare)
	cut := times[len(times)-max(1, int(float64(len(times))*holdout+0.5))]
	for _, e := range ex {
		if e.At.Before(cut) {
			train = append(train, e)
		} else if len(e.Label) > 0 {
			test = append(test, e)
		}
	}
	return train, test
}

// trainableNames lists the built-in models that learn.
func trainableNames() string {
	var names []string
	reg := predict.NewRegistry(twin.DefaultRules())
	for _, m := range reg.Models() {
		if _, ok := m.(predict.Trainer); ok {
			names = append(names, m.Name())
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return fmt.Sprint(names)
}

// renamed shows a model under another name (in a side-by-side score).
type renamed struct {
	predict.Model
	name string
}

func (r renamed) Name() string { return r.name }

// loadTrained puts the models trained into dir in the registry, in place
// of the built-ins of the same name, or beside them.
func loadTrained(reg *predict.Registry, dir string) error {
	models, err := predict.LoadTrained(dir)
	if err != nil {
		return fmt.Errorf("--trained: %w", err)
	}
	if len(models) == 0 {
		return fmt.Errorf("%w: --trained %s: no trained model there (write one with `sitetwin train`)", errUsage, dir)
	}
	for _, m := range models {
		if err := reg.Replace(m); err != nil {
			return fmt.Errorf("--trained: %w", err)
		}
	}
	return nil
}
