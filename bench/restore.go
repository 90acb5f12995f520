package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// restoreScenario measures how long an engine takes to restore twins from
// the changelog: until it is ready to apply events (it has read the
// changelog; twins are decoded when an event needs them), and until every
// twin is decoded in the background and listed by the API.
func restoreScenario(ctx context.Context, args []string, out io.Writer) error {
	fs := flagSet("restore")
	n := fs.Int("twins", 100000, "projects (twins) to build and restore")
	steady := fs.Int("steady-minutes", 0, "minutes of live events (one per project per second of event time) applied after the bootstrap, for steady-state twins with sensor history")
	partitions := fs.Int("partitions", 6, "partitions of the topics")
	results := fs.String("results", "bench/RESULTS.md", "append the figures to this file (empty: do not)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the restore (engine start until every twin is decoded and listed) to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *n > citysim.MaxProjects {
		return fmt.Errorf("--twins must be from 1 to %d", citysim.MaxProjects)
	}
	start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	city, err := citysim.New(citysim.Config{Projects: *n, Seed: 1, Start: start, Rate: float64(*n)})
	if err != nil {
		return err
	}
	rules := twin.DefaultRules()
	twins := map[string]*twin.ProjectTwin{}
	apply := func(e *twin.Event) {
		targets := []*twin.ProjectTwin{}
		if e.Project == twin.CityWide {
			for _, p := range twins {
				targets = append(targets, p)
			}
		} else if p, ok := twins[e.Project]; ok {
			targets = append(targets, p)
		} else if e.Type == twin.TypeProjectRegistered {
			p := twin.NewProject(e.Project, rules)
			twins[e.Project] = p
			targets = append(targets, p)
		}
		for _, p := range targets {
			twin.Apply(p, e, rules) //nolint:errcheck // a rejected event changes nothing; the bench measures what is kept
		}
	}
	fmt.Fprintf(out, "building %d twins from the simulated city ...\n", *n)
	t0 := time.Now()
	boot := city.Bootstrap()
	for _, e := range boot {
		apply(e)
	}
	live := 0
	if *steady > 0 {
		until := start.Add(time.Duration(*steady) * time.Minute)
		for e := city.Next(); e != nil && e.Time.Before(until); e = city.Next() {
			apply(e)
			live++
		}
	}
	build := time.Since(t0)

	// snapshots, as the engine writes them
	var bytes int64
	snaps := make(map[string][]byte, len(twins))
	t0 = time.Now()
	for id, p := range twins {
		b, err := p.AppendSnapshot(nil)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", id, err)
		}
		snaps[id] = b
		bytes += int64(len(b))
	}
	encode := time.Since(t0)
	twins = nil
	runtime.GC()

	b, err := streams.NewBroker(streams.BrokerConfig{Listen: "127.0.0.1:0", Partitions: *partitions})
	if err != nil {
		return err
	}
	defer b.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	topics := streams.DefaultTopics()
	np, err := streams.EnsureTopics(ctx, kadm.NewClient(cl), topics, streams.TopicOptions{Partitions: int32(*partitions)})
	if err != nil {
		return err
	}
	written := len(snaps)
	fmt.Fprintf(out, "writing %d snapshots (%.0f MB) to the changelog ...\n", written, float64(bytes)/1e6)
	var perr atomic.Pointer[error]
	for id, v := range snaps {
		cl.Produce(ctx, &kgo.Record{Topic: topics.State(), Partition: streams.Partition(id, np), Key: []byte(id), Value: v},
			func(_ *kgo.Record, err error) {
				if err != nil {
					perr.CompareAndSwap(nil, &err)
				}
			})
	}
	if err := cl.Flush(ctx); err != nil {
		return err
	}
	if err := perr.Load(); err != nil {
		return fmt.Errorf("write snapshots: %w", *err)
	}
	cl.Close()
	snaps = nil
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	eng, err := streams.NewEngine(streams.EngineConfig{
		Brokers: []string{b.Addr()}, Group: "bench-restore", Instance: "bench",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	stopProfile, err := startProfile(*profile)
	if err != nil {
		cancel()
		return err
	}
	t0 = time.Now()
	go func() { done <- eng.Run(rctx) }()
	select {
	case <-eng.Ready():
	case err := <-done:
		cancel()
		return fmt.Errorf("engine stopped: %v", err)
	case <-time.After(30 * time.Minute):
		cancel()
		return errors.New("engine not ready after 30 minutes")
	}
	restore := time.Since(t0)
	for eng.Stats().Warming > 0 || eng.Stats().Twins < written {
		time.Sleep(10 * time.Millisecond)
	}
	warm := time.Since(t0)
	stopProfile()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	got := eng.Stats().Twins
	cancel()
	<-done
	if got != written {
		return fmt.Errorf("restored %d twins of %d", got, written)
	}

	heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
	var sb strings.Builder
	fmt.Fprintf(&sb, "| twins | live events applied | snapshot bytes (mean) | changelog size | build | encode | restore: engine ready (join + read changelog) | all twins decoded and listed | heap after restore (per twin) |\n")
	fmt.Fprintf(&sb, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(&sb, "| %d | %d | %.0f B | %.0f MB | %s | %s | **%s** | %s | %.1f KiB |\n",
		got, live, float64(bytes)/float64(*n), float64(bytes)/1e6, build.Round(time.Millisecond), encode.Round(time.Millisecond),
		restore.Round(time.Millisecond), warm.Round(time.Millisecond), heap/float64(max(got, 1))/1024)
	fmt.Fprintf(out, "\n%s", sb.String())
	command := fmt.Sprintf("go run ./bench restore --twins %d --steady-minutes %d --partitions %d", *n, *steady, *partitions)
	return appendResults(*results, "restore", command, sb.String())
}
