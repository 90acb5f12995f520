package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// forecastCmd forecasts when a project (or any activity network) finishes:
// the analytic PERT answer and a Monte Carlo schedule risk analysis.
func forecastCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("forecast", "--network FILE.csv | --project ID [--url URL | --state FILE] [flags]", stderr)
	network := fs.String("network", "", "forecast this network: CSV with columns activity,optimistic,likely,pessimistic,predecessors (predecessors separated by ;)")
	project := fs.String("project", "", "forecast this project, from a running sitetwin (--url) or a state dump (--state)")
	base := fs.String("url", "http://127.0.0.1:8080", "URL of the running sitetwin to read the project's twin from (GET /api/twins/ID)")
	state := fs.String("state", "", "read the project's twin from this file written by `sitetwin state dump` instead")
	deadline := fs.String("deadline", "", "add P(finish <= D): a duration in the network's unit for --network; a date (2006-01-02) or RFC 3339 time for --project (default: the project's deadline)")
	dist := fs.String("dist", "beta-pert", "activity duration distribution: beta-pert or triangular")
	iterations := fs.Int("iterations", predict.DefaultIterations, "Monte Carlo iterations (at most 10000000)")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same forecast")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	timeout := fs.Duration("timeout", 30*time.Second, "HTTP timeout for --url")
	if _, err := parseFlags(fs, args, getenv, 0); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	switch {
	case (*network == "") == (*project == ""):
		return fmt.Errorf("%w: give exactly one of --network FILE and --project ID", errUsage)
	case *network != "" && (given["url"] || given["state"]):
		return fmt.Errorf("%w: --url and --state read a project's twin; they go with --project, not --network", errUsage)
	case given["url"] && given["state"]:
		return fmt.Errorf("%w: give one of --url (a running sitetwin) and --state (a dump file)", errUsage)
	case *iterations < 1 || *iterations > predict.MaxIterations:
		return fmt.Errorf("%w: --iterations %d: use 1 to %d", errUsage, *iterations, predict.MaxIterations)
	}
	d, err := predict.ParseDist(*dist)
	if err != nil {
		return fmt.Errorf("%w: --dist: %v", errUsage, err)
	}
	sim := predict.SimOptions{Iterations: *iterations, Seed: *seed, Dist: d, Workers: runtime.GOMAXPROCS(0)}
	if *network != "" {
		dl, hasDeadline := 0.0, *deadline != ""
		if hasDeadline {
			dl, err = strconv.ParseFloat(*deadline, 64)
			if err != nil || math.IsNaN(dl) || math.IsInf(dl, 0) {
				return fmt.Errorf("%w: --deadline %q: want a number (a duration in the network's unit)", errUsage, *deadline)
			}
		}
		return forecastNetwork(*network, dl, hasDeadline, sim, *asJSON, stdout)
	}
	opts := predict.DefaultForecastOptions()
	opts.Sim = sim
	if *deadline != "" {
		t, ok := parseDeadline(*deadline)
		if !ok {
			return fmt.Errorf("%w: --deadline %q: want a date (2006-01-02) or an RFC 3339 time", errUsage, *deadline)
		}
		opts.Deadline = t
	}
	var v *twin.ProjectView
	if *state != "" {
		v, err = viewFromDump(*state, *project)
	} else {
		v, err = viewFromAPI(ctx, &http.Client{Timeout: *timeout}, strings.TrimRight(*base, "/"), *project)
	}
	if err != nil {
		return err
	}
	f, err := predict.ForecastProject(v, opts)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSONTo(stdout, f)
	}
	printProjectForecast(stdout, f, d, sim)
	return nil
}

// parseDeadline reads a date (the end of that day in the default rule
// pack's time zone, as the twin reads deadlines) or an RFC 3339 time.
func parseDeadline(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	loc := twin.DefaultRules().Location()
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t.AddDate(0, 0, 1), true
	}
	return time.Time{}, false
}

// networkJSON is the --json output of a network forecast: the analytic
// PERT figures and the Monte Carlo ones, in the network's unit. The
// deadline probabilities are null without --deadline.
type networkJSON struct {
	PERTMean      float64            `json:"pert_mean"`
	PERTVariance  float64            `json:"pert_variance"`
	PDeadlinePERT *float64           `json:"p_deadline_pert"`
	Mean          float64            `json:"mean"`
	P50           float64            `json:"p50"`
	P80           float64            `json:"p80"`
	P90           float64            `json:"p90"`
	PDeadline     *float64           `json:"p_deadline"`
	CriticalPath  []string           `json:"critical_path"`
	Criticality   map[string]float64 `json:"criticality"`
}

