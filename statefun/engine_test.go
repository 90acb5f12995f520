package statefun_test

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/statefun"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// TestSameTwinsAsKafkaEngine: the same event stream (a simulated district's
// history and six minutes of live events, with a city-wide rainstorm
// signal raised and cancelled, a project registered while it stands, a
// duplicate and a bad record) applied by the Kafka engine (on an embedded
// broker) and by the StateFun functions (through the runtime played over
// HTTP) ends in identical twins: the canonical dump of the engine's
// changelog equals the states Flink would hold, twin by twin, and both
// dead-letter the same number of records.
//
// Only the test imports streams, to compare with it; the package does not.
func TestSameTwinsAsKafkaEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the Kafka engine")
	}
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	city, err := citysim.New(citysim.Config{Projects: 4, Seed: 7, Start: start, Rate: 2})
	if err != nil {
		t.Fatal(err)
	}
	evs := city.Bootstrap()
	for e := city.Next(); e != nil && e.Time.Before(start.Add(6*time.Minute)); e = city.Next() {
		evs = append(evs, e)
	}
	issued := mustWhen(start.Add(2 * time.Minute).Format(time.RFC3339))
	evs = append(evs,
		&twin.Event{ID: "rain-on", Type: twin.TypeRainfallWarning, Source: "szmb", Time: start.Add(2 * time.Minute), Project: twin.CityWide,
			Data: &twin.RainfallWarning{Level: twin.RainRed, Issued: issued}},
		&twin.Event{ID: "rain-off", Type: twin.TypeRainfallWarning, Source: "szmb", Time: start.Add(5 * time.Minute), Project: twin.CityWide,
			Data: &twin.RainfallWarning{Level: "cancelled", Issued: issued}},
	)
	evs = append(evs, registration("P-LATE", start.Add(3*time.Minute))...)
	evs = append(evs, evs[len(evs)-3]) // rain-off again (a producer retry): a duplicate
	evs = append(evs, noise("orphan", "P-NONE", start.Add(4*time.Minute), 70))
	// the engine's order: event time, then topic (registry first), then
	// offset; city-wide events come from the city stream, after the topics
	stream := func(e *twin.Event) int {
		if e.Project == twin.CityWide {
			return len(twin.Streams())
		}
		return slices.Index(twin.Streams(), twin.StreamOf(e.Type))
	}
	slices.SortStableFunc(evs, func(a, b *twin.Event) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Compare(stream(a), stream(b))
	})
	t.Logf("%d events", len(evs))

	// StateFun
	srv := newServer(t, statefun.Config{})
	rt := newRuntime(t, srv, 50)
	for _, e := range evs {
		rt.event(e)
		rt.drain() // what a record causes (a city fan-out) happens before the next, as in the engine
	}
	got := rt.twins()

	// the Kafka engine
	want, deadLetters := engineDump(t, evs, len(got))
	if len(want) != len(got) || len(want) < 5 {
		t.Fatalf("engine holds %d twins, StateFun %d", len(want), len(got))
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("twin %s differs: %s", id, firstDiff(w, got[id]))
		}
	}
	if n := int64(len(rt.deadLetters())); n != deadLetters || n == 0 {
		t.Errorf("dead letters: statefun %d, engine %d", n, deadLetters)
	}
	var rained bool
	for _, w := range got {
		var p twin.ProjectTwin
		json.Unmarshal([]byte(w), &p)
		rained = rained || p.Weather.Rainstorm == "" && p.Info.District != "" && p.Registered
	}
	if !rained {
		t.Error("no twin saw the rainstorm cancelled")
	}
}

// engineDump publishes the events to an embedded broker, runs the Kafka
// engine until it has applied or dead-lettered them all, stops it (which
// commits) and returns the canonical dump of its changelog by project, and
// its dead-letter count.
func engineDump(t *testing.T, evs []*twin.Event, twins int) (map[string]string, int64) {
	t.Helper()
	ctx := context.Background()
	b, err := streams.NewBroker(streams.BrokerConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	pub, err := streams.NewPublisher([]string{b.Addr()}, streams.DefaultTopics(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	pub.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := streams.NewEngine(streams.EngineConfig{Brokers: []string{b.Addr()}, Group: "compare", Instance: "compare", Logger: log, CheckpointInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(rctx) }()
	// every record is applied (a city-wide one once) or dead-lettered, and
	// committed: no lag, every twin in the store (which shows committed
	// state only)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	for s := e.Stats(); s.Events+s.DeadLetters < int64(len(evs)) || s.Commits == 0 || s.Lag != 0 || s.Twins != twins; s = e.Stats() {
		select {
		case <-tick.C:
		case err := <-done:
			t.Fatalf("engine stopped: %v", err)
		case <-deadline:
			t.Fatalf("engine applied %d and dead-lettered %d of %d records in 60 s", s.Events, s.DeadLetters, len(evs))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	dl := e.Stats().DeadLetters
	dump, _, err := streams.ReadDump(ctx, []string{b.Addr()}, streams.DefaultTopics())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, raw := range dump.Twins {
		var p twin.ProjectTwin
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatal(err)
		}
		out[p.ID] = canonical(t, &p)
	}
	return out, dl
}

// firstDiff shows where two strings part.
func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(i-150, 0)
	return "engine ..." + a[from:min(i+150, len(a))] + "\nstatefun ..." + b[from:min(i+150, len(b))]
}
