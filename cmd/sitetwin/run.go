package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/dashboard"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// The engine's store is the dashboard's state source.
var _ dashboard.Source = (*streams.Store)(nil)

// runConfig is what `sitetwin run` is told by its flags and environment.
type runConfig struct {
	HTTP        string
	KafkaListen string
	Brokers     []string // empty: run the embedded broker
	DataDir     string
	Projects    int
	Rate        float64
	Seed        int64
	Partitions  int
	RulesFile   string
	Group       string
	LogLevel    string
	LogFormat   string
	StatsEvery  time.Duration
	Checkpoint  time.Duration
	ViewEvery   time.Duration
	ExactlyOnce bool
	Instance    string
	Session     time.Duration
	Retention   time.Duration
	Models      string
	Remotes     remoteFlags
	ModelWait   time.Duration
	Trained     string
	TokensFile  string
	Open        bool
	Origins     []string
	FilingURL   string
	FundsURL    string
	SendTries   int
	SendBackoff time.Duration
	SendTimeout time.Duration
	Influx      influxFlags
	DrillSpeed  float64
	// DrillIdle is how long the events of a drill started by another
	// process may stop before the dashboard shows it as done (no flag;
	// tests shorten it). 0: defaultDrillIdle, 2 minutes.
	DrillIdle time.Duration
}

func parseRunFlags(args []string, stderr io.Writer, getenv env) (runConfig, error) {
	var c runConfig
	var brokers, origins string
	fs := flagSet("run", "[flags]", stderr)
	fs.StringVar(&c.HTTP, "http", "127.0.0.1:8080", "HTTP API and page address")
	fs.StringVar(&c.KafkaListen, "kafka-listen", "127.0.0.1:9092", "address of the embedded Kafka-protocol broker")
	fs.StringVar(&brokers, "brokers", "", "comma-separated Kafka brokers to use instead of the embedded broker")
	fs.StringVar(&c.DataDir, "data-dir", "./sitetwin-data", "where the embedded broker keeps its data (empty: in memory)")
	fs.IntVar(&c.Projects, "projects", 300, "projects in the simulated city (0: no simulation)")
	fs.Float64Var(&c.Rate, "rate", 100, "simulated live events per second (0: none after the initial registration)")
	fs.Int64Var(&c.Seed, "seed", 1, "seed of the simulated city")
	fs.IntVar(&c.Partitions, "partitions", 6, "partitions of topics sitetwin creates")
	fs.StringVar(&c.RulesFile, "rules", "", "rule pack file (JSON); default the built-in Shenzhen pack (see `sitetwin rules`)")
	fs.StringVar(&c.Group, "group", "sitetwin", "Kafka consumer group of the engine")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.DurationVar(&c.StatsEvery, "stats-every", 5*time.Second, "how often to log a stats line (0: never)")
	fs.DurationVar(&c.Checkpoint, "checkpoint-every", streams.DefaultCheckpointInterval, "how often a transaction commits twin snapshots, outputs and consumed offsets together")
	fs.DurationVar(&c.ViewEvery, "view-every", 0, "hand the API and dashboards the changed twins' state this often, before its checkpoint commits (a failed checkpoint may take it back; alerts still wait for the commit); 0: show committed state only")
	fs.BoolVar(&c.ExactlyOnce, "exactly-once", true, "commit outputs and consumed offsets in one Kafka transaction per checkpoint; false: flush outputs, then commit offsets (faster; after a crash the events since the last checkpoint are applied again and their alerts and outbox requests may be written twice)")
	fs.StringVar(&c.Instance, "instance", "", "stable name of this process in the consumer group (default: host name and HTTP port); a restarted process with the same name takes its partitions back at once")
	fs.DurationVar(&c.Session, "session-timeout", 10*time.Second, "how long the group waits for a silent process before moving its partitions")
	fs.StringVar(&c.Models, "models", "delay,safety,typhoon", "built-in prediction models to run (comma-separated; all; none); see `sitetwin models`")
	fs.Var(&c.Remotes, "model", "a remote prediction model, name=http://host/path (repeatable; see the README for its JSON)")
	fs.StringVar(&c.Trained, "trained", "", "directory of models written by `sitetwin train`: run in place of the built-ins of the same name (or beside them)")
	fs.DurationVar(&c.ModelWait, "model-timeout", 10*time.Second, "how long one model run may take (a remote model's request)")
	fs.StringVar(&c.TokensFile, "tokens", "", "file of API tokens, one `TOKEN ROLE [UNIT]` per line (ROLE regulator, contractor or public); also SITETWIN_TOKENS_FILE. Without it and without --open, a loopback --http address serves openly and any other address gets a generated regulator token printed in the log")
	fs.BoolVar(&c.Open, "open", false, "serve the API, websocket and page without tokens, everyone a regulator (a local demo only)")
	fs.StringVar(&origins, "allow-origin", "", "comma-separated origins (scheme://host:port) whose pages may open the websocket, besides this server's own")
	fs.DurationVar(&c.Retention, "retention", 7*24*time.Hour, "retention of the topics sitetwin creates, but the compacted twin-state (0: the broker's default)")
	fs.StringVar(&c.FilingURL, "filing-url", "", "base URL of the filing platform (e.g. one run by sitetwin serve filing); with it or --funds-url, run drains the outbox to the platforms")
	fs.StringVar(&c.FundsURL, "funds-url", "", "base URL of the fund-supervision platform (e.g. one run by sitetwin serve funds)")
	fs.IntVar(&c.SendTries, "send-attempts", 8, "attempts to deliver an outbox request before it is recorded as undelivered")
	fs.DurationVar(&c.SendBackoff, "send-backoff", 250*time.Millisecond, "wait after the first failed attempt; doubles after each further one (at most 30s)")
	fs.DurationVar(&c.SendTimeout, "send-timeout", 10*time.Second, "timeout of one request to a platform")
	c.Influx.register(fs)
	fs.Float64Var(&c.DrillSpeed, "drill-speed", 0, "live drills (POST /api/drills): simulated seconds per second, e.g. 600 runs a 72-hour drill in 7.2 minutes (0: as fast as it computes)")
	if _, err := parseFlags(fs, args, getenv, 0); err != nil {
		return c, err
	}
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			c.Brokers = append(c.Brokers, b)
		}
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.Origins = append(c.Origins, o)
		}
	}
	if c.TokensFile == "" {
		c.TokensFile = getenv("SITETWIN_TOKENS_FILE")
	}
	switch {
	case c.Projects < 0 || c.Projects > 100000:
		return c, fmt.Errorf("%w: --projects must be from 0 to 100000", errUsage)
	case c.Rate < 0:
		return c, fmt.Errorf("%w: --rate must not be negative", errUsage)
	case c.Partitions < 1 || c.Partitions > 1000:
		return c, fmt.Errorf("%w: --partitions must be from 1 to 1000", errUsage)
	case c.Checkpoint <= 0:
		return c, fmt.Errorf("%w: --checkpoint-every must be positive", errUsage)
	case c.ViewEvery < 0:
		return c, fmt.Errorf("%w: --view-every must not be negative", errUsage)
	case c.Session < 6*time.Second:
		return c, fmt.Errorf("%w: --session-timeout must be at least 6s", errUsage)
	case strings.ContainsAny(c.Instance, " \t"):
		return c, fmt.Errorf("%w: --instance must not contain spaces", errUsage)
	case c.DrillSpeed < 0:
		return c, fmt.Errorf("%w: --drill-speed must not be negative", errUsage)
	case c.Open && c.TokensFile != "":
		return c, fmt.Errorf("%w: --open and --tokens exclude each other", errUsage)
	}
	return c, nil
}

