package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/streams"
)

// replayCmd produces the lines of an NDJSON file, each a CloudEvent, in
// order, to the topics of their types.
func replayCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("replay", "FILE.ndjson|- --brokers ADDR [flags]", stderr)
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka brokers")
	rate := fs.Float64("rate", 0, "events per second (0: as fast as the brokers take them)")
	pos, err := parseFlags(fs, args, getenv, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: give one file to replay (or - for standard input)", errUsage)
	}
	var in io.Reader = os.Stdin
	name := "stdin"
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in, name = f, pos[0]
	}
	pub, err := streams.NewPublisher(strings.Split(*brokers, ","), streams.DefaultTopics(), "sitetwin-replay")
	if err != nil {
		return err
	}
	defer pub.Close()
	start := time.Now()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64*1024), 2<<20)
	var lines, sent, bad int
	for sc.Scan() {
		lines++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if *rate > 0 {
			due := start.Add(time.Duration(float64(sent+bad) / *rate * float64(time.Second)))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Until(due)):
			}
		}
		if err := pub.PublishRaw(ctx, bytes.Clone(line), fmt.Sprintf("%s:%d", name, lines)); err != nil {
			bad++
			fmt.Fprintf(stderr, "replay: %v\n", err)
			continue
		}
		sent++
		if sent%10000 == 0 {
			if err := pub.Flush(ctx); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "replay: %d events sent\n", sent)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s at line %d: %w", name, lines+1, err)
	}
	if err := pub.Flush(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "replayed %d events from %s in %s", sent, name, time.Since(start).Round(time.Millisecond))
	if bad > 0 {
		fmt.Fprintf(stdout, "; %d lines could not be routed and went to the dead-letter topic", bad)
	}
	fmt.Fprintln(stdout)
	return nil
}
