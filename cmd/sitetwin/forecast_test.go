package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// The Hillier & Lieberman Reliable Construction Co. network and the bad
// networks live with the predict package's tests.
const scheduleData = "../../predict/testdata/schedule/"

// runForecast runs `sitetwin forecast args...` in-process and returns its
// exit status and output.
func runForecast(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli(context.Background(), append([]string{"forecast"}, args...), &out, &errb, func(string) string { return "" })
	if s := out.String(); strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
		t.Errorf("forecast %v printed NaN or Inf:\n%s", args, s)
	}
	if s := errb.String(); strings.Contains(s, "panic") || strings.Contains(s, "goroutine ") {
		t.Errorf("forecast %v panicked:\n%s", args, s)
	}
	return code, out.String(), errb.String()
}

// TestForecastNetworkJSON checks the --json keys and values on the
// Reliable Construction Co. network: the analytic figures are the
// textbook's (mean 44 weeks, variance 9, P(T <= 47) = Φ(1) = 0.8413), and
// the Monte Carlo ones are reproducible for a seed.
func TestForecastNetworkJSON(t *testing.T) {
	args := []string{"--network", scheduleData + "reliable.csv", "--deadline", "47", "--json", "--seed", "7"}
	code, out, stderr := runForecast(t, args...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{"critical_path", "criticality", "mean", "p50", "p80", "p90", "p_deadline", "p_deadline_pert", "pert_mean", "pert_variance"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys %v, want %v", keys, want)
	}
	num := func(k string) float64 { f, _ := got[k].(float64); return f }
	if num("pert_mean") != 44 || math.Abs(num("pert_variance")-9) > 1e-12 || math.Abs(num("p_deadline_pert")-0.8413) > 5e-5 {
		t.Errorf("PERT: mean %v variance %v P %v, want 44, 9, 0.8413", got["pert_mean"], got["pert_variance"], got["p_deadline_pert"])
	}
	if p := num("p_deadline"); p < 0.80 || p > 0.835 {
		t.Errorf("Monte Carlo P(T <= 47) = %v, want about 0.82", p)
	}
	if m, p50, p80, p90 := num("mean"), num("p50"), num("p80"), num("p90"); m < 44 || m > 45 || !(p50 < p80 && p80 < p90) {
		t.Errorf("mean %v, P50 %v, P80 %v, P90 %v", m, p50, p80, p90)
	}
	if fmt.Sprint(got["critical_path"]) != "[A B C E F J L N]" {
		t.Errorf("critical path %v", got["critical_path"])
	}
	if c := got["criticality"].(map[string]any); c["A"] != 1.0 || c["N"].(float64) < 0.8 || len(c) != 14 {
		t.Errorf("criticality %v", c)
	}
	if _, again, _ := runForecast(t, args...); again != out {
		t.Error("the same seed printed a different forecast")
	}
	// without --deadline the deadline probabilities are null
	_, out, _ = runForecast(t, "--network", scheduleData+"reliable.csv", "--json", "--iterations", "100", "--dist", "triangular")
	if !strings.Contains(out, `"p_deadline": null`) || !strings.Contains(out, `"p_deadline_pert": null`) {
		t.Errorf("no deadline:\n%s", out)
	}
}

func TestForecastNetworkText(t *testing.T) {
	code, out, stderr := runForecast(t, "--network", scheduleData+"reliable.csv", "--deadline", "47")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"14 activities", "mean 44.00  variance 9.00  sd 3.00", "critical path A -> B -> C -> E -> F -> J -> L -> N",
		"P(T <= 47) = 0.8413", "Monte Carlo (beta-pert, 10000 iterations, seed 1)", "<- deadline 47", "Criticality index",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	bars := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.Count(line, "|") == 2 {
			bars++
			if i, j := strings.Index(line, "|"), strings.LastIndex(line, "|"); j-i-1 != 40 {
				t.Errorf("histogram bar not 40 wide: %q", line)
			}
		}
	}
	if bars != 12 {
		t.Errorf("%d histogram bars, want 12:\n%s", bars, out)
	}
}

