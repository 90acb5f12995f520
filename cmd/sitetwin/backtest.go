package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

// historyFlags are the flags shared by train and backtest: which history,
// under which rules, sampled how.
type historyFlags struct {
	history, rules, from string
	every                time.Duration
}

func (h *historyFlags) register(fs interface {
	StringVar(*string, string, string, string)
	DurationVar(*time.Duration, string, time.Duration, string)
}) {
	fs.StringVar(&h.history, "history", "", "recorded events, one CloudEvent per line (plain or gzip), e.g. from `sitetwin simulate`")
	fs.StringVar(&h.rules, "rules", "", "rule pack file (JSON); default the built-in Shenzhen pack")
	fs.DurationVar(&h.every, "every", 7*24*time.Hour, "time between samples of the twins")
	fs.StringVar(&h.from, "from", "", "first sample (a date or RFC 3339 time); default 7 days after the first sensor reading")
}

// read replays the history with a progress bar on stderr.
func (h *historyFlags) read(ctx context.Context, stderr io.Writer) (*predict.History, *twin.Rules, error) {
	if h.history == "" {
		return nil, nil, fmt.Errorf("%w: --history FILE is required (write one with `sitetwin simulate --out FILE`)", errUsage)
	}
	if h.every <= 0 {
		return nil, nil, fmt.Errorf("%w: --every must be positive", errUsage)
	}
	rules, err := loadRules(h.rules)
	if err != nil {
		return nil, nil, err
	}
	var from time.Time
	if h.from != "" {
		if from, err = parseStart(h.from); err != nil {
			return nil, nil, fmt.Errorf("--from: %w", err)
		}
	}
	f, err := os.Open(h.history)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: --history: %v", errUsage, err)
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	bar := newProgress(stderr, "replaying "+h.history)
	hist, err := predict.ReadHistory(ctx, f, predict.HistoryOptions{Rules: rules, Every: h.every, From: from,
		Progress: func(n int64) { bar.update(n, size, fmt.Sprintf("%s of %s", size2(n), size2(size))) }})
	bar.done()
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(stderr, "%d events from %s to %s (%d rejected, as the engine would dead-letter them), %d incidents; %d samples, %d examples\n",
		hist.Events, hist.First.Format(time.DateOnly), hist.End.Format(time.DateOnly), hist.Rejected, hist.Incidents, len(hist.Samples), len(hist.Examples))
	for _, r := range hist.Rejections {
		fmt.Fprintf(stderr, "  rejected %s\n", r)
	}
	if len(hist.Examples) == 0 {
		return nil, nil, fmt.Errorf("the history yields no examples: it needs sensor readings and more than %s of events after the first sample", h.every)
	}
	return hist, rules, nil
}

// backtestCmd scores models on a recorded history.
func backtestCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("backtest", "--history FILE [--models LIST] [--model name=URL ...] [--trained DIR]", stderr)
	var hf historyFlags
	hf.register(fs)
	list := fs.String("models", "all", "built-in models to score (comma-separated, or all)")
	var remotes remoteFlags
	fs.Var(&remotes, "model", "also score a remote model, name=http://host/path (repeatable)")
	timeout := fs.Duration("model-timeout", 5*time.Second, "timeout of each remote model call")
	trained := fs.String("trained", "", "directory of models written by `sitetwin train`; they replace the built-ins of the same name")
	workers := fs.Int("workers", 0, "predictions run in parallel (default: the CPUs)")
	threshold := fs.Float64("threshold", 0.5, "crane alarm threshold on P(exceed)")
	if _, err := parseFlags(fs, args, getenv, 0); err != nil {
		return err
	}
	if !(*threshold > 0 && *threshold <= 1) {
		return fmt.Errorf("%w: --threshold must be in (0, 1]", errUsage)
	}
	if *list == "none" && len(remotes) == 0 && *trained == "" {
		return fmt.Errorf("%w: no models to score", errUsage)
	}
	hist, rules, err := hf.read(ctx, stderr)
	if err != nil {
		return err
	}
	reg, err := buildRegistry(*list, remotes, *timeout, rules)
	if err != nil {
		return err
	}
	if *trained != "" {
		if err := loadTrained(reg, *trained); err != nil {
			return err
		}
	}
	bar := newProgress(stderr, "predicting")
	res, err := predict.Backtest(ctx, hist.Examples, reg.Models(), predict.BacktestOptions{Workers: *workers, Threshold: *threshold,
		Progress: func(done, total int) { bar.update(int64(done), int64(total), fmt.Sprintf("%d of %d", done, total)) }})
	bar.done()
	if err != nil {
		return err
	}
	writeBacktest(stdout, res, *threshold)
	return nil
}