func runCmd(ctx context.Context, args []string, _, stderr io.Writer, getenv env) error {
	cfg, err := parseRunFlags(args, stderr, getenv)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return err
	}
	a, err := startApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	return a.Wait()
}

// defaultInstance names the process after its host and HTTP port, so that
// two processes on one host differ and a restarted one keeps its name.
func defaultInstance(httpAddr string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "sitetwin"
	}
	if _, port, err := net.SplitHostPort(httpAddr); err == nil && port != "" && port != "0" {
		return host + "-" + port
	}
	return host
}

func loadRules(file string) (*twin.Rules, error) {
	if file == "" {
		return twin.DefaultRules(), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read rule pack: %w", err)
	}
	return twin.ParseRules(b)
}

// dashboardAuth decides who may use the HTTP API: the tokens of the tokens
// file; everyone with --open; and with neither, everyone if the address is
// loopback (so that the quick start shows the dashboard at once, and only
// to this machine), else a regulator token generated now and printed in
// the log (never an open API on a network by default). It returns the
// page's URL to log, with a generated token in its fragment.
func dashboardAuth(cfg runConfig, addr string, log *slog.Logger) (*dashboard.Tokens, bool, string, error) {
	url := "http://" + addr + "/"
	switch {
	case cfg.TokensFile != "":
		b, err := os.ReadFile(cfg.TokensFile)
		if err != nil {
			return nil, false, "", fmt.Errorf("tokens file: %w", err)
		}
		t, err := dashboard.ParseTokens(b)
		if err != nil {
			return nil, false, "", fmt.Errorf("tokens file %s: %w", cfg.TokensFile, err)
		}
		log.Info("api tokens loaded", "file", cfg.TokensFile, "tokens", t.Len())
		return t, false, url, nil
	case cfg.Open:
		log.Warn("!!! --open: the API, websocket and page need NO TOKEN; everyone who can reach " + addr + " is a regulator and sees every project's funds and hazards. For a local demo only; use --tokens FILE otherwise !!!")
		return nil, true, url, nil
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			log.Warn("!!! no --tokens file: serving WITHOUT AUTHENTICATION on the loopback address " + addr + " only (a local demo); anyone on this machine is a regulator. Use --tokens FILE before listening on a network !!!")
			return nil, true, url, nil
		}
	}
	var raw [24]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, false, "", fmt.Errorf("generate a token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	t, err := dashboard.ParseTokens([]byte(tok + " regulator\n"))
	if err != nil {
		return nil, false, "", fmt.Errorf("generated token: %w", err)
	}
	log.Warn("no --tokens file and a non-loopback address: generated a regulator token for this run; open the dashboard at the url, or send `Authorization: Bearer TOKEN`", "token", tok, "url", url+"#token="+tok)
	return t, false, url + "#token=" + tok, nil
}

