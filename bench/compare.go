package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/streams"
)

// The compare scenario runs the e2e workload for three contenders, one
// after the other, on one broker, each on fresh topics (its own prefix)
// with the same records (the same bytes, keys and partitions) produced the
// same way: sitetwin with exactly-once on, sitetwin with it off, and the
// goka peer (bench/peers/goka, a module of its own, built and run as a
// separate process).
//
// The peer says when it has applied the number of records it was given
// (the bootstrap's and the live ones) by printing one JSON line, with the
// p50/p99 latency from record timestamp to application over all of them.
// So that the figures compare like with like:
//   - events/s of every contender is measured here, the same way: live
//     events over the time from the first live produce until the last is
//     applied (for the peer: until its line arrives);
//   - the bootstrap is produced once the contender has joined its group
//     (sitetwin: the engine is ready; the peer: its group is stable), and
//     the live events once it has applied the bootstrap (the peer: its
//     group has committed offsets up to the bootstrap's end);
//   - sitetwin's p99 in the comparison is over the same records as the
//     peer's, bootstrap and live; its live-only p99 is reported too.

// compareFigures is what compare --json prints. The first six keys are the
// issue's; the _alo keys are the same for sitetwin with exactly-once off.
type compareFigures struct {
	Events              int     `json:"events"`
	SitetwinEventsPerS  float64 `json:"sitetwin_events_per_s"`
	PeerEventsPerS      float64 `json:"peer_events_per_s"`
	Ratio               float64 `json:"ratio"`
	SitetwinP99ms       float64 `json:"sitetwin_p99_ms"`
	PeerP99ms           float64 `json:"peer_p99_ms"`
	SitetwinALOEventsPS float64 `json:"sitetwin_alo_events_per_s"`
	RatioALO            float64 `json:"ratio_alo"`
	SitetwinALOP99ms    float64 `json:"sitetwin_alo_p99_ms"`
	// P99Ratio is sitetwin's p99 over the peer's (below 1: sitetwin's is lower).
	P99Ratio    float64 `json:"p99_ratio"`
	P99RatioALO float64 `json:"p99_ratio_alo"`
	// live events only (the e2e scenario's p99)
	SitetwinLiveP99ms    float64 `json:"sitetwin_live_p99_ms"`
	SitetwinALOLiveP99ms float64 `json:"sitetwin_alo_live_p99_ms"`
	// the peer's own figures (from its first applied record to its last,
	// bootstrap included)
	PeerReportedEventsPerS float64 `json:"peer_reported_events_per_s"`
	PeerP50ms              float64 `json:"peer_p50_ms"`
	BootstrapEvents        int     `json:"bootstrap_events"`
	Projects               int     `json:"projects"`
	Partitions             int     `json:"partitions"`
	Rate                   float64 `json:"rate"`
	Broker                 string  `json:"broker"`
}

