package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"

	"github.com/sitetwin/sitetwin/twin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "goka peer:", err)
		os.Exit(1)
	}
}

// config is what the command line sets.
type config struct {
	brokers []string
	topics  []string
	group   string
	events  int
	timeout time.Duration
}

// run parses the command line, runs the peer until it has applied the
// events asked for, and prints the result as one JSON line on stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("goka-peer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: go run . --brokers HOST:PORT --topics T1,T2,... --group NAME --events N [--timeout 10m]")
		fs.PrintDefaults()
	}
	brokers := fs.String("brokers", "", "Kafka bootstrap brokers, comma-separated (required)")
	topics := fs.String("topics", "", "input topics, comma-separated, all with the same partition count (required)")
	group := fs.String("group", "", "goka group: the consumer group, and the prefix of the -table, -loop, -alerts and -outbox topics; use a fresh one per run (required)")
	events := fs.Int("events", 0, "input records to apply before printing the result (required)")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up, exiting 1, when not done by then")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := config{brokers: split(*brokers), topics: split(*topics), group: *group, events: *events, timeout: *timeout}
	if len(cfg.brokers) == 0 || len(cfg.topics) == 0 || cfg.group == "" || cfg.events < 1 || cfg.timeout <= 0 || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("--brokers, --topics, --group and --events (at least 1) are required, --timeout must be positive, and nothing else may follow")
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.timeout, fmt.Errorf("--timeout %s reached", cfg.timeout))
	defer cancel()
	return runPeer(ctx, cfg, stderr, func(r Result) error {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	})
}

func split(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// stopWait bounds how long the processor may take to stop once the
// result is out.
const stopWait = 30 * time.Second

// runPeer starts the goka processor, waits until it has applied
// cfg.events input records, hands the result to report, and stops the
// processor. It returns an error when the processor fails, or when ctx
// ends, before that.
func runPeer(ctx context.Context, cfg config, stderr io.Writer, report func(Result) error) error {
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	in, err := start(ctx, cfg, logger, log.New(stderr, "goka: ", log.LstdFlags|log.Lmicroseconds))
	if err != nil {
		return err
	}
	defer in.halt()
	t := in.peer.track
	progress := time.NewTicker(10 * time.Second)
	defer progress.Stop()
	for {
		select {
		case <-t.done:
			r := t.result()
			_, rejected := t.counts()
			logger.Info("done", "events", r.Events, "not_applied", rejected, "seconds", r.Seconds, "events_per_s", r.EventsPerS, "p50_ms", r.P50ms, "p99_ms", r.P99ms)
			return report(r)
		case err := <-in.errc:
			applied, _ := t.counts()
			if err == nil {
				err = errors.New("it returned")
			}
			return fmt.Errorf("goka processor stopped after applying %d of %d events: %w", applied, cfg.events, err)
		case <-ctx.Done():
			applied, rejected := t.counts()
			return fmt.Errorf("applied %d of %d events (%d of them not applicable): %w", applied, cfg.events, rejected, context.Cause(ctx))
		case <-progress.C:
			applied, rejected := t.counts()
			logger.Info("progress", "applied", applied, "of", cfg.events, "not_applied", rejected)
		}
	}
}

// instance is a running goka processor of the peer.
type instance struct {
	peer *peer
	proc *goka.Processor
	errc chan error // Run's result
	stop context.CancelFunc
	log  *slog.Logger
	once sync.Once
}

// start waits for the input topics, creates the output topics, and starts
// the processor. The processor runs until halt; ctx bounds the start only.
func start(ctx context.Context, cfg config, logger *slog.Logger, gokaLog *log.Logger) (*instance, error) {
	scfg, tmc := saramaConfig(), topicManagerConfig()
	npar, err := waitForTopics(ctx, cfg.brokers, cfg.topics, scfg, func(f string, a ...any) { logger.Info(fmt.Sprintf(f, a...)) })
	if err != nil {
		return nil, err
	}
	p := &peer{
		rules:  twin.DefaultRules(),
		alerts: goka.Stream(cfg.group + "-alerts"),
		outbox: goka.Stream(cfg.group + "-outbox"),
		track:  newTracker(cfg.events, time.Now),
		log:    logger,
	}
	if err := ensureOutputs(cfg.brokers, scfg, tmc, npar, p.alerts, p.outbox); err != nil {
		return nil, err
	}
	proc, err := goka.NewProcessor(cfg.brokers, p.graph(cfg.group, cfg.topics), options(scfg, tmc, gokaLog)...)
	if err != nil {
		return nil, fmt.Errorf("goka processor: %w", err)
	}
	logger.Info("goka peer started", "group", cfg.group, "topics", cfg.topics, "partitions", npar, "events", cfg.events)
	pctx, stop := context.WithCancel(context.Background())
	in := &instance{peer: p, proc: proc, errc: make(chan error, 1), stop: stop, log: logger}
	go func() { in.errc <- proc.Run(pctx) }()
	return in, nil
}

// halt stops the processor and waits, at most stopWait, until it has. It
// may be called more than once.
func (in *instance) halt() {
	in.once.Do(func() {
		in.stop()
		select {
		case err := <-in.errc:
			if err != nil {
				in.log.Warn("goka processor stopped with an error", "err", err)
			}
		case <-time.After(stopWait):
			in.log.Warn("goka processor did not stop in time", "waited", stopWait)
		}
	})
}

// ensureOutputs creates the output topics with goka's topic manager, with
// the input topics' partition count (goka creates the table and loopback
// topics itself, but not output topics).
func ensureOutputs(brokers []string, scfg *sarama.Config, tmc *goka.TopicManagerConfig, npar int, topics ...goka.Stream) error {
	c := *scfg
	c.ClientID = "goka-topic-manager"
	tm, err := goka.NewTopicManager(brokers, &c, tmc)
	if err != nil {
		return fmt.Errorf("goka topic manager: %w", err)
	}
	defer tm.Close()
	for _, t := range topics {
		if err := tm.EnsureStreamExists(string(t), npar); err != nil {
			return fmt.Errorf("create output topic %s: %w", t, err)
		}
	}
	return nil
}
