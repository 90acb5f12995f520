package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/dashboard"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// TestLiveDrillFromShell runs `sitetwin run` and, as from another shell,
// `sitetwin drill run crane_collapse.json --live --brokers ADDR`: the
// dashboard lists the drill as one the engine saw (source engine) with the
// site it touched at stop and its alerts, GET /api/drills/{id} gives them,
// the websocket topic drill delivers its layer and its end (the drill's
// last event carries the end marker), and the real twins are unchanged.
// A drill whose events stop without the end marker is shown as done once
// they stopped for the idle time.
func TestLiveDrillFromShell(t *testing.T) {
	a := startDrillApp(t, 1, time.Second)
	base := "http://" + a.HTTPAddr
	const reg = "regulator-token-0001"
	before := committedDump(t, a.KafkaAddr)

	ws := dialFeed(t, a.HTTPAddr, reg)
	if err := ws.conn.WriteJSON(map[string]any{"id": "d", "op": "subscribe", "topic": "drill"}); err != nil {
		t.Fatal(err)
	}
	ws.until("the drill ack", func(m map[string]any) bool { return m["type"] == "ack" && m["topic"] == "drill" })

	var out, errb bytes.Buffer
	if code := cli(context.Background(), []string{"drill", "run", "../../scenarios/examples/crane_collapse.json", "--live", "--brokers", a.KafkaAddr, "--quiet"},
		&out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("drill run --live: exit %d\n%s%s", code, out.String(), errb.String())
	}

	// the list: the drill, seen by the engine, ended by its last event
	var st dashboard.DrillStatus
	eventually(t, func() string {
		status, body := request(t, http.MethodGet, base+"/api/drills", reg, nil)
		var list struct{ Drills []dashboard.DrillStatus }
		if status != http.StatusOK || json.Unmarshal(body, &list) != nil {
			t.Fatalf("GET /api/drills: %d %s", status, body)
		}
		for _, d := range list.Drills {
			if d.Source == dashboard.DrillSourceEngine && strings.Contains(out.String(), "live drill "+d.ID+":") {
				st = d
			}
		}
		switch {
		case st.ID == "":
			return fmt.Sprintf("the drill is not listed: %s", body)
		case st.State != dashboard.DrillDone || st.Sites == 0 || st.Alerts == 0:
			return fmt.Sprintf("drill %s: %s, %d sites, %d alerts", st.ID, st.State, st.Sites, st.Alerts)
		}
		return ""
	})
	if st.Ended != "its last event came" || st.Events == 0 || st.LastSeen.IsZero() || st.SimTime.IsZero() || st.Link["report"] != "" {
		t.Errorf("drill: %+v", st)
	}

	status, body := request(t, http.MethodGet, base+"/api/drills/"+st.ID, reg, nil)
	var one dashboard.DrillStatus
	if status != http.StatusOK || json.Unmarshal(body, &one) != nil {
		t.Fatalf("GET /api/drills/{id}: %d %s", status, body)
	}
	stopped := false
	for _, s := range one.Affected {
		stopped = stopped || s.ID == "P-001-S2" && s.Level == twin.LevelStop
	}
	if !stopped || len(one.RecentAlerts) == 0 || one.RecentAlerts[0].Drill != st.ID {
		t.Errorf("GET /api/drills/{id}: P-001-S2 at stop %v, %d alerts: %.600s", stopped, len(one.RecentAlerts), body)
	}
	if status, body := request(t, http.MethodGet, base+"/api/drills/"+st.ID+"/timeline", reg, nil); status != http.StatusOK || !bytes.Contains(body, []byte(`"P-001-S2"`)) {
		t.Errorf("timeline: %d %.300s", status, body)
	}
	if status, _ := request(t, http.MethodGet, base+"/api/drills/"+st.ID+"/report", reg, nil); status != http.StatusNotFound {
		t.Errorf("report of a drill run elsewhere: %d, want 404", status)
	}

	// the websocket: the layer with the site, then the end
	sawLayer := false
	ws.until("the drill's end over the websocket", func(m map[string]any) bool {
		d, _ := m["drill"].(map[string]any)
		if d == nil || d["id"] != st.ID || d["source"] != dashboard.DrillSourceEngine {
			return false
		}
		sites, _ := m["sites"].([]any)
		for i, s := range sites {
			if s.(map[string]any)["id"] == "P-001-S2" && m["levels"].(string)[i] == '2' {
				sawLayer = true
			}
		}
		return sawLayer && d["state"] == dashboard.DrillDone
	})

	// real twins unchanged
	eventually(t, func() string { return groupBehind(t, a.KafkaAddr, "sitetwin") })
	if after := committedDump(t, a.KafkaAddr); !bytes.Equal(before, after) {
		t.Errorf("the drill changed the committed state of the real twins (%d bytes before, %d after)", len(before), len(after))
	}

	// a drill whose events stop without the end marker: done after the
	// idle time (1 s here)
	pub, err := streams.NewPublisher([]string{a.KafkaAddr}, streams.DefaultTopics(), "test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	const cut = "cut-short@20260914T000000-1"
	if err := pub.Publish(context.Background(), &twin.Event{ID: cut + "-tilt", Type: twin.TypeSensorReading, Source: "test", Time: time.Date(2026, 9, 14, 1, 0, 0, 0, time.UTC),
		Project: "P-001", Site: "P-001-S2", Drill: cut, Data: &twin.SensorReading{Kind: twin.SensorCraneTilt, Value: 6, Unit: "‰", Equipment: "P-001-S2-TC1"}}); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	ws.until("the cut-short drill's end over the websocket", func(m map[string]any) bool {
		d, _ := m["drill"].(map[string]any)
		return d != nil && d["id"] == cut && d["state"] == dashboard.DrillDone
	})
	status, body = request(t, http.MethodGet, base+"/api/drills/"+cut, reg, nil)
	if err := json.Unmarshal(body, &one); err != nil || status != http.StatusOK || one.State != dashboard.DrillDone || !strings.Contains(one.Ended, "stopped") {
		t.Errorf("cut-short drill: %d %s", status, body)
	}
}
