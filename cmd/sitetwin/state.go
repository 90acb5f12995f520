package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/streams"
)

// stateCmd dumps the committed twin state of a cluster canonically, or
// restores such a dump into an empty cluster.
func stateCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 || (args[0] != "dump" && args[0] != "restore") {
		fmt.Fprintln(stderr, "Usage: sitetwin state dump --brokers ADDR [--out FILE]\n       sitetwin state restore --brokers ADDR --in FILE [--force]")
		return fmt.Errorf("%w: the state subcommands are dump and restore", errUsage)
	}
	verb := args[0]
	fs := flagSet("state "+verb, "--brokers ADDR [flags]", stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka brokers")
	timeout := fs.Duration("timeout", 2*time.Minute, "give up after this long")
	out := fs.String("out", "", "dump: write to this file instead of standard output")
	in := fs.String("in", "", "restore: the dump file to load (- for standard input)")
	partitions := fs.Int("partitions", 6, "restore: partitions of topics created on an empty cluster")
	force := fs.Bool("force", false, "restore: write even if the cluster already holds twin state")
	if _, err := parseFlags(fs, args[1:], getenv, 0); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	bs := strings.Split(*brokers, ",")
	switch verb {
	case "dump":
		d, info, err := streams.ReadDump(ctx, bs, streams.DefaultTopics())
		if err != nil {
			return err
		}
		b, err := d.Encode()
		if err != nil {
			return err
		}
		if info.Waiting > 0 {
			fmt.Fprintf(stderr, "state dump: %d input records are consumed but still waiting to be applied; their effect is not in this dump (dump again once the engine has caught up)\n", info.Waiting)
		}
		if *out == "" {
			_, err = stdout.Write(b)
			return err
		}
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "state dump: %d twins written to %s\n", info.Twins, *out)
		return nil
	default:
		if *in == "" {
			return fmt.Errorf("%w: --in FILE is required", errUsage)
		}
		var b []byte
		var err error
		if *in == "-" {
			b, err = io.ReadAll(os.Stdin)
		} else {
			b, err = os.ReadFile(*in)
		}
		if err != nil {
			return err
		}
		d, err := streams.DecodeDump(b)
		if err != nil {
			return err
		}
		n, err := streams.RestoreDump(ctx, bs, streams.DefaultTopics(), streams.TopicOptions{Partitions: int32(*partitions)}, d, *force)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "restored %d twins into %s (%d partitions); start the engine on this cluster to use them\n", len(d.Twins), streams.DefaultTopics().State(), n)
		return nil
	}
}