func compareScenario(ctx context.Context, args []string, out io.Writer) error {
	fs := flagSet("compare")
	var f e2eFlags
	f.register(fs, 1000000)
	asJSON := fs.Bool("json", false, "print the figures as one JSON object on stdout (progress goes to stderr)")
	peerDir := fs.String("peer", "bench/peers/goka", "the goka peer's module directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := f.check(); err != nil {
		return err
	}
	progress := out
	if *asJSON {
		progress = os.Stderr
	}
	// the peer first: a missing one fails before anything is measured
	tmp, err := os.MkdirTemp("", "sitetwin-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	peerBin, err := buildPeer(ctx, *peerDir, tmp, progress)
	if err != nil {
		return err
	}
	w, addr, stop, err := f.setUp(ctx, progress)
	if err != nil {
		return err
	}
	defer stop()

	load := loadAverage()
	var rs []e2eResult
	for _, eo := range []bool{true, false} {
		fmt.Fprintf(progress, "sitetwin, %s, broker %s at %s, producing %s ...\n", modeName(eo), f.broker, addr, f.rateText())
		r, err := runSitetwin(ctx, addr, w, engineRun{exactlyOnce: eo}, "cmp-"+shortMode(eo), f.rate, progress)
		if err != nil {
			return fmt.Errorf("sitetwin %s: %w", modeName(eo), err)
		}
		rs = append(rs, r)
	}
	fmt.Fprintf(progress, "goka peer, broker %s at %s, producing %s ...\n", f.broker, addr, f.rateText())
	peer, err := runPeer(ctx, peerBin, addr, w, "cmp-goka", f.rate, tmp, progress)
	if err != nil {
		return fmt.Errorf("goka peer: %w", err)
	}

	eos, alo := rs[0], rs[1]
	ms := func(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }
	fig := compareFigures{
		Events:             f.events,
		SitetwinEventsPerS: round3(eos.eventsPerS()), PeerEventsPerS: round3(peer.eventsPerS()),
		SitetwinP99ms: ms(quantile(eos.all(), 0.99)), PeerP99ms: peer.report.P99ms,
		SitetwinALOEventsPS: round3(alo.eventsPerS()), SitetwinALOP99ms: ms(quantile(alo.all(), 0.99)),
		SitetwinLiveP99ms: ms(quantile(eos.applied[phaseLive], 0.99)), SitetwinALOLiveP99ms: ms(quantile(alo.applied[phaseLive], 0.99)),
		PeerReportedEventsPerS: peer.report.EventsPerS, PeerP50ms: peer.report.P50ms,
		BootstrapEvents: len(w.boot), Projects: f.projects, Partitions: f.partitions, Rate: f.rate, Broker: f.broker,
	}
	fig.Ratio = ratio(fig.SitetwinEventsPerS, fig.PeerEventsPerS)
	fig.RatioALO = ratio(fig.SitetwinALOEventsPS, fig.PeerEventsPerS)
	fig.P99Ratio = ratio(fig.SitetwinP99ms, fig.PeerP99ms)
	fig.P99RatioALO = ratio(fig.SitetwinALOP99ms, fig.PeerP99ms)
	js, err := json.Marshal(fig)
	if err != nil {
		return err
	}

	var sb strings.Builder
	fmt.Fprintf(&sb, "Broker: %s. Produce rate: %s. %d projects, %d partitions; sitetwin checkpoints every %s (the default), models off. "+
		"The contenders ran one after the other on the same broker, each on its own topics with the same records. Load average at the start: %s.\n\n",
		brokerText(f.broker), f.rateText(), f.projects, f.partitions, streams.DefaultCheckpointInterval, load)
	fmt.Fprintf(&sb, "| contender | live events | events/s sustained | vs goka | produce → applied p99, bootstrap and live | vs goka | p99, live only |\n")
	fmt.Fprintf(&sb, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(&sb, "| sitetwin, exactly-once | %d | **%.0f** | %.2f× | %.1f ms | %.2f× | %.1f ms |\n", f.events, fig.SitetwinEventsPerS, fig.Ratio, fig.SitetwinP99ms, fig.P99Ratio, fig.SitetwinLiveP99ms)
	fmt.Fprintf(&sb, "| sitetwin, at-least-once | %d | **%.0f** | %.2f× | %.1f ms | %.2f× | %.1f ms |\n", f.events, fig.SitetwinALOEventsPS, fig.RatioALO, fig.SitetwinALOP99ms, fig.P99RatioALO, fig.SitetwinALOLiveP99ms)
	fmt.Fprintf(&sb, "| goka v1.1.13 (peer) | %d | **%.0f** | 1 | %.1f ms | 1 | – |\n\n", f.events, fig.PeerEventsPerS, fig.PeerP99ms)
	fmt.Fprintf(&sb, "The sitetwin runs in detail:\n\n")
	e2eTable(&sb, rs)
	fmt.Fprintf(&sb, "\nThe peer's own figures (from its first applied record to its %d-th, bootstrap included): %.0f events/s, p50 %.1f ms, p99 %.1f ms.\n\n",
		peer.report.Events, peer.report.EventsPerS, peer.report.P50ms, peer.report.P99ms)
	fmt.Fprintf(&sb, "`--json`:\n\n```json\n%s\n```\n", js)
	fmt.Fprint(&sb, e2eNotes)
	if *asJSON {
		fmt.Fprintf(out, "%s\n", js)
	} else {
		fmt.Fprintf(out, "\n%s", sb.String())
	}
	command := fmt.Sprintf("go run ./bench compare --json --events %d --projects %d --partitions %d --rate %g --broker %s", f.events, f.projects, f.partitions, f.rate, f.broker)
	return appendResults(f.results, "compare: sitetwin and goka", command, sb.String())
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return round3(a / b)
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// buildPeer builds the goka peer's command into dir and returns its path,
// or says that the peer is missing.
func buildPeer(ctx context.Context, peerDir, dir string, out io.Writer) (string, error) {
	if _, err := os.Stat(filepath.Join(peerDir, "go.mod")); err != nil {
		return "", fmt.Errorf("the goka peer is missing: no module at %s (bench/peers/goka, a Go module of its own; see issue #9): %w", peerDir, err)
	}
	bin, err := filepath.Abs(filepath.Join(dir, "goka-peer"))
	if err != nil {
		return "", err
	}
	fmt.Fprintf(out, "building the goka peer (%s) ...\n", peerDir)
	if err := goBuild(ctx, peerDir, bin, "."); err != nil {
		return "", fmt.Errorf("the goka peer does not build: %w", err)
	}
	return bin, nil
}

// peerReport is the JSON line the peer prints when done.
type peerReport struct {
	Events     int     `json:"events"`
	Seconds    float64 `json:"seconds"`
	EventsPerS float64 `json:"events_per_s"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
}

// peerResult is the peer's run: measured here, and as it reported.
type peerResult struct {
	events int           // live events
	took   time.Duration // first live produce → its result line
	report peerReport
}

func (r peerResult) eventsPerS() float64 { return float64(r.events) / r.took.Seconds() }

// runPeer runs the peer on fresh topics of the prefix: it starts the peer,
// produces the bootstrap once the peer's group is stable and the live
// events once the group has committed the bootstrap, and times the peer's
// result line.
func runPeer(ctx context.Context, bin, addr string, w *workload, prefix string, rate float64, dir string, out io.Writer) (res peerResult, err error) {
	res.events = len(w.live)
	topics := streams.Topics{Prefix: prefix}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.MetadataMinAge(100*time.Millisecond))
	if err != nil {
		return res, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := streams.EnsureTopics(ctx, adm, topics, streams.TopicOptions{Partitions: w.partitions}); err != nil {
		return res, err
	}
	logFile := filepath.Join(dir, prefix+".log")
	logw, err := os.Create(logFile)
	if err != nil {
		return res, err
	}
	defer logw.Close()
	group := prefix
	// The peer applies about a thousand records a second on this workload
	// (see bench/peers/goka/README.md): give it ten minutes and a
	// millisecond per record, not its own ten-minute default, which a
	// million records would outlast.
	n := len(w.boot) + len(w.live)
	timeout := 10*time.Minute + time.Duration(n)*time.Millisecond
	cmd := exec.Command(bin, "--brokers", addr, "--topics", strings.Join(topics.Inputs(), ","), "--group", group,
		"--events", strconv.Itoa(n), "--timeout", timeout.String())
	cmd.Stderr = logw
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return res, err
	}
	if err := cmd.Start(); err != nil {
		return res, fmt.Errorf("start the peer: %w", err)
	}
	lines := make(chan string, 1)
	exited := make(chan struct{})
	var waitErr error
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default: // one line is expected; more are dropped
			}
		}
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Signal(os.Interrupt) //nolint:errcheck // it may have exited meanwhile
			select {
			case <-exited:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill() //nolint:errcheck // it may have exited meanwhile
				<-exited
			}
		}
		if err != nil {
			err = fmt.Errorf("%w (the peer's log: %s)", err, tail(logFile, 2000))
		}
	}()
	exitedEarly := func() error { return fmt.Errorf("the peer exited early (%v)", waitErr) }

	// the bootstrap, once the peer's group is stable
	if err := pollUntil(ctx, exited, 2*time.Minute, "the peer's group to be stable", func() (bool, error) {
		gs, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			return false, nil // not there yet
		}
		g, ok := gs[group]
		return ok && g.Err == nil && g.State == "Stable" && len(g.Members) > 0, nil
	}); err != nil {
		return res, err
	}
	prod, err := newProducer(addr, topics)
	if err != nil {
		return res, err
	}
	defer prod.close()
	// the registrations first, the rest once the peer has committed them
	// (see runSitetwin)
	reg := w.registryCount()
	for i, part := range [][]encoded{w.boot[:reg], w.boot[reg:]} {
		if _, err := prod.produce(ctx, part, rate); err != nil {
			return res, err
		}
		what := []string{"the peer to commit the bootstrap's registrations", "the peer to commit the rest of the bootstrap"}[i]
		if err := waitCommitted(ctx, adm, group, topics, exited, what); err != nil {
			return res, err
		}
	}
	fmt.Fprintf(out, "  bootstrap of %d events applied and committed; producing %d live events ...\n", len(w.boot), len(w.live))

	t0, err := prod.produce(ctx, w.live, rate)
	if err != nil {
		return res, err
	}
	limit := 10*time.Minute + time.Duration(len(w.live))*time.Millisecond
	select {
	case line := <-lines:
		res.took = time.Since(t0)
		if err := json.Unmarshal([]byte(line), &res.report); err != nil {
			return res, fmt.Errorf("the peer's result %q: %w", line, err)
		}
	case <-exited:
		return res, exitedEarly()
	case <-time.After(limit):
		return res, fmt.Errorf("the peer printed no result within %s of the live events", limit)
	}
	select {
	case <-exited:
		if waitErr != nil {
			return res, fmt.Errorf("the peer failed after its result: %w", waitErr)
		}
	case <-time.After(time.Minute):
		return res, errors.New("the peer did not exit within a minute of its result")
	}
	if want := len(w.boot) + len(w.live); res.report.Events != want {
		return res, fmt.Errorf("the peer reports %d events applied, want %d", res.report.Events, want)
	}
	fmt.Fprintf(out, "  goka peer: %d live events in %s (%.0f events/s), p99 produce → applied %.1f ms (its own, bootstrap included)\n",
		res.events, res.took.Round(time.Millisecond), res.eventsPerS(), res.report.P99ms)
	return res, nil
}

// waitCommitted waits until the group has committed offsets up to the
// end of every input partition that holds records.
func waitCommitted(ctx context.Context, adm *kadm.Client, group string, topics streams.Topics, exited <-chan struct{}, what string) error {
	ends, err := adm.ListEndOffsets(ctx, topics.Inputs()...)
	if err != nil {
		return fmt.Errorf("input end offsets: %w", err)
	}
	return pollUntil(ctx, exited, 5*time.Minute, what, func() (bool, error) {
		committed, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false, nil // nothing committed yet
		}
		all := true
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err != nil || o.Offset == 0 {
				return
			}
			if c, ok := committed.Lookup(o.Topic, o.Partition); !ok || c.Err != nil || c.At < o.Offset {
				all = false
			}
		})
		return all, nil
	})
}

// pollUntil polls cond every 50ms until it holds, it fails, the process
// exits (exited closed), ctx ends or the deadline passes.
func pollUntil(ctx context.Context, exited <-chan struct{}, deadline time.Duration, what string, cond func() (bool, error)) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	limit := time.After(deadline)
	for {
		ok, err := cond()
		switch {
		case err != nil:
			return fmt.Errorf("waiting for %s: %w", what, err)
		case ok:
			return nil
		}
		select {
		case <-t.C:
		case <-exited:
			return fmt.Errorf("the peer exited while waiting for %s", what)
		case <-ctx.Done():
			return ctx.Err()
		case <-limit:
			return fmt.Errorf("%s: not after %s", what, deadline)
		}
	}
}

// tail returns the last n bytes of a file (or why it cannot).
func tail(file string, n int64) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return strings.TrimSpace(string(b))
}
