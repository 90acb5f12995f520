package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// testLogger discards logs unless the test runs with -v.
func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// startBroker starts an in-memory embedded broker on a free port.
func startBroker(t *testing.T) *Broker {
	t.Helper()
	b, err := NewBroker(BrokerConfig{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// startEngine runs an engine against the broker until the test ends.
func startEngine(t *testing.T, brokers string, group string) *Engine {
	t.Helper()
	return runEngine(t, EngineConfig{Brokers: []string{brokers}, Group: group, CheckpointInterval: 200 * time.Millisecond})
}

// runEngine runs an engine of the given configuration (logging to the
// test) until the test ends, and returns it once it is ready.
func runEngine(t *testing.T, cfg EngineConfig) *Engine {
	t.Helper()
	e, _ := runStoppable(t, cfg)
	return e
}

// runStoppable runs an engine of the given configuration (logging to the
// test) and returns it once it is ready, with a function that stops it and
// waits for Run to return, failing the test if Run failed. The end of the
// test stops it too.
func runStoppable(t *testing.T, cfg EngineConfig) (*Engine, func()) {
	t.Helper()
	cfg.Logger = testLogger(t)
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	var once sync.Once
	var runErr error
	end := func() error {
		once.Do(func() { cancel(); runErr = <-done })
		return runErr
	}
	t.Cleanup(func() {
		if err := end(); err != nil {
			t.Errorf("engine run: %v", err)
		}
	})
	select {
	case <-e.Ready():
	case err := <-done:
		done <- err // for end
		t.Fatalf("engine stopped before it was ready: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("engine not ready after 30s")
	}
	return e, func() {
		t.Helper()
		if err := end(); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// registration returns the registration of a project and of one site.
func registration(t *testing.T, project string, at time.Time) []*twin.Event {
	t.Helper()
	start, _ := twin.ParseWhen(at.AddDate(0, 0, -10).Format(time.DateOnly))
	fin, _ := twin.ParseWhen("2027-06-30")
	return []*twin.Event{
		event(t, "reg-"+project, twin.TypeProjectRegistered, project, "", at.Add(-time.Hour), &twin.ProjectRegistered{
			Name: "Project " + project, District: "Nanshan", Kind: "housing", Owner: "O-1", Contractor: "C-1", Supervisor: "S-1",
			BudgetCNY: 5e8, PlannedStart: start, PlannedFinish: fin,
		}),
		event(t, "site-"+project, twin.TypeSiteAdded, project, project+"-S1", at.Add(-time.Hour), &twin.SiteAdded{Name: "Main", Lat: 22.52, Lon: 113.93, Terrain: "C"}),
	}
}

func event(t *testing.T, id, typ, project, site string, at time.Time, data twin.Data) *twin.Event {
	t.Helper()
	return &twin.Event{ID: id, Type: typ, Source: "test", Time: at, Project: project, Site: site, Data: data}
}

// publisher returns a function that publishes events to the broker and
// flushes them, failing the test if it cannot; the publisher is closed when
// the test ends.
func publisher(t *testing.T, addr string) func(evs ...*twin.Event) {
	t.Helper()
	pub, err := NewPublisher([]string{addr}, DefaultTopics(), "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	return func(evs ...*twin.Event) {
		t.Helper()
		ctx := context.Background()
		if err := pub.Publish(ctx, evs...); err != nil {
			t.Fatal(err)
		}
		if err := pub.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func TestEngineEndToEnd(t *testing.T) {
	b := startBroker(t)
	e := startEngine(t, b.Addr(), "e2e")
	publish := publisher(t, b.Addr())
	at := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC) // 11:00 in Shenzhen: day limits
	evs := append(registration(t, "P-001", at), registration(t, "P-002", at)...)
	evs = append(evs,
		event(t, "s1", twin.TypeSensorReading, "P-001", "P-001-S1", at, &twin.SensorReading{Kind: "noise", Value: 95, Unit: "dB(A)"}),
		event(t, "s2", twin.TypeSensorReading, "P-002", "P-002-S1", at, &twin.SensorReading{Kind: "pm10", Value: 80, Unit: "µg/m³"}),
	)
	publish(evs...)
	waitFor(t, "P-001 red", func() bool {
		v, ok := e.Store().Twin("P-001")
		return ok && v.Health == twin.Red && v.Registered
	})
	v, _ := e.Store().Twin("P-001")
	if got := v.Reasons[0]; !strings.Contains(got, "P-001-S1: noise Leq 20 min 95.0 dB(A) > 70.0 day limit") {
		t.Errorf("reason = %q", got)
	}
	waitFor(t, "P-002 present", func() bool { _, ok := e.Store().Twin("P-002"); return ok })
	alerts := e.Store().Alerts(10)
	if len(alerts) != 1 || alerts[0].Project != "P-001" || alerts[0].Change != twin.ChangeRaised {
		t.Fatalf("alerts = %+v", alerts)
	}

	// The alert is on the alerts topic too.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(DefaultTopics().Alerts()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rec := pollOne(t, cl)
	var a twin.Alert
	if err := json.Unmarshal(rec.Value, &a); err != nil || a.Key != "noise_leq" || string(rec.Key) != "P-001" {
		t.Fatalf("alert record %s: %v", rec.Value, err)
	}
	if st := e.Stats(); st.Events != 6 || st.Twins != 2 || st.DeadLetters != 0 {
		t.Errorf("stats = %+v", st)
	}
}

func pollOne(t *testing.T, cl *kgo.Client) *kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		fs := cl.PollRecords(ctx, 1)
		if ctx.Err() != nil {
			t.Fatal("no record within 30s")
		}
		if recs := fs.Records(); len(recs) > 0 {
			return recs[0]
		}
	}
}

func TestDeadLetterAndForward(t *testing.T) {
	b := startBroker(t)
	e := startEngine(t, b.Addr(), "dlq")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	topics := DefaultTopics()
	good := `{"specversion":"1.0","id":"k1","type":"sensor.reading","source":"gw","time":"2026-11-20T03:00:00Z","project":"P-007","site":"P-007-S1","data":{"kind":"noise","value":95,"unit":"dB(A)"}}`
	wrongOwner := (Partition("P-007", 6) + 1) % 6
	cases := []struct {
		name, topic, value, reason string
		partition                  int32
	}{
		{"not json", topics.Input("sensor"), `{"specversion":`, "malformed event", 0},
		{"bad field", topics.Input("sensor"), strings.Replace(good, `"unit":"dB(A)"`, `"unit":"furlongs"`, 1), "data.unit: must be one of", 1},
		{"wrong topic", topics.Input("payment"), good, "belongs on topic sitetwin.sensor", 2},
		{"misrouted but good", topics.Input("sensor"), good, "", wrongOwner},
	}
	pub, err := NewPublisher([]string{b.Addr()}, topics, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.Publish(ctx, registration(t, "P-007", time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC))...); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		r := &kgo.Record{Topic: c.topic, Partition: c.partition, Value: []byte(c.value)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "misrouted record applied after forwarding", func() bool {
		v, ok := e.Store().Twin("P-007")
		return ok && v.Health == twin.Red
	})
	dl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(topics.DeadLetter()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	got := map[string]string{}
	for len(got) < 3 {
		r := pollOne(t, dl)
		for _, h := range r.Headers {
			if h.Key == HeaderError {
				got[string(r.Value)] = string(h.Value)
			}
		}
	}
	for _, c := range cases[:3] {
		t.Run(c.name, func(t *testing.T) {
			reason, ok := got[c.value]
			if !ok {
				t.Fatalf("record not dead-lettered unchanged")
			}
			if !strings.Contains(reason, c.reason) {
				t.Errorf("reason %q does not contain %q", reason, c.reason)
			}
		})
	}
	if st := e.Stats(); st.DeadLetters != 3 {
		t.Errorf("dead letters = %d, want 3", st.DeadLetters)
	}
}

// TestPartitionMatchesKafkaDefault checks that Partition places keys where
// franz-go's default (Kafka-compatible murmur2) partitioner does.
func TestPartitionMatchesKafkaDefault(t *testing.T) {
	part := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	for i := range 2000 {
		key := fmt.Sprintf("P-%03d", i)
		for _, n := range []int{1, 3, 6, 12} {
			want := part.Partition(&kgo.Record{Key: []byte(key)}, n)
			if got := Partition(key, int32(n)); int(got) != want {
				t.Fatalf("Partition(%q, %d) = %d, Kafka default %d", key, n, got, want)
			}
		}
	}
}

// TestRestartRestoresTwins: an engine that stops after applying events
// leaves their twins in the changelog; the next engine in the group restores
// them before consuming, knows the events it has applied (a replay changes
// nothing), and applies new events on top.
func TestRestartRestoresTwins(t *testing.T) {
	b := startBroker(t)
	publish := publisher(t, b.Addr())
	at := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	pay := func(id string) *twin.Event {
		return event(t, id, twin.TypeFundsDisbursed, "P-003", "", at, &twin.Payment{AmountCNY: 1e6})
	}

	publish(registration(t, "P-003", at)...)
	first, stop := runStoppable(t, EngineConfig{Brokers: []string{b.Addr()}, Group: "restart"})
	publish(pay("pay-1"), pay("pay-2"))
	waitFor(t, "two payments applied", func() bool {
		v, ok := first.Store().Twin("P-003")
		return ok && v.Funds.DisbursedCNY == 2e6
	})
	stop()
	if n := first.Stats().ProduceErrors; n != 0 {
		t.Fatalf("a graceful stop lost %d output records", n)
	}

	second := startEngine(t, b.Addr(), "restart")
	// restored twins are decoded in the background after Ready
	waitFor(t, "the restored twin in the store", func() bool { _, ok := second.Store().Twin("P-003"); return ok })
	v, ok := second.Store().Twin("P-003")
	if !ok || v.Funds.DisbursedCNY != 2e6 || v.AuditLength != 2 {
		t.Fatalf("restored twin: %+v", v)
	}
	// The same payments again (a producer retry, a replay) and a new one.
	publish(pay("pay-1"), pay("pay-2"), pay("pay-3"))
	waitFor(t, "third payment applied", func() bool {
		v, _ := second.Store().Twin("P-003")
		return v.Funds.DisbursedCNY == 3e6
	})
	v, _ = second.Store().Twin("P-003")
	if v.Duplicates != 2 || v.AuditLength != 3 || twin.VerifyChain("P-003", v.Audit) != nil {
		t.Fatalf("after replay: duplicates %d, audit %d records", v.Duplicates, v.AuditLength)
	}
}

// TestHealthDegradedWhenBrokerGone: the engine reports degraded while the
// broker does not answer, keeps its twins, and still stops when told.
func TestHealthDegradedWhenBrokerGone(t *testing.T) {
	b := startBroker(t)
	e := startEngine(t, b.Addr(), "health")
	waitFor(t, "healthy", func() bool { return e.Health() == nil })
	b.Close()
	waitFor(t, "degraded", func() bool { return errors.Is(e.Health(), ErrDegraded) })
	if !strings.Contains(e.Health().Error(), "broker unreachable") {
		t.Errorf("health: %v", e.Health())
	}
	if e.Stats().BrokerOK {
		t.Error("stats say the broker is ok")
	}
}

// TestCityWideEvents: a city-wide event reaches the twins of every
// partition, twins registered after it learn it, and one keyed by something
// else than "*" is forwarded to the city partition and applied once.
func TestCityWideEvents(t *testing.T) {
	b := startBroker(t)
	e := startEngine(t, b.Addr(), "city")
	publish := publisher(t, b.Addr())
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	// projects on several partitions
	var ids []string
	seen := map[int32]bool{}
	for i := 0; len(seen) < 4; i++ {
		id := fmt.Sprintf("P-%03d", i)
		if p := Partition(id, 6); !seen[p] {
			seen[p] = true
			ids = append(ids, id)
		}
	}
	var evs []*twin.Event
	for _, id := range ids[:3] {
		evs = append(evs, registration(t, id, at)...)
	}
	issued, _ := twin.ParseWhen(at.Format(time.RFC3339))
	evs = append(evs, event(t, "rain-1", twin.TypeRainfallWarning, twin.CityWide, "", at.Add(time.Minute), &twin.RainfallWarning{Level: twin.RainRed, Issued: issued}))
	publish(evs...)
	// a project registered after the warning
	late := registration(t, ids[3], at.Add(2*time.Minute))
	for _, e := range late {
		e.Time = at.Add(2 * time.Minute)
	}
	publish(late...)
	hasRain := func(id string) bool {
		v, ok := e.Store().Twin(id)
		return ok && v.Weather.Rainstorm == twin.RainRed && v.Health == twin.Red
	}
	waitFor(t, "the red rainstorm signal on every twin", func() bool {
		for _, id := range ids {
			if !hasRain(id) {
				return false
			}
		}
		return true
	})

	// a city-wide cancellation produced with another key lands elsewhere,
	// is forwarded to the city partition, and clears every twin once
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	cancelled := `{"specversion":"1.0","id":"rain-2","type":"rainfall.warning","source":"szmb","time":"2026-11-20T03:30:00Z","project":"*","data":{"level":"cancelled","issued":"2026-11-20T03:30:00Z"}}`
	key := "not-the-city"
	if Partition(key, 6) == Partition(twin.CityWide, 6) {
		key = "also-not-the-city"
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: DefaultTopics().Input(twin.StreamWeather), Key: []byte(key), Value: []byte(cancelled)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cancellation on every twin", func() bool {
		for _, id := range ids {
			if v, ok := e.Store().Twin(id); !ok || v.Weather.Rainstorm != "" {
				return false
			}
		}
		return true
	})
	for _, id := range ids {
		n := 0
		for _, a := range e.Store().Alerts(0) {
			if a.Project == id && a.Rule == "rainstorm" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%s: %d rainstorm alerts, want 2 (raised, cleared)", id, n)
		}
	}
}