// app is a running `sitetwin run`.
type app struct {
	HTTPAddr  string // where the HTTP API listens
	KafkaAddr string // the brokers the engine uses
	Engine    *streams.Engine
	log       *slog.Logger
	broker    *streams.Broker
	group     *errgroup.Group
	cancel    context.CancelFunc
	stopped   context.Context // ends when the app is told to stop
}

// startApp starts the broker (unless brokers are given), the engine, the
// HTTP API, the simulated city and the stats line. It returns once they
// listen; Wait returns when ctx ends and everything has stopped.
func startApp(ctx context.Context, cfg runConfig, log *slog.Logger) (a *app, err error) {
	rules, err := loadRules(cfg.RulesFile)
	if err != nil {
		return nil, err
	}
	a = &app{log: log}
	started := a // a is nil once a failure returns
	defer func() {
		if err != nil && started.broker != nil {
			started.broker.Close()
		}
	}()
	brokers := cfg.Brokers
	if len(brokers) == 0 {
		if cfg.DataDir != "" {
			if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
				return nil, fmt.Errorf("data dir: %w", err)
			}
		}
		b, err := streams.NewBroker(streams.BrokerConfig{Listen: cfg.KafkaListen, DataDir: cfg.DataDir, Partitions: cfg.Partitions, Logger: log})
		if err != nil {
			return nil, err
		}
		a.broker = b
		brokers = []string{b.Addr()}
		log.Info("kafka broker listening", "addr", b.Addr(), "data_dir", cfg.DataDir)
	} else {
		log.Info("using Kafka cluster", "brokers", strings.Join(brokers, ","))
	}
	a.KafkaAddr = strings.Join(brokers, ",")

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	models, err := buildRegistry(cfg.Models, cfg.Remotes, cfg.ModelWait, rules)
	if err != nil {
		return nil, err
	}
	if cfg.Trained != "" {
		if err := loadTrained(models, cfg.Trained); err != nil {
			return nil, err
		}
	}
	instance := cfg.Instance
	if instance == "" {
		instance = defaultInstance(cfg.HTTP)
	}
	eng, err := streams.NewEngine(streams.EngineConfig{
		Brokers: brokers, Group: cfg.Group, Instance: instance, Rules: rules, Registerer: reg, Logger: log,
		CheckpointInterval: cfg.Checkpoint, ViewInterval: cfg.ViewEvery, SessionTimeout: cfg.Session, AtLeastOnce: !cfg.ExactlyOnce,
		Models: models, PredictTimeout: cfg.ModelWait,
		TopicOptions: streams.TopicOptions{Partitions: int32(cfg.Partitions)},
	})
	if err != nil {
		return nil, err
	}
	a.Engine = eng

	ln, err := net.Listen("tcp", cfg.HTTP)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("http listen %s: address in use (another sitetwin running? use --http)", cfg.HTTP)
		}
		return nil, fmt.Errorf("http listen %s: %w", cfg.HTTP, err)
	}
	a.HTTPAddr = ln.Addr().String()
	tokens, open, pageURL, err := dashboardAuth(cfg, a.HTTPAddr, log)
	if err != nil {
		ln.Close()
		return nil, err
	}
	drills := newLiveDrills(brokers, rules, models, cfg.DrillSpeed, log)
	seen := newEngineDrills(eng.Store(), drills.started, cfg.DrillIdle)
	api, err := dashboard.New(dashboard.Config{
		Source: eng.Store(), Health: eng.Health, Logger: log, Rules: rules, Drills: &cityDrills{runner: drills, engine: seen},
		Tokens: tokens, Open: open, AllowedOrigins: cfg.Origins, Registerer: reg,
		Stats: func() any { return eng.Stats() },
		Load: func() dashboard.Load {
			s := eng.Stats()
			return dashboard.Load{Events: s.Events, Lag: s.Lag}
		},
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	log.Info("http api listening", "url", "http://"+a.HTTPAddr+"/", "dashboard", pageURL)

	a.stopped = ctx
	ctx, a.cancel = context.WithCancel(ctx)
	g, gctx := errgroup.WithContext(ctx)
	a.group = g
	g.Go(func() error { return eng.Run(gctx) })
	g.Go(func() error { return api.Run(gctx) })
	g.Go(func() error { return drills.run(gctx) })
	g.Go(func() error { return seen.run(gctx) })
	serveHTTP(g, gctx, srv, ln)
	if cfg.Projects > 0 {
		g.Go(func() error {
			return simulate(gctx, cfg, brokers, eng, log)
		})
	}
	if cfg.StatsEvery > 0 {
		g.Go(func() error { statsLoop(gctx, eng, cfg.StatsEvery, log); return nil })
	}
	if err := startOutward(gctx, g, cfg, brokers, eng, reg, log); err != nil {
		a.cancel()
		g.Wait() //nolint:errcheck // stopping after a failed start
		return nil, err
	}
	return a, nil
}

// Wait waits until the app has stopped; the broker closes last, after the
// engine's final checkpoint.
func (a *app) Wait() error {
	err := a.group.Wait()
	a.cancel()
	if a.broker != nil {
		a.broker.Close()
	}
	a.log.Info("stopped")
	if errors.Is(err, context.Canceled) && a.stopped.Err() != nil {
		// a part interrupted by the stop; a part that failed on its
		// own failed, even with a cancellation in its error's chain
		return nil
	}
	return err
}

// simulate produces the simulated city: its registration and history at
// once, then live events paced at the configured rate.
func simulate(ctx context.Context, cfg runConfig, brokers []string, eng *streams.Engine, log *slog.Logger) error {
	city, err := citysim.New(citysim.Config{Projects: cfg.Projects, Seed: cfg.Seed, Start: time.Now().UTC(), Rate: cfg.Rate})
	if err != nil {
		return err
	}
	pub, err := streams.NewPublisher(brokers, streams.DefaultTopics(), "sitetwin-citysim")
	if err != nil {
		return err
	}
	defer pub.Close()
	select {
	case <-eng.Ready():
	case <-ctx.Done():
		return nil
	}
	// The registry's events go first and are flushed before the rest: the
	// engine merges its topics by event time, but only over what is in the
	// log, and a payment batch that landed before its project's
	// registration would be dead-lettered ("send project.registered first").
	boot := city.Bootstrap()
	registry, rest := citysim.SplitRegistry(boot)
	for _, part := range [][]*twin.Event{registry, rest} {
		if err := pub.Publish(ctx, part...); err != nil {
			return err
		}
		if err := pub.Flush(ctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("simulated city: %w", err)
		}
	}
	log.Info("simulated city registered", "projects", cfg.Projects, "events", len(boot), "seed", cfg.Seed, "rate", cfg.Rate)
	if cfg.Rate <= 0 {
		<-ctx.Done()
		return nil
	}
	start := time.Now()
	var sent int64
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastFlush := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			due := int64(now.Sub(start).Seconds() * cfg.Rate)
			for ; sent < due; sent++ {
				if err := pub.Publish(ctx, city.Next()); err != nil {
					return err
				}
			}
			if now.Sub(lastFlush) >= time.Second {
				if err := pub.Flush(ctx); err != nil && ctx.Err() == nil {
					log.Warn("simulated city: produce failed; retrying", "err", err)
				}
				lastFlush = now
			}
		}
	}
}

// statsLoop logs a stats line every interval.
func statsLoop(ctx context.Context, eng *streams.Engine, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	last, lastAt := eng.Stats(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s := eng.Stats()
			rate := float64(s.Events-last.Events) / now.Sub(lastAt).Seconds()
			log.Info("stats", "events_per_s", fmt.Sprintf("%.0f", rate), "twins", s.Twins, "open_alerts", s.OpenAlarms,
				"dead_letters", s.DeadLetters, "consumer_lag", s.Lag, "broker_ok", s.BrokerOK)
			last, lastAt = s, now
		}
	}
}
