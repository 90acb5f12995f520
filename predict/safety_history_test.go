package predict

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// The safety model on a simulated history. Off unless -safety.history
// names one; see predict/README.md (Safety) for the command that trains the
// shipped model and produced the figures there.
var (
	safetyHistory = flag.String("safety.history", "", "history (NDJSON, plain or gzip, from sitetwin simulate) to evaluate the safety model on")
	safetyFrom    = flag.String("safety.from", "", "first sample of the history (RFC 3339 or YYYY-MM-DD); empty: ReadHistory's default (a week after the first sensor reading)")
	safetyOptions = flag.String("safety.options", "", "safety options as JSON (empty: the defaults)")
	safetyUpdate  = flag.Bool("safety.update", false, "train on the whole history and write models/safety.model.json")
)

func TestSafetyHistory(t *testing.T) {
	if *safetyHistory == "" {
		t.Skip("no -safety.history")
	}
	ctx := context.Background()
	f, err := os.Open(*safetyHistory)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts := HistoryOptions{Rules: twin.DefaultRules()}
	if *safetyFrom != "" {
		if opts.From, err = time.Parse(time.RFC3339, *safetyFrom); err != nil {
			if opts.From, err = time.Parse(time.DateOnly, *safetyFrom); err != nil {
				t.Fatalf("-safety.from: %v", err)
			}
		}
	}
	start := time.Now()
	h, err := ReadHistory(ctx, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("history: %d events (%d rejected), %d samples from %s, %d examples, %d incidents, read in %s",
		h.Events, h.Rejected, len(h.Samples), h.Samples[0].Format(time.DateOnly), len(h.Examples), h.Incidents, time.Since(start).Round(time.Second))
	so := DefaultSafetyOptions()
	if *safetyOptions != "" {
		if err := json.Unmarshal([]byte(*safetyOptions), &so); err != nil {
			t.Fatalf("-safety.options: %v", err)
		}
	}
	byProject := func() (train, test []Example) { return SplitByProject(h.Examples, 0.3) }
	byTime := func() (train, test []Example) {
		cut := h.Samples[len(h.Samples)-len(h.Samples)*3/10]
		for _, ex := range h.Examples {
			if ex.At.Before(cut) {
				train = append(train, ex)
			} else {
				test = append(test, ex)
			}
		}
		t.Logf("time split: test from %s", cut.Format(time.DateOnly))
		return train, test
	}
	var b strings.Builder
	for _, split := range []struct {
		name string
		f    func() (train, test []Example)
	}{{"30% of projects held out", byProject}, {"latest 30% of samples held out", byTime}} {
		start = time.Now()
		train, test := split.f()
		ev, err := EvaluateSafety(ctx, train, test, so)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: evaluated in %s", split.name, time.Since(start).Round(time.Second))
		fmt.Fprintf(&b, "\n%s: train %d sites (%d incidents within 30 days), test %d (%d)\n\n",
			split.name, ev.TrainRows, ev.TrainPositives, ev.TestRows, ev.TestPositives)
		fmt.Fprintf(&b, "| model | ROC AUC | Brier | mean P (rate %.4f) |\n| --- | ---: | ---: | ---: |\n", float64(ev.TestPositives)/float64(ev.TestRows))
		for _, s := range []SafetyScore{ev.Forest, ev.Logistic, ev.BaseRate} {
			fmt.Fprintf(&b, "| %s | %.3f | %.5f | %.4f |\n", s.Model, s.AUC, s.Brier, s.MeanP)
		}
	}
	t.Log(b.String())
	if *safetyUpdate {
		m, _ := NewSafetyModel(so)
		tm, err := m.TrainSafety(ctx, h.Examples)
		if err != nil {
			t.Fatal(err)
		}
		out, err := tm.MarshalModel()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("models/safety.model.json", out, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote models/safety.model.json: version %s, %+v", tm.Version(), tm.Training())
	}
}