// TestForecastBadInput checks that a bad network is a clear error naming
// the row (exit 1), and a bad command line a usage error (exit 2).
func TestForecastBadInput(t *testing.T) {
	dir := t.TempDir()
	huge := filepath.Join(dir, "huge.csv")
	if err := os.WriteFile(huge, []byte("activity,optimistic,likely,pessimistic,predecessors\nA,1,2,1e300,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"cyclic network", []string{"--network", scheduleData + "cycle.csv"}, 1,
			`cycle.csv: row 3 (activity "B"), predecessors: cycle B -> C -> D -> B (each must finish before the next starts)`},
		{"missing predecessor", []string{"--network", scheduleData + "missing_predecessor.csv", "--json"}, 1,
			`missing_predecessor.csv: row 4 (activity "C"), predecessors: unknown predecessor "Z"`},
		{"misordered estimates", []string{"--network", scheduleData + "misordered.csv"}, 1,
			`misordered.csv: row 3 (activity "B"), likely: 3 is less than the optimistic 5`},
		{"absurd duration", []string{"--network", huge}, 1, `row 2 (activity "A"), pessimistic: 1e+300 is more than 1e+09`},
		{"no such file", []string{"--network", filepath.Join(dir, "none.csv")}, 1, "no such file"},
		{"no network or project", nil, 2, "give exactly one of --network FILE and --project ID"},
		{"both", []string{"--network", "a.csv", "--project", "P"}, 2, "give exactly one"},
		{"url with a network", []string{"--network", "a.csv", "--url", "http://x"}, 2, "they go with --project"},
		{"url and state", []string{"--project", "P", "--url", "http://x", "--state", "s.json"}, 2, "give one of --url"},
		{"bad distribution", []string{"--network", "a.csv", "--dist", "normal"}, 2, `unknown distribution "normal"`},
		{"no iterations", []string{"--network", "a.csv", "--iterations", "0"}, 2, "--iterations 0"},
		{"bad deadline", []string{"--network", "a.csv", "--deadline", "soon"}, 2, `--deadline "soon"`},
		{"NaN deadline", []string{"--network", "a.csv", "--deadline", "NaN"}, 2, "--deadline"},
		{"bad project deadline", []string{"--project", "P", "--deadline", "47"}, 2, "want a date"},
		{"stray argument", []string{"--network", "a.csv", "extra"}, 2, `unexpected argument "extra"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runForecast(t, tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, stderr, tc.code, tc.want)
			}
		})
	}
}

// forecastTwin is a housing project planned from 1 March 2026 (Shenzhen
// time), A (10 days) then B (20 days); on day 15 A is complete and B 10%
// done (SPI(t) 0.8; see predict.TestForecastWorkedExample).
func forecastTwin(t *testing.T) *twin.ProjectTwin {
	t.Helper()
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	at := func(d float64) time.Time { return start.Add(time.Duration(d * 24 * float64(time.Hour))) }
	rules := twin.DefaultRules()
	p := twin.NewProject("P-forecast", rules)
	for _, e := range []*twin.Event{
		{ID: "reg", Type: twin.TypeProjectRegistered, Time: at(-10), Data: &twin.ProjectRegistered{
			Name: "Forecast Housing", District: "Nanshan", Kind: "housing", Owner: "o", Contractor: "c", Supervisor: "s",
			BudgetCNY: 1e8, PlannedStart: twin.DateWhen(2026, 3, 1), PlannedFinish: twin.DateWhen(2026, 3, 31), Deadline: twin.DateWhen(2026, 4, 5)}},
		{ID: "plan", Type: twin.TypePlanBaselined, Time: at(-5), Data: &twin.PlanBaselined{Milestones: []twin.MilestonePlan{
			{ID: "A", Name: "substructure", OptimisticDays: 8, LikelyDays: 10, PessimisticDays: 14, BudgetShare: 0.4},
			{ID: "B", Name: "superstructure", OptimisticDays: 16, LikelyDays: 20, PessimisticDays: 30, BudgetShare: 0.6, DependsOn: []string{"A"}},
		}}},
		{ID: "done-A", Type: twin.TypeMilestoneCompleted, Time: at(12), Data: &twin.MilestoneCompleted{Milestone: "A"}},
		{ID: "progress-B", Type: twin.TypeProgressReported, Time: at(15), Data: &twin.ProgressReported{Milestone: "B", PercentComplete: 10}},
	} {
		e.Source, e.Project = "test/forecast", p.ID
		b, err := twin.Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		d, err := twin.Decode(b)
		if err != nil {
			t.Fatalf("event %s: %v", e.ID, err)
		}
		if _, err := twin.Apply(p, d, rules); err != nil {
			t.Fatalf("apply %s: %v", e.ID, err)
		}
	}
	return p
}

// TestForecastProject forecasts a project read from a running sitetwin's
// API and from a state dump: both give the same forecast.
func TestForecastProject(t *testing.T) {
	p := forecastTwin(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/twins/P-forecast" {
			w.WriteHeader(http.StatusNotFound)                                                                                                          // as the dashboard answers
			json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf("no twin for project %q", strings.TrimPrefix(r.URL.Path, "/api/twins/"))}) //nolint:errcheck // test server
			return
		}
		json.NewEncoder(w).Encode(p.View()) //nolint:errcheck // test server
	}))
	defer srv.Close()
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	dump, _ := json.Marshal(map[string]any{"format": streams.DumpFormat, "twins": []json.RawMessage{raw}, "city": map[string]any{"events": map[string]any{}, "order": []string{}}})
	file := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(file, dump, 0o644); err != nil {
		t.Fatal(err)
	}

	code, fromAPI, stderr := runForecast(t, "--project", "P-forecast", "--url", srv.URL, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	code, fromDump, stderr := runForecast(t, "--project", "P-forecast", "--state", file, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if fromAPI != fromDump {
		t.Errorf("API and dump differ:\n%s\n%s", fromAPI, fromDump)
	}
	var f map[string]any
	if err := json.Unmarshal([]byte(fromAPI), &f); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"pert_mean", "pert_variance", "p_deadline_pert", "mean", "p50", "p80", "p90", "p_deadline", "critical_path",
		"p50_date", "p80_date", "p90_date", "earned_schedule", "contributions", "milestones", "factor", "uplift"} {
		if _, ok := f[k]; !ok {
			t.Errorf("no key %q in %s", k, fromAPI)
		}
	}
	// the hand-derived figures of the worked example
	if math.Abs(f["pert_mean"].(float64)-21.48174) > 1e-9 || math.Abs(f["factor"].(float64)-1.1366) > 1e-12 || fmt.Sprint(f["critical_path"]) != "[B]" {
		t.Errorf("PERT mean %v, factor %v, critical path %v", f["pert_mean"], f["factor"], f["critical_path"])
	}
	es := f["earned_schedule"].(map[string]any)
	if es["spi_t"] != 0.8 || es["ieac_t_days"] != 37.5 || es["tspi"] != 1.2 {
		t.Errorf("earned schedule %v", es)
	}

	code, text, stderr := runForecast(t, "--project", "P-forecast", "--state", file, "--deadline", "2026-04-10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"Project P-forecast (housing): status date 2026-03-16 00:00 (Asia/Shanghai)", "SPI(t) 0.800", "IEAC(t) 37.5 d", "TSPI 1.200",
		"Remaining work scaled by 1.137 = 0.54 x uplift 1.04 (Standard Buildings, +4%) + 0.46 / SPI(t) 0.800",
		"planned finish 2026-03-31 00:00, deadline end of 2026-04-10", "P(finish by the deadline, end of 2026-04-10)", "<- deadline end of 2026-04-10", "critical path B", "uplift", "spi_t", "remaining_critical_path",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--project", "P-none", "--url", srv.URL}, `404 Not Found: no twin for project "P-none"`},
		{[]string{"--project", "P-none", "--state", file}, `no twin for project "P-none"`},
		{[]string{"--project", "P-forecast", "--state", filepath.Join(t.TempDir(), "none.json")}, "no such file"},
	} {
		if code, _, stderr := runForecast(t, tc.args...); code != 1 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit 1 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
