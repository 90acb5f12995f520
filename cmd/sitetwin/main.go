// Command sitetwin is the one binary of sitetwin: the engine with its
// embedded broker, simulated city and HTTP API (run), the broker alone
// (broker), replay of recorded events (replay) and audit-chain verification
// (audit verify). `sitetwin help` lists the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// env is how a command reads its environment (os.Getenv, or a map in tests).
type env func(string) string

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error
}

func commands() []command {
	return []command{
		{"run", "run the engine: embedded broker, simulated city, HTTP API", runCmd},
		{"broker", "run the embedded Kafka-protocol broker alone", brokerCmd},
		{"replay", "produce recorded events (one CloudEvent per line) into the topics", replayCmd},
		{"simulate", "write the simulated city's history and live events as NDJSON (simulate --out FILE)", simulateCmd},
		{"audit", "verify the tamper-evident audit chains (audit verify)", auditCmd},
		{"state", "dump the committed twin state canonically, or restore a dump (state dump|restore)", stateCmd},
		{"train", "fit a model that learns to a recorded history and write it (train MODEL --history FILE --out DIR)", trainCmd},
		{"backtest", "score the models on a recorded history, side by side (backtest --history FILE)", backtestCmd},
		{"models", "list the prediction models a run registers", modelsCmd},
		{"rules", "print the default rule pack (Shenzhen) as JSON", rulesCmd},
		{"wind", "maximum typhoon wind at points from a track (wind --track FILE --points FILE.csv)", windCmd},
		{"serve", "run a reference counterpart service: serve filing | serve funds (HTTP JSON APIs)", serveCmd},
		{"forecast", "forecast a project's finish (or any activity network's): PERT and Monte Carlo", forecastCmd},
		{"statefun", "serve the twins as Flink Stateful Functions remote functions (statefun --listen :8000)", statefunCmd},
		{"drill", "rehearse a disaster on a fork of the city: timeline, plan, dispatch, report (drill run FILE --out DIR)", drillCmd},
	}
}

// errUsage marks an error in the command line; it exits with status 2.
var errUsage = errors.New("usage")

// errFailed marks a command that ran but found a problem (a broken chain);
// it exits with status 1 after the command has printed what it found.
var errFailed = errors.New("failed")

// cli runs one subcommand and returns the process exit status.
func cli(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], stdout, stderr, getenv)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(stderr, "sitetwin %s: %v\n", c.name, err)
			return 2
		case errors.Is(err, errFailed):
			return 1
		default:
			fmt.Fprintf(stderr, "sitetwin %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "sitetwin: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "sitetwin: a stream-processing digital twin of a city's construction projects and sites.")
	fmt.Fprintln(w, "\nUsage: sitetwin <command> [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n`sitetwin <command> -h` lists a command's flags; each flag of run and broker can also be set")
	fmt.Fprintln(w, "with the environment variable SITETWIN_<FLAG> (e.g. SITETWIN_HTTP=0.0.0.0:8080).")
}

// flagSet returns a FlagSet whose usage goes to stderr and whose errors are
// returned, not fatal.
func flagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sitetwin "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: sitetwin %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags that may come before or after positional arguments,
// and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// parseFlags parses the flags (then their environment variables) and
// returns the positional arguments, of which there may be at most maxArgs.
func parseFlags(fs *flag.FlagSet, args []string, getenv env, maxArgs int) ([]string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > maxArgs {
		return nil, fmt.Errorf("%w: unexpected argument %q", errUsage, pos[maxArgs])
	}
	if err := applyEnv(fs, getenv); err != nil {
		return nil, err
	}
	return pos, nil
}

// envName is the environment variable of a flag: SITETWIN_ and the flag
// name in upper case with - as _.
func envName(flagName string) string {
	return "SITETWIN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// environment variable, if that is set.
func applyEnv(fs *flag.FlagSet, getenv env) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%w: %s=%q: %v", errUsage, envName(f.Name), v, e)
			}
		}
	})
	return err
}

// newLogger returns the process logger.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q: use debug, info, warn or error", errUsage, level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: use text or json", errUsage, format)
}