// writeBacktest prints the scores side by side, then the cranes.
func writeBacktest(w io.Writer, res *predict.BacktestResult, threshold float64) {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	var missing []string
	fmt.Fprintln(tw, "TASK\tMODEL\tVERSION\tN\tOUTCOMES\tMAE DAYS\tBRIER\tAUC\tHIT/MISS/FALSE\tUNANSWERED")
	for _, task := range predict.Tasks {
		any := false
		for _, s := range res.Scores {
			if s.Task != task {
				continue
			}
			any = true
			pos, hmf := "", ""
			if task != predict.TaskFinish {
				pos = fmt.Sprintf("%d", s.Positives)
			}
			if task == predict.TaskCrane && !strings.HasPrefix(s.Model, "baseline:") {
				hmf = fmt.Sprintf("%d/%d/%d", s.Hits, s.Misses, s.FalseAlarms)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n", task, s.Model, s.Version, s.N, pos, fig(s.MAEDays, 1), fig(s.Brier, 4), fig(s.AUC, 3), hmf, s.Unanswered)
		}
		if !any {
			missing = append(missing, fmt.Sprintf("%s: no labels in this history%s", task, noLabelsWhy(task)))
		}
	}
	tw.Flush()
	for _, m := range missing {
		fmt.Fprintln(w, m)
	}
	for m, n := range res.Errors {
		fmt.Fprintf(w, "%s failed on %d examples; the first: %s\n", m, n, res.FirstError[m])
	}
	if len(res.Cranes) == 0 {
		return
	}
	fmt.Fprintf(w, "\nCranes (alarm at P(exceed) >= %g; hit: alarm and the jib wind went above the in-service limit within 72 h):\n", threshold)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEL\tCRANE\tFORECASTS\tHITS\tMISSES\tFALSE ALARMS\tQUIET")
	for _, c := range res.Cranes {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\n", c.Model, c.Crane, c.Forecasts, c.Hits, c.Misses, c.FalseAlarms, c.CorrectQuiet)
	}
	tw.Flush()
}

func noLabelsWhy(task string) string {
	switch task {
	case predict.TaskFinish:
		return ": no project finished after a sample; simulate more days"
	case predict.TaskOnTime:
		return ": no project finished or passed its deadline after a sample"
	case predict.TaskIncident:
		return ": it must run 30 days past a sample"
	case predict.TaskCrane:
		return ": no typhoon advisory was active at a sample"
	}
	return ""
}

// fig formats a figure, "-" when undefined.
func fig(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

// size2 is a byte count for a progress line.
func size2(n int64) string {
	if n <= 0 {
		return "0 B"
	}
	return size(n)
}

// progressBar draws a progress bar on a terminal line: redrawn in place at
// most 5 times a second, ended by done.
type progressBar struct {
	mu     sync.Mutex
	w      io.Writer
	label  string
	last   time.Time
	shown  bool
	latest string
}

func newProgress(w io.Writer, label string) *progressBar { return &progressBar{w: w, label: label} }

// update redraws the bar at n of total with a note.
func (p *progressBar) update(n, total int64, note string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.shown && now.Sub(p.last) < 200*time.Millisecond && n < total {
		return
	}
	p.last, p.shown = now, true
	frac := 0.0
	if total > 0 {
		frac = min(1, float64(n)/float64(total))
	}
	const width = 30
	fill := int(frac * width)
	p.latest = fmt.Sprintf("\r%s [%s%s] %3.0f%% %s", p.label, strings.Repeat("#", fill), strings.Repeat(".", width-fill), frac*100, note)
	fmt.Fprint(p.w, p.latest)
}

// done ends the bar's line.
func (p *progressBar) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintln(p.w)
	}
}
