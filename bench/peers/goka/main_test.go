package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// The command line as the compare harness runs it: every input record
// published at once, the peer started on the input topics, one JSON line
// with the figures on stdout, logs on stderr.
func TestRunPrintsOneJSONLine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs goka against an embedded broker")
	}
	addr := startBroker(t)
	evs := testEvents(t)
	publish(t, addr, evs)
	var stdout, stderr syncBuffer
	args := []string{"--brokers", addr, "--topics", strings.Join(streams.DefaultTopics().Inputs(), ","), "--group", "run-json", "--events", strconv.Itoa(len(evs)), "--timeout", "1m"}
	if err := run(context.Background(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("stdout is not one line: %q", out)
	}
	var r map[string]float64
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("stdout %q: %v", out, err)
	}
	if len(r) != 5 || r["events"] != float64(len(evs)) || r["seconds"] <= 0 || r["events_per_s"] <= 0 ||
		r["p50_ms"] <= 0 || r["p99_ms"] < r["p50_ms"] {
		t.Errorf("result %s: want the 5 figures, events %d, positive times, p99 ≥ p50", out, len(evs))
	}
	if !strings.Contains(stderr.String(), "goka peer started") {
		t.Errorf("stderr has no start line:\n%s", stderr.String())
	}
}

// Fewer records than asked for: the peer gives up at --timeout with an
// error that says how far it got, and prints nothing on stdout.
func TestRunTimesOut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs goka against an embedded broker")
	}
	addr := startBroker(t)
	evs := testEvents(t)[:50]
	publish(t, addr, evs)
	var stdout, stderr syncBuffer
	args := []string{"--brokers", addr, "--topics", strings.Join(streams.DefaultTopics().Inputs(), ","), "--group", "run-timeout", "--events", "51", "--timeout", "5s"}
	err := run(context.Background(), args, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "applied 50 of 51 events") || !strings.Contains(err.Error(), "--timeout 5s reached") {
		t.Fatalf("run: %v, want a timeout after 50 of 51 events", err)
	}
	if stdout.String() != "" {
		t.Errorf("stdout %q, want nothing", stdout.String())
	}
}

func TestRunFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"nothing", nil},
		{"no brokers", []string{"--topics", "a", "--group", "g", "--events", "1"}},
		{"no topics", []string{"--brokers", "x:1", "--group", "g", "--events", "1"}},
		{"no group", []string{"--brokers", "x:1", "--topics", "a", "--events", "1"}},
		{"no events", []string{"--brokers", "x:1", "--topics", "a", "--group", "g"}},
		{"zero timeout", []string{"--brokers", "x:1", "--topics", "a", "--group", "g", "--events", "1", "--timeout", "0s"}},
		{"extra argument", []string{"--brokers", "x:1", "--topics", "a", "--group", "g", "--events", "1", "more"}},
		{"unknown flag", []string{"--brokers", "x:1", "--topics", "a", "--group", "g", "--events", "1", "--exactly-once"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if err := run(context.Background(), tc.args, &stdout, &stderr); err == nil {
				t.Fatal("no error")
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q", stdout.String())
			}
			if !strings.Contains(stderr.String(), "usage:") {
				t.Errorf("stderr has no usage: %q", stderr.String())
			}
		})
	}
}

// publish produces the events and waits until the broker has them.
func publish(t *testing.T, addr string, evs []*twin.Event) {
	t.Helper()
	pub, err := streams.NewPublisher([]string{addr}, streams.DefaultTopics(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx := context.Background()
	if err := pub.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}
