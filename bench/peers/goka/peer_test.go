package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// The group table ends with the twins a plain twin.Apply of the same events
// gives, routed as sitetwin's engine routes them (a fresh twin kept only
// when its registration applies; city-wide events to every registered
// twin, and the active ones to a twin registered later), byte for byte in
// the changelog's JSON; the records that cannot apply are the same; the
// alerts topic gets every alert.
//
// goka merges its input topics in arrival order, where the engine merges
// them by event time, so the events are published in waves that keep the
// engine's order for every project: a wave ends where a project's next
// event is on another topic than its last one in the wave, and after a
// registration or a city-wide event; the next wave is published once the
// peer has applied the last one, with all the work it caused.
func TestSameTwinsAsApply(t *testing.T) {
	if testing.Short() {
		t.Skip("runs goka against an embedded broker")
	}
	evs := testEvents(t)
	want := applyAll(t, evs)
	if len(want.twins) < 4 || want.rejected == 0 || want.alerts == 0 {
		t.Fatalf("the test city is too plain: %d twins, %d rejected, %d alerts", len(want.twins), want.rejected, want.alerts)
	}

	addr := startBroker(t)
	in, logs := startPeer(t, addr, "same-twins", len(evs))
	pub, err := streams.NewPublisher([]string{addr}, streams.DefaultTopics(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ws := waves(evs)
	t.Logf("%d events in %d waves", len(evs), len(ws))
	ctx := context.Background()
	sent := 0
	for _, w := range ws {
		if err := pub.Publish(ctx, w...); err != nil {
			t.Fatal(err)
		}
		if err := pub.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		sent += len(w)
		waitApplied(t, in, sent, logs)
	}

	for id, w := range want.twins {
		v, err := in.proc.Get(id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		p, ok := v.(*twin.ProjectTwin)
		if !ok {
			t.Fatalf("group table holds a %T for %s", v, id)
		}
		got, _ := json.Marshal(p)
		if !bytes.Equal(got, w) {
			t.Errorf("twin %s differs: %s", id, firstDiff(string(w), string(got)))
		}
	}
	for _, id := range []string{"P-NONE"} {
		if v, _ := in.proc.Get(id); v != nil {
			t.Errorf("group table holds %s, which never registered", id)
		}
	}
	v, _ := in.proc.Get(twin.CityWide)
	if st, ok := v.(*cityState); !ok || len(st.Projects) != len(want.twins) || len(st.Order) != 1 {
		t.Errorf("city state %#v, want the %d projects and the rain warning", v, len(want.twins))
	}
	if _, rejected := in.peer.track.counts(); rejected != want.rejected {
		t.Errorf("%d records not applied, twin.Apply rejects %d", rejected, want.rejected)
	}
	in.halt() // flushes the producer
	alerts, err := streams.ReadTopic(ctx, []string{addr}, string(in.peer.alerts))
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != want.alerts {
		t.Errorf("%d alerts on %s, twin.Apply raised %d", len(alerts), in.peer.alerts, want.alerts)
	}
	if t.Failed() {
		t.Log(logs.String())
	}
}

// testEvents is the simulated city's history of four projects and three
// minutes of its live stream, with a city-wide rainstorm signal raised and
// cancelled (twice: a producer's retry), a project registered while it
// stands, and a reading of a project that never registered; in the
// engine's order (event time, then topic, city-wide events last).
func testEvents(t *testing.T) []*twin.Event {
	t.Helper()
	start := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	city, err := citysim.New(citysim.Config{Projects: 4, Seed: 7, Start: start, Rate: 2})
	if err != nil {
		t.Fatal(err)
	}
	evs := city.Bootstrap()
	for e := city.Next(); e != nil && e.Time.Before(start.Add(3*time.Minute)); e = city.Next() {
		evs = append(evs, e)
	}
	issued := twin.TimeWhen(start.Add(time.Minute))
	rainOff := &twin.Event{ID: "rain-off", Type: twin.TypeRainfallWarning, Source: "szmb", Time: start.Add(150 * time.Second), Project: twin.CityWide,
		Data: &twin.RainfallWarning{Level: twin.RainCancelled, Issued: issued}}
	evs = append(evs,
		&twin.Event{ID: "rain-on", Type: twin.TypeRainfallWarning, Source: "szmb", Time: start.Add(time.Minute), Project: twin.CityWide,
			Data: &twin.RainfallWarning{Level: twin.RainRed, Issued: issued}},
		rainOff,
		&twin.Event{ID: "reg-P-LATE", Type: twin.TypeProjectRegistered, Source: "test", Time: start.Add(90 * time.Second), Project: "P-LATE",
			Data: &twin.ProjectRegistered{Name: "Late", District: "Nanshan", Kind: "housing", Owner: "O-1", Contractor: "C-1", Supervisor: "S-1",
				BudgetCNY: 5e8, PlannedStart: twin.TimeWhen(start), PlannedFinish: twin.TimeWhen(start.AddDate(1, 0, 0))}},
		&twin.Event{ID: "site-P-LATE", Type: twin.TypeSiteAdded, Source: "test", Time: start.Add(90 * time.Second), Project: "P-LATE",
			Site: "P-LATE-S1", Data: &twin.SiteAdded{Name: "Main", Lat: 22.52, Lon: 113.93, Terrain: "C"}},
		&twin.Event{ID: "noise-P-NONE", Type: twin.TypeSensorReading, Source: "gw", Time: start.Add(100 * time.Second), Project: "P-NONE",
			Site: "P-NONE-S1", Data: &twin.SensorReading{Kind: "noise", Value: 70, Unit: "dB(A)"}},
	)
	evs = append(evs, rainOff) // retried: a duplicate
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
	return evs
}

// waves cuts the events into waves that keep every project's order when
// goka merges topics as they arrive (see TestSameTwinsAsApply).
func waves(evs []*twin.Event) [][]*twin.Event {
	topics := streams.DefaultTopics()
	var out [][]*twin.Event
	var cur []*twin.Event
	last := map[string]string{} // project → topic of its last event in the wave
	flush := func() {
		if len(cur) > 0 {
			out = append(out, cur)
			cur = nil
			clear(last)
		}
	}
	for _, e := range evs {
		topic := topics.ForType(e.Type)
		if prev, ok := last[e.Project]; ok && prev != topic {
			flush()
		}
		cur = append(cur, e)
		last[e.Project] = topic
		if e.Project == twin.CityWide || e.Type == twin.TypeProjectRegistered {
			flush()
		}
	}
	flush()
	return out
}

// applied is what a plain twin.Apply of the events gives.
type applied struct {
	twins    map[string][]byte // project → json.Marshal of its twin
	rejected int
	alerts   int
}

// applyAll applies the events in memory, routed as the engine routes them
// (streams/worker.go: processOne, applyCity, applyStoredCity), each decoded
// from its CloudEvent bytes as a runtime decodes it.
func applyAll(t *testing.T, evs []*twin.Event) applied {
	t.Helper()
	rules := twin.DefaultRules()
	twins := map[string]*twin.ProjectTwin{}
	stored := map[string][]byte{}
	var order []string
	var out applied
	apply := func(p *twin.ProjectTwin, e *twin.Event) error {
		eff, err := twin.Apply(p, e, rules)
		out.alerts += len(eff.Alerts)
		return err
	}
	decode := func(b []byte) *twin.Event {
		e, err := twin.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, orig := range evs {
		b, err := twin.Encode(orig)
		if err != nil {
			t.Fatal(err)
		}
		e := decode(b)
		if e.Project == twin.CityWide {
			k := twin.CityKey(e)
			if i := slices.Index(order, k); i >= 0 {
				order = slices.Delete(order, i, i+1)
			}
			order = append(order, k)
			stored[k] = b
			for _, p := range twins {
				apply(p, e)
			}
			continue
		}
		p, known := twins[e.Project]
		if !known {
			p = twin.NewProject(e.Project, rules)
		}
		if err := apply(p, e); err != nil {
			out.rejected++
			continue
		}
		if !known {
			twins[p.ID] = p
			for _, k := range order {
				apply(p, decode(stored[k]))
			}
		}
	}
	out.twins = map[string][]byte{}
	for id, p := range twins {
		out.twins[id], _ = json.Marshal(p)
	}
	return out
}

// startBroker starts an embedded broker with three partitions per topic and
// sitetwin's topics.
func startBroker(t *testing.T) string {
	t.Helper()
	b, err := streams.NewBroker(streams.BrokerConfig{Listen: "127.0.0.1:0", Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := streams.EnsureTopics(context.Background(), kadm.NewClient(cl), streams.DefaultTopics(), streams.TopicOptions{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	return b.Addr()
}

// startPeer starts the peer's processor on the input topics; its logs go
// to the returned buffer.
func startPeer(t *testing.T, addr, group string, events int) (*instance, *syncBuffer) {
	t.Helper()
	logs := new(syncBuffer)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := config{brokers: []string{addr}, topics: streams.DefaultTopics().Inputs(), group: group, events: events}
	in, err := start(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)), log.New(logs, "goka: ", log.Lmicroseconds))
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	t.Cleanup(in.halt)
	return in, logs
}

// waitApplied waits until the peer has applied n records.
func waitApplied(t *testing.T, in *instance, n int, logs *syncBuffer) {
	t.Helper()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(60 * time.Second)
	for {
		got, _ := in.peer.track.counts()
		if got >= n {
			return
		}
		select {
		case err := <-in.errc:
			t.Fatalf("processor stopped after %d of %d records: %v\n%s", got, n, err, logs)
		case <-deadline:
			t.Fatalf("%d of %d records applied after a minute\n%s", got, n, logs)
		case <-tick.C:
		}
	}
}

func firstDiff(a, b string) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	from := max(i-150, 0)
	return fmt.Sprintf("\napply ...%s\ngoka  ...%s", a[from:min(i+150, len(a))], b[from:min(i+150, len(b))])
}

// syncBuffer is a bytes.Buffer that several goroutines may write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