func forecastNetwork(file string, deadline float64, hasDeadline bool, sim predict.SimOptions, asJSON bool, stdout io.Writer) error {
	fh, err := os.Open(file)
	if err != nil {
		return err
	}
	defer fh.Close()
	n, err := predict.ParseNetwork(fh)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	pert := predict.AnalyzePERT(n)
	res, err := predict.Simulate(n, sim)
	if err != nil {
		return err
	}
	if asJSON {
		out := networkJSON{
			PERTMean: pert.Mean, PERTVariance: pert.Variance, Mean: res.Mean, P50: res.P50, P80: res.P80, P90: res.P90,
			CriticalPath: n.IDs(pert.CriticalPath), Criticality: map[string]float64{},
		}
		if hasDeadline {
			pp, pm := pert.ProbFinishBy(deadline), res.ProbFinishBy(deadline)
			out.PDeadlinePERT, out.PDeadline = &pp, &pm
		}
		for i, c := range res.Criticality {
			out.Criticality[n.Activity(i).ID] = c
		}
		return writeJSONTo(stdout, out)
	}
	fmt.Fprintf(stdout, "Network %s: %d activities\n\n", file, n.Len())
	fmt.Fprintln(stdout, "Analytic PERT (normal approximation along the mean critical path)")
	fmt.Fprintf(stdout, "  mean %.2f  variance %.2f  sd %.2f\n", pert.Mean, pert.Variance, pert.StdDev())
	fmt.Fprintf(stdout, "  critical path %s\n", strings.Join(n.IDs(pert.CriticalPath), " -> "))
	if hasDeadline {
		fmt.Fprintf(stdout, "  P(T <= %g) = %.4f\n", deadline, pert.ProbFinishBy(deadline))
	}
	fmt.Fprintf(stdout, "\nMonte Carlo (%v, %d iterations, seed %d)\n", sim.Dist, res.Iterations, sim.Seed)
	fmt.Fprintf(stdout, "  mean %.2f  sd %.2f  P50 %.2f  P80 %.2f  P90 %.2f\n", res.Mean, res.StdDev, res.P50, res.P80, res.P90)
	if hasDeadline {
		fmt.Fprintf(stdout, "  P(T <= %g) = %.4f\n", deadline, res.ProbFinishBy(deadline))
	}
	fmt.Fprintln(stdout)
	mark := ""
	if hasDeadline {
		mark = strconv.FormatFloat(deadline, 'g', -1, 64)
	}
	printHistogram(stdout, res, func(x float64) string { return fmt.Sprintf("%9.2f", x) }, deadline, hasDeadline, mark)
	fmt.Fprintln(stdout, "\nCriticality index (share of iterations on a longest path)")
	width := 0
	for i := range n.Len() {
		width = max(width, len(n.Activity(i).ID))
	}
	for i, c := range res.Criticality {
		fmt.Fprintln(stdout, strings.TrimRight(fmt.Sprintf("  %-*s %5.3f %s", width, n.Activity(i).ID, c, bar(c, 1, 30)), " "))
	}
	return nil
}

