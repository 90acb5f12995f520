package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var historyDir string // of smallHistory; removed by TestMain

// smallHistory writes (once per test binary) a simulated history of 6
// projects and 40 days: the first sample is 7 days after the first
// readings, so the samples of the first 10 days have incident labels.
var smallHistory = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "sitetwin-history-")
	if err != nil {
		return "", err
	}
	historyDir = dir
	file := filepath.Join(dir, "history.ndjson.gz")
	var out, errOut bytes.Buffer
	if code := cli(context.Background(), []string{"simulate", "--out", file, "--projects", "6", "--days", "40", "--seed", "3"}, &out, &errOut, func(string) string { return "" }); code != 0 {
		return "", &cliError{code, errOut.String()}
	}
	return file, nil
})

// TestMain removes the shared history after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if historyDir != "" {
		os.RemoveAll(historyDir)
	}
	os.Exit(code)
}

type cliError struct {
	code   int
	stderr string
}

func (e *cliError) Error() string { return e.stderr }

func history(t *testing.T) string {
	t.Helper()
	f, err := smallHistory()
	if err != nil {
		t.Fatalf("simulate: %v", err)
	}
	return f
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli(context.Background(), args, &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

func TestBacktestCommand(t *testing.T) {
	file := history(t)
	code, out, stderr := runCLI(t, "backtest", "--history", file, "--models", "delay,typhoon", "--workers", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, stderr)
	}
	for _, want := range []string{"TASK", "MODEL", "BRIER", "incident_30d", "baseline:base rate", "crane_exceed: no labels in this history: no typhoon advisory"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the table:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "replaying") || !strings.Contains(stderr, "100%") || !strings.Contains(stderr, "examples") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
	// the same history and flags give the same table
	if _, again, _ := runCLI(t, "backtest", "--history", file, "--models", "delay,typhoon", "--workers", "1"); again != out {
		t.Errorf("two backtests differ:\n%s\n%s", out, again)
	}
}

func TestBacktestCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.ndjson")
	os.WriteFile(bad, []byte("{\"specversion\":\"1.0\"}\n"), 0o644)
	empty := filepath.Join(dir, "empty.ndjson")
	os.WriteFile(empty, nil, 0o644)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no history", []string{"backtest"}, 2, "--history FILE is required"},
		{"missing file", []string{"backtest", "--history", filepath.Join(dir, "nope")}, 2, "no such file"},
		{"bad line", []string{"backtest", "--history", bad}, 1, "history line 1"},
		{"empty", []string{"backtest", "--history", empty}, 1, "yields no examples"},
		{"no models", []string{"backtest", "--history", bad, "--models", "none"}, 2, "no models to score"},
		{"unknown model", []string{"backtest", "--history", history(t), "--models", "oracle"}, 2, `no built-in model "oracle"`},
		{"threshold", []string{"backtest", "--history", bad, "--threshold", "2"}, 2, "--threshold"},
		{"bad every", []string{"backtest", "--history", bad, "--every", "-1h"}, 2, "--every"},
		{"train nothing", []string{"train", "--history", bad, "--out", dir}, 2, "name the model to train"},
		{"train delay", []string{"train", "delay", "--history", history(t), "--out", dir}, 2, `model "delay" does not learn`},
		{"train no out", []string{"train", "safety", "--history", bad}, 2, "--out DIR is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d (want %d), stderr %q (want %q); stdout %s", code, tt.code, stderr, tt.want, out)
			}
		})
	}
}

// TestTrainCommand: train safety on the early samples of a history, score
// it on the held-out ones beside the built-in, write it; backtest and run
// load it with --trained.
func TestTrainCommand(t *testing.T) {
	file := history(t)
	dir := t.TempDir()
	code, out, stderr := runCLI(t, "train", "safety", "--history", file, "--out", dir, "--every", "72h", "--holdout", "0.3")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, stderr)
	}
	for _, want := range []string{"held out:", "safety (trained)", "incident_30d", "wrote " + filepath.Join(dir, "safety.model.json")} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "trained safety") {
		t.Errorf("no training line on stderr:\n%s", stderr)
	}
	code, out, stderr = runCLI(t, "backtest", "--history", file, "--models", "none", "--trained", dir, "--every", "72h")
	if code != 0 || !strings.Contains(out, "incident_30d  safety") {
		t.Fatalf("backtest --trained: exit %d\n%s\n%s", code, out, stderr)
	}
	// a directory with a file of a model that does not learn is refused, naming it
	os.WriteFile(filepath.Join(dir, "oracle.model.json"), []byte("{}"), 0o644)
	if code, _, stderr := runCLI(t, "backtest", "--history", file, "--trained", dir); code != 1 || !strings.Contains(stderr, "oracle.model.json") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	empty := t.TempDir()
	if code, _, stderr := runCLI(t, "backtest", "--history", file, "--trained", empty); code != 2 || !strings.Contains(stderr, "no trained model there") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}
