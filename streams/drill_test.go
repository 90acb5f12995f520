package streams

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/twin"
)

// readTopic reads a topic (read committed) up to its current stable end.
func readTopic(t *testing.T, brokers, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := ReadTopic(ctx, []string{brokers}, topic)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestDrillEventsStayInTheirNamespace: drill-tagged events are applied to
// forks of the twins: the committed state (the dump) and the store do not
// change, the drill's alerts carry the drill, nothing of the drill reaches
// the outbox.
func TestDrillEventsStayInTheirNamespace(t *testing.T) {
	b := startBroker(t)
	e := startEngine(t, b.Addr(), "drill")
	pub, err := NewPublisher([]string{b.Addr()}, DefaultTopics(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 3, 0, 0, 0, time.UTC)
	if err := pub.Publish(ctx, append(registration(t, "P-001", at), registration(t, "P-002", at)...)...); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both twins", func() bool {
		_, ok1 := e.Store().Twin("P-001")
		_, ok2 := e.Store().Twin("P-002")
		return ok1 && ok2
	})
	dump := func() []byte {
		d, _, err := ReadDump(ctx, []string{b.Addr()}, DefaultTopics())
		if err != nil {
			t.Fatal(err)
		}
		out, err := d.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	committed := func() int64 { return e.Stats().Commits }
	before := dump() // the store has the twins once they are committed
	alertsBefore := len(e.Store().Alerts(0))

	const drill = "drill-t1"
	issued, _ := twin.ParseWhen(at.Add(time.Minute).Format(time.RFC3339))
	drillEvents := []*twin.Event{
		event(t, drill+"-noise", twin.TypeSensorReading, "P-001", "P-001-S1", at, &twin.SensorReading{Kind: "noise", Value: 95, Unit: "dB(A)"}),
		event(t, drill+"-rain", twin.TypeRainfallWarning, twin.CityWide, "", at.Add(time.Minute), &twin.RainfallWarning{Level: twin.RainRed, Issued: issued}),
	}
	// a project that exists only in the drill: its registration asks for a
	// filing, which must never reach the outbox
	for _, ev := range registration(t, "P-900", at.Add(5*time.Minute)) {
		ev.ID = drill + "-" + ev.ID
		ev.Time = at.Add(5 * time.Minute)
		drillEvents = append(drillEvents, ev)
	}
	for _, ev := range drillEvents {
		ev.Drill = drill
	}
	if err := pub.Publish(ctx, drillEvents...); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// noise on P-001, the rain on the forks of P-001 and P-002, P-900's
	// registration and site
	waitFor(t, "the drill's events applied", func() bool { return e.Stats().DrillEvents >= 5 })
	// the transaction that holds them has committed once a commit counts
	// after this point; one more drill event makes sure one comes
	c1 := committed()
	more := event(t, drill+"-noise-2", twin.TypeSensorReading, "P-001", "P-001-S1", at.Add(6*time.Minute), &twin.SensorReading{Kind: "noise", Value: 96, Unit: "dB(A)"})
	more.Drill = drill
	if err := pub.PublishLast(ctx, more); err != nil { // the drill's last: with the end marker
		t.Fatal(err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a commit after them", func() bool { return committed() > c1 })

	if after := dump(); !bytes.Equal(before, after) {
		t.Errorf("the committed state changed with drill events:\nbefore %s\nafter  %s", before, after)
	}
	if _, ok := e.Store().Twin("P-900"); ok {
		t.Error("a project registered in a drill is in the store")
	}
	for _, id := range []string{"P-001", "P-002"} {
		if v, _ := e.Store().Twin(id); v.Health != twin.Green || v.Weather.Rainstorm != "" {
			t.Errorf("%s after the drill: health %s, rainstorm %q", id, v.Health, v.Weather.Rainstorm)
		}
	}
	if n := len(e.Store().Alerts(0)); n != alertsBefore {
		t.Errorf("store alerts %d, want %d (drill alerts are not the city's)", n, alertsBefore)
	}
	drillAlerts := 0
	for _, r := range readTopic(t, b.Addr(), DefaultTopics().Alerts()) {
		var a twin.Alert
		if err := json.Unmarshal(r.Value, &a); err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(a.Event, drill) {
			drillAlerts++
			if a.Drill != drill {
				t.Errorf("drill alert without its drill: %s", r.Value)
			}
		}
	}
	if drillAlerts < 3 { // noise on P-001, rainstorm on P-001 and P-002
		t.Errorf("%d drill alerts on the alerts topic, want at least 3", drillAlerts)
	}

	// the store shows what the engine saw of the drill: its records, its
	// end, the sites of its forks with their levels, its alerts
	var dv DrillView
	waitFor(t, "the drill in the store", func() bool {
		v, ok := e.Store().Drill(drill)
		dv = v
		return ok && v.Ended && v.AlertsTotal == drillAlerts
	})
	levels := map[string]twin.Level{}
	for _, s := range dv.Sites {
		levels[s.ID] = s.Level
	}
	if dv.Events != int64(len(drillEvents)+1) || !dv.From.Equal(at) || !dv.To.Equal(at.Add(6*time.Minute)) ||
		levels["P-001-S1"] != twin.LevelStop || levels["P-002-S1"] != twin.LevelStop || len(dv.Alerts) != drillAlerts || dv.LastSeen.IsZero() {
		t.Errorf("store's view of the drill: %+v", dv)
	}
	if _, ok := levels["P-900-S1"]; !ok {
		t.Errorf("the site of a project registered in the drill is not among its sites: %v", levels)
	}
	if l := e.Store().Drills(); len(l) != 1 || l[0].ID != drill {
		t.Errorf("store's drills: %+v", l)
	}
	outbox := readTopic(t, b.Addr(), DefaultTopics().Outbox())
	if len(outbox) == 0 {
		t.Fatal("no outbox records at all: the real registrations should have asked for filings")
	}
	for _, r := range outbox {
		if bytes.Contains(r.Value, []byte("P-900")) || bytes.Contains(r.Value, []byte(drill)) {
			t.Errorf("drill request in the outbox: %s", r.Value)
		}
	}
}
