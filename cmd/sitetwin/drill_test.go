package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/scenarios"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

func drillCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = cli(context.Background(), append([]string{"drill", "run"}, args...), &out, &errb, func(string) string { return "" })
	return code, out.String(), errb.String()
}

func readOut(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, f := range []string{"timeline.json", "plan.json", "report.html"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

// TestDrillRunSimulatedCity: a ready drill over the simulated city writes
// its three files, byte for byte the same on a second run.
func TestDrillRunSimulatedCity(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	file := "../../scenarios/examples/hato_2017.json"
	for _, dir := range []string{a, b} {
		code, stdout, stderr := drillCLI(t, file, "--projects", "15", "--seed", "1", "--members", "5", "--quiet", "--out", dir)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, "drill hato-2017 on the simulated city of 15 projects") || !strings.Contains(stdout, "incidents") {
			t.Fatalf("stdout: %s", stdout)
		}
	}
	x, y := readOut(t, a), readOut(t, b)
	for f := range x {
		if !bytes.Equal(x[f], y[f]) {
			t.Errorf("%s differs between two runs", f)
		}
	}
	var tl scenarios.Timeline
	if err := json.Unmarshal(x["timeline.json"], &tl); err != nil || len(tl.Steps) != 432 || tl.Format != scenarios.TimelineFormat {
		t.Fatalf("timeline: %v, %d steps", err, len(tl.Steps))
	}
	var pl scenarios.Plan
	if err := json.Unmarshal(x["plan.json"], &pl); err != nil || len(pl.Actions) == 0 {
		t.Fatalf("plan: %v, %d actions", err, len(pl.Actions))
	}
	for i := 1; i < len(pl.Actions); i++ {
		if pl.Actions[i].Due.Before(pl.Actions[i-1].Due) {
			t.Fatalf("plan not by deadline at %d", i)
		}
	}
}

// TestDrillRunState: a drill forks the twins of a state dump, as `state
// dump` writes it.
func TestDrillRunState(t *testing.T) {
	city, err := citysim.New(citysim.Config{Projects: 10, Seed: 1, Start: time.Date(2026, 9, 14, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	twins, err := scenarios.CityTwins(city, twin.DefaultRules())
	if err != nil {
		t.Fatal(err)
	}
	d := &streams.Dump{Format: streams.DumpFormat}
	for _, p := range twins {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		d.Twins = append(d.Twins, b)
	}
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(dump, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	code, stdout, stderr := drillCLI(t, "../../scenarios/examples/crane_collapse.json", "--state", dump, "--quiet", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "on state dump") || !strings.Contains(stdout, "incidents 1: 1 served") {
		t.Fatalf("stdout: %s", stdout)
	}
	readOut(t, out)
}

// TestDrillRunBadInput: errors name the field and nothing is written.
func TestDrillRunBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"name": "x", "kind": "fire", "duration": "1h", "step": "10m",
		"incident": {"site": "P-999-S1", "after": "10m"}, "resources": {"teams": [{"id": "t", "capabilities": ["fire"]}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	code, _, stderr := drillCLI(t, bad, "--projects", "5", "--quiet", "--out", out)
	if code == 0 || !strings.Contains(stderr, "resources.teams[0].base") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if err := os.WriteFile(bad, []byte(`{"name": "x", "kind": "fire", "duration": "1h", "step": "10m",
		"incident": {"site": "P-999-S1", "after": "10m"}, "resources": {"teams": []}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = drillCLI(t, bad, "--projects", "5", "--quiet", "--out", out)
	if code == 0 || !strings.Contains(stderr, "incident.site") || !strings.Contains(stderr, "P-999-S1") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("output written for a bad scenario: %v", err)
	}
	if code, _, _ := drillCLI(t, bad); code != 2 {
		t.Fatalf("no --out: exit %d, want 2", code)
	}
}
