package main

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestQuantile(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	var hundred []time.Duration
	for i := range 100 {
		hundred = append(hundred, ms(i+1))
	}
	for _, c := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"none", nil, 0.99, 0},
		{"one", []time.Duration{ms(7)}, 0.5, ms(7)},
		{"p50 of 100", hundred, 0.5, ms(51)},
		{"p99 of 100", hundred, 0.99, ms(100)},
		{"max", hundred, 1, ms(100)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := quantile(c.sorted, c.q); got != c.want {
				t.Errorf("quantile(%v) = %s, want %s", c.q, got, c.want)
			}
		})
	}
}

// TestHookStats: a phase ends when its records are applied and then when a
// commit follows; latencies land in the phase they were applied in.
func TestHookStats(t *testing.T) {
	h := newHookStats(2)
	t0 := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	rec := func(p int32, ms int) *kgo.Record {
		return &kgo.Record{Partition: p, Timestamp: t0.Add(time.Duration(ms) * time.Millisecond)}
	}
	applied, committed := h.begin(phaseBoot, 2)
	h.onApplied(rec(0, 0), t0.Add(5*time.Millisecond))
	select {
	case <-applied:
		t.Fatal("the phase ended after one record of two")
	default:
	}
	h.onApplied(rec(1, 0), t0.Add(7*time.Millisecond))
	<-applied
	h.onCommitted(t0.Add(10 * time.Millisecond))
	<-committed

	applied, committed = h.begin(phaseLive, 1)
	h.onApplied(rec(1, 20), t0.Add(21*time.Millisecond))
	<-applied
	h.onCommitted(t0.Add(30 * time.Millisecond))
	<-committed
	if a, c := h.times(); !a.Equal(t0.Add(21*time.Millisecond)) || !c.Equal(t0.Add(30*time.Millisecond)) {
		t.Errorf("times: applied %s, committed %s", a, c)
	}
	app, com := h.latencies()
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	for _, c := range []struct {
		name      string
		got, want []time.Duration
	}{
		{"applied, bootstrap", app[phaseBoot], ms(5, 7)},
		{"committed, bootstrap", com[phaseBoot], ms(10, 10)},
		{"applied, live", app[phaseLive], ms(1)},
		{"committed, live", com[phaseLive], ms(10)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if len(c.got) != len(c.want) {
				t.Fatalf("%v, want %v", c.got, c.want)
			}
			for i := range c.got {
				if c.got[i] != c.want[i] {
					t.Fatalf("%v, want %v", c.got, c.want)
				}
			}
		})
	}
}

func TestCompareNamesAMissingPeer(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "goka")
	err := run(context.Background(), []string{"compare", "--json", "--events", "10", "--peer", missing, "--results", ""}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "the goka peer is missing") || !strings.Contains(err.Error(), missing) {
		t.Fatalf("err = %v, want one naming the missing peer", err)
	}
}

// TestE2ESmall runs the e2e scenario on a small city with exactly-once on
// and off, and with a checkpoint interval of its own, against the embedded
// broker.
func TestE2ESmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker and an engine")
	}
	for _, tc := range []struct {
		name string
		args []string
		row  string
	}{
		{"exactly-once", []string{"--exactly-once=true"}, "| sitetwin, exactly-once | 3000 |"},
		{"at-least-once", []string{"--exactly-once=false"}, "| sitetwin, at-least-once | 3000 |"},
		{"checkpoint", []string{"--checkpoint", "100ms"}, "| sitetwin, exactly-once, checkpoint every 100ms | 3000 |"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			args := append([]string{"e2e", "--events", "3000", "--projects", "20", "--partitions", "3", "--rate", "20000", "--results", ""}, tc.args...)
			if err := run(context.Background(), args, &out); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			for _, want := range []string{tc.row, "Produce → applied by quantile: p50 "} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("no %q in\n%s", want, out.String())
				}
			}
		})
	}
}

// TestE2EBadFlags checks that e2e refuses negative intervals before it
// starts anything.
func TestE2EBadFlags(t *testing.T) {
	for _, flag := range []string{"--checkpoint", "--view-every"} {
		err := run(context.Background(), []string{"e2e", flag, "-1s", "--results", ""}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("e2e %s -1s: err = %v, want one naming %s", flag, err, flag)
		}
	}
}