func printProjectForecast(w io.Writer, f *predict.Forecast, d predict.Dist, sim predict.SimOptions) {
	loc := twin.DefaultRules().Location()
	date := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.In(loc).Format("2006-01-02 15:04")
	}
	// a deadline on a date passes at the midnight that ends it
	deadlineText := func(t time.Time) string {
		if l := t.In(loc); !t.IsZero() && l.Hour() == 0 && l.Minute() == 0 && l.Second() == 0 {
			return "end of " + l.AddDate(0, 0, -1).Format(time.DateOnly)
		}
		return date(t)
	}
	kind := f.Kind
	if kind == "" {
		kind = "kind unknown"
	}
	fmt.Fprintf(w, "Project %s (%s): status date %s (%s)\n", f.Project, kind, date(f.StatusDate), loc)
	fmt.Fprintf(w, "  planned finish %s, deadline %s\n", date(f.PlannedFinish), deadlineText(f.Deadline))
	if es := f.Earned; es.Known {
		fmt.Fprintf(w, "Earned schedule: ES %.1f d, AT %.1f d, SPI(t) %.3f, SV(t) %+.1f d", es.ESDays, es.ATDays, es.SPIt, es.SVtDays)
		if es.IEACtDays > 0 {
			fmt.Fprintf(w, ", IEAC(t) %.1f d (%s)", es.IEACtDays, date(es.IEACtDate))
		}
		if es.TSPIKnown {
			fmt.Fprintf(w, ", TSPI %.3f", es.TSPI)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "Earned schedule: not known yet (no baseline, or the planned start has not passed)")
	}
	if f.Done {
		fmt.Fprintf(w, "\nEvery milestone is complete: finished %s", date(f.P50))
		if !f.Deadline.IsZero() {
			fmt.Fprintf(w, ", %s the deadline", map[bool]string{true: "meeting", false: "missing"}[f.PDeadline == 1])
		}
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "Remaining work scaled by %.3f = %.2f x uplift %.2f (%s, %+.0f%%) + %.2f / SPI(t) %.3f\n",
		f.Factor, 1-f.Weight, f.Uplift.Factor(), f.Uplift.Class, f.Uplift.UpperPct, f.Weight, f.SPItUsed)
	if f.StartDays > 0 {
		fmt.Fprintf(w, "  work starts at the planned start, in %.1f days\n", f.StartDays)
	}
	fmt.Fprintf(w, "\nForecast finish (Monte Carlo, %v, %d iterations, seed %d)\n", d, f.Sim.Iterations, sim.Seed)
	fmt.Fprintf(w, "  P50 %s   P80 %s   P90 %s\n", date(f.P50), date(f.P80), date(f.P90))
	fmt.Fprintf(w, "  mean %.1f days from the status date; PERT mean %.1f, sd %.1f\n", f.Mean, f.PERTMean, sqrt(f.PERTVariance))
	var dl float64
	if !f.Deadline.IsZero() {
		dl = f.Deadline.Sub(f.StatusDate).Hours() / 24
		fmt.Fprintf(w, "  P(finish by the deadline, %s) = %.3f (PERT %.3f)\n", deadlineText(f.Deadline), f.PDeadline, f.PDeadlinePERT)
	}
	fmt.Fprintln(w)
	printHistogram(w, f.Sim, func(x float64) string { return date(f.StatusDate.Add(time.Duration(x * 24 * float64(time.Hour)))) },
		dl, !f.Deadline.IsZero(), deadlineText(f.Deadline))
	fmt.Fprintf(w, "\nMilestones (critical path %s)\n", strings.Join(f.CriticalPath, " -> "))
	width := 2
	for _, m := range f.Milestones {
		width = max(width, len(m.ID))
	}
	fmt.Fprintf(w, "  %-*s %-11s %9s %11s\n", width, "id", "state", "remaining", "criticality")
	for _, m := range f.Milestones {
		line := fmt.Sprintf("  %-*s %-11s %7.1f d %11.3f %s", width, m.ID, m.State, m.RemainingDays, m.Criticality, bar(m.Criticality, 1, 20))
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	fmt.Fprintln(w, "\nWhat moved the P50 finish against the planned finish")
	var total float64
	for _, c := range f.Contributions {
		fmt.Fprintf(w, "  %-23s %+8.1f d  %s\n", c.Input, c.Days, c.Note)
		total += c.Days
	}
	fmt.Fprintf(w, "  %-23s %+8.1f d\n", "total", total)
}

// printHistogram prints the simulated durations as 12 bars of fixed width,
// marking the bar that holds the deadline.
func printHistogram(w io.Writer, r *predict.SimResult, label func(float64) string, deadline float64, hasDeadline bool, mark string) {
	bins := r.Histogram(12)
	most := 0
	for _, b := range bins {
		most = max(most, b.Count)
	}
	for i, b := range bins {
		note := ""
		if hasDeadline && deadline >= b.Lo && (deadline < b.Hi || i == len(bins)-1 && deadline <= b.Hi) {
			note = "  <- deadline " + mark
		}
		share := float64(b.Count) / float64(r.Iterations)
		fmt.Fprintf(w, "  %s - %s |%-40s| %5.1f%%%s\n", label(b.Lo), label(b.Hi), bar(float64(b.Count), float64(most), 40), 100*share, note)
	}
}

// bar is a run of '#' of length proportional to x/most, at most width.
func bar(x, most float64, width int) string {
	if most <= 0 || x <= 0 {
		return ""
	}
	n := int(float64(width)*x/most + 0.5)
	return strings.Repeat("#", max(1, min(width, n)))
}

func sqrt(x float64) float64 { return math.Sqrt(max(0, x)) }

// viewFromAPI reads a project's twin from a running sitetwin.
func viewFromAPI(ctx context.Context, hc *http.Client, base, id string) (*twin.ProjectView, error) {
	var v twin.ProjectView
	if err := getJSON(ctx, hc, base+"/api/twins/"+url.PathEscape(id), &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// viewFromDump reads a project's twin from a state dump file.
func viewFromDump(file, id string) (*twin.ProjectView, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	d, err := streams.DecodeDump(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	for _, raw := range d.Twins {
		var head struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &head) != nil || head.ID != id {
			continue
		}
		var p twin.ProjectTwin
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("%s: twin %s: %w", file, id, err)
		}
		return p.View(), nil
	}
	return nil, fmt.Errorf("%s: %w", file, errNoTwin(id))
}

func errNoTwin(id string) error { return errors.New("no twin for project " + strconv.Quote(id)) }

// writeJSONTo writes v as indented JSON.
func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
