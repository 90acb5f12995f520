package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/scenarios"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// drillCityStart is the simulated city's now for a drill over the
// simulated city, unless --city-start says otherwise: fixed, so that the
// same scenario and seed give the same bytes.
const drillCityStart = "2026-09-14T00:00:00Z"

// defaultLiveBrokers is where `drill run --live` finds the running engine
// without --brokers: the embedded broker of `sitetwin run`.
const defaultLiveBrokers = "127.0.0.1:9092"

// drillCmd runs a drill on a fork of the city: a state dump, a cluster's
// committed state, or the simulated city.
func drillCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 || args[0] != "run" {
		fmt.Fprintln(stderr, "Usage: sitetwin drill run FILE [--state DUMP.json | --brokers ADDR | --projects N --seed S] --out DIR")
		fmt.Fprintln(stderr, "       sitetwin drill run FILE --live [--brokers ADDR] [--out DIR]")
		return fmt.Errorf("%w: the drill subcommand is run", errUsage)
	}
	fs := flagSet("drill run", "FILE [--state DUMP.json | --brokers ADDR | --projects N --seed S] --out DIR | FILE --live [--brokers ADDR] [--out DIR]", stderr)
	state := fs.String("state", "", "fork the twins of this state dump (written by `sitetwin state dump`)")
	brokers := fs.String("brokers", "", "fork the committed twin state of this Kafka cluster (comma-separated brokers), as `sitetwin state dump` reads it")
	projects := fs.Int("projects", 300, "without --state and --brokers: projects of the simulated city")
	seed := fs.Int64("seed", 1, "without --state and --brokers: seed of the simulated city")
	cityStart := fs.String("city-start", drillCityStart, "without --state and --brokers: the simulated city's now (RFC 3339)")
	out := fs.String("out", "", "write timeline.json, plan.json and report.html to this directory (required)")
	rulesFile := fs.String("rules", "", "rule pack (JSON; default the built-in Shenzhen pack)")
	members := fs.Int("members", 0, "typhoon track ensemble members (0: the scenario's, else 50)")
	timeout := fs.Duration("timeout", 2*time.Minute, "with --brokers: give up reading the state after this long")
	quiet := fs.Bool("quiet", false, "no progress bar")
	live := fs.Bool("live", false, "a live drill: fork the committed state of --brokers (default "+defaultLiveBrokers+") and send every event of the drill, tagged as drill, to its input topics; the running engine keeps them apart from the real twins (--out optional)")
	pos, err := parseFlags(fs, args[1:], getenv, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: give the scenario file: sitetwin drill run FILE --out DIR", errUsage)
	}
	if *live {
		if *state != "" {
			return fmt.Errorf("%w: --live forks the running cluster's state: give --brokers, not --state", errUsage)
		}
		if *brokers == "" {
			*brokers = defaultLiveBrokers
		}
	}
	if *out == "" && !*live {
		return fmt.Errorf("%w: --out DIR is required", errUsage)
	}
	if *state != "" && *brokers != "" {
		return fmt.Errorf("%w: give --state or --brokers, not both", errUsage)
	}
	file := pos[0]
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("scenario: %w", err)
	}
	dir := filepath.Dir(file)
	s, err := scenarios.Parse(b, func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		return os.ReadFile(name)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if *members > 0 && s.Typhoon != nil {
		s.Typhoon.Members = *members
	}
	rules := twin.DefaultRules()
	if *rulesFile != "" {
		if rules, err = loadRules(*rulesFile); err != nil {
			return err
		}
	}
	var twins []*twin.ProjectTwin
	source := ""
	switch {
	case *state != "":
		db, err := os.ReadFile(*state)
		if err != nil {
			return fmt.Errorf("--state: %w", err)
		}
		d, err := streams.DecodeDump(db)
		if err != nil {
			return fmt.Errorf("--state %s: %w", *state, err)
		}
		if twins, err = scenarios.ForkSnapshots(d.Twins); err != nil {
			return fmt.Errorf("--state %s: %w", *state, err)
		}
		source = "state dump " + *state
	case *brokers != "":
		rctx, cancel := context.WithTimeout(ctx, *timeout)
		d, info, err := streams.ReadDump(rctx, strings.Split(*brokers, ","), streams.DefaultTopics())
		cancel()
		if err != nil {
			return fmt.Errorf("--brokers %s: %w", *brokers, err)
		}
		if info.Waiting > 0 {
			fmt.Fprintf(stderr, "drill: %d input records are consumed but not applied yet; the fork leaves them out\n", info.Waiting)
		}
		if twins, err = scenarios.ForkSnapshots(d.Twins); err != nil {
			return fmt.Errorf("--brokers %s: %w", *brokers, err)
		}
		source = "the committed state of " + *brokers
	default:
		at, err := time.Parse(time.RFC3339, *cityStart)
		if err != nil {
			return fmt.Errorf("%w: --city-start: %v", errUsage, err)
		}
		city, err := citysim.New(citysim.Config{Projects: *projects, Seed: *seed, Start: at})
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if twins, err = scenarios.CityTwins(city, rules); err != nil {
			return err
		}
		source = fmt.Sprintf("the simulated city of %d projects, seed %d", *projects, *seed)
	}
	opt := scenarios.Options{Rules: rules, Models: predict.NewRegistry(rules)}
	var pub *streams.Publisher
	var em *drillEmitter
	if *live {
		s.ID = liveDrillID(s.ID, time.Now(), os.Getpid())
		if pub, err = streams.NewPublisher(strings.Split(*brokers, ","), streams.DefaultTopics(), "sitetwin-drill"); err != nil {
			return fmt.Errorf("--live: %w", err)
		}
		defer pub.Close()
		em = &drillEmitter{pub: pub}
		var emitErr error
		opt.Emit = func(e *twin.Event) {
			if err := em.emit(ctx, e); err != nil && emitErr == nil {
				emitErr = err
				fmt.Fprintf(stderr, "drill: %v\n", err)
			}
		}
		// the drill's last event goes with the end marker, so that the
		// dashboard of the running engine ends the drill (also when it
		// failed or was interrupted)
		defer func() {
			if em.held != nil {
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer cancel()
				if em.end(fctx) == nil {
					pub.Flush(fctx) //nolint:errcheck // the drill's error says more
				}
			}
		}()
	}
	var bar *progressBar
	if !*quiet {
		bar = newProgress(stderr, "drill "+s.ID)
		opt.Progress = func(done, total int) { bar.update(int64(done), int64(total), fmt.Sprintf("step %d/%d", done, total)) }
	}
	began := time.Now()
	res, err := scenarios.Run(ctx, s, twins, opt)
	if bar != nil {
		bar.done()
	}
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	took := time.Since(began)
	if pub != nil {
		if err := em.end(ctx); err != nil {
			return fmt.Errorf("--live: %w", err)
		}
		if err := pub.Flush(ctx); err != nil {
			return fmt.Errorf("--live: send the drill's events to %s: %w", *brokers, err)
		}
		fmt.Fprintf(stdout, "live drill %s: %d events sent to %s, tagged as drill %s (the engine applies them to forks of the twins, never to the real ones)\n",
			s.ID, pub.Produced(), *brokers, s.ID)
	}
	if *out != "" {
		if err := writeDrill(*out, res); err != nil {
			return err
		}
	}
	k := res.Plan.KPIs
	fmt.Fprintf(stdout, "drill %s on %s: %d sites, %d steps of %s in %s (%.0f× real time)\n", s.ID, source, k.Sites, len(res.Timeline.Steps),
		s.Step.D(), took.Round(time.Millisecond), s.Duration.D().Seconds()/max(took.Seconds(), 1e-3))
	fmt.Fprintf(stdout, "  actions %d at %d sites (%d late), every site secured %.1f h after the start; peak %d sites stopped\n",
		k.Actions, k.SitesWithActions, k.ActionsLate, k.SecuredAfterHours, k.PeakStopOrders)
	fmt.Fprintf(stdout, "  incidents %d: %d served (mean first response %.1f min, max %.1f), %d unserved\n",
		k.Incidents, k.Served, k.MeanResponseMinutes, k.MaxResponseMinutes, k.Unserved)
	if *out == "" {
		return nil
	}
	fmt.Fprintf(stdout, "  wrote %s\n", strings.Join([]string{filepath.Join(*out, "timeline.json"), filepath.Join(*out, "plan.json"), filepath.Join(*out, "report.html")}, ", "))
	return nil
}

// writeDrill writes the drill's files, each atomically (a temporary file
// renamed).
func writeDrill(dir string, res *scenarios.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	tl, err := json.Marshal(res.Timeline) // compact: per-site arrays per step
	if err != nil {
		return fmt.Errorf("timeline: %w", err)
	}
	pl, err := json.MarshalIndent(res.Plan, "", "  ")
	if err != nil {
		return fmt.Errorf("plan: %w", err)
	}
	html, err := scenarios.Report(res)
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{"timeline.json": append(tl, '\n'), "plan.json": append(pl, '\n'), "report.html": html} {
		if err := writeFileAtomic(filepath.Join(dir, name), b); err != nil {
			return err
		}
	}
	return nil
}

func writeFileAtomic(name string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
