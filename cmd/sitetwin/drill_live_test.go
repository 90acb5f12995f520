package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/dashboard"
	"github.com/sitetwin/sitetwin/streams"
)

const drillTokens = dashTokens + "contractor-token-01 contractor C-1\n"

// request sends a request with a bearer token and returns the status and
// body.
func request(t *testing.T, method, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// hatoScenario is the ready Hato drill with a small ensemble, changed by
// edit (a map of the JSON).
func hatoScenario(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile("../../scenarios/examples/hato_2017.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["typhoon"].(map[string]any)["members"] = 5
	if edit != nil {
		edit(m)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// committedDump is the canonical dump of the committed state, once nothing
// waits to be applied.
func committedDump(t *testing.T, brokers string) []byte {
	t.Helper()
	var out []byte
	eventually(t, func() string {
		d, info, err := streams.ReadDump(context.Background(), []string{brokers}, streams.DefaultTopics())
		if err != nil {
			return err.Error()
		}
		if info.Waiting > 0 {
			return fmt.Sprintf("%d records wait to be applied", info.Waiting)
		}
		if out, err = d.Encode(); err != nil {
			t.Fatal(err)
		}
		return ""
	})
	return out
}

// groupBehind reports "" once the group has committed every input record: the
// engine has applied and committed all that was produced.
func groupBehind(t *testing.T, brokers, group string) string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	inputs := streams.DefaultTopics().Inputs()
	ends, err := adm.ListCommittedOffsets(ctx, inputs...)
	if err != nil {
		return err.Error()
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return err.Error()
	}
	behind := ""
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset == 0 {
			return
		}
		c, ok := committed.Lookup(o.Topic, o.Partition)
		if !ok || c.At < o.Offset {
			behind = fmt.Sprintf("%s/%d: committed %d of %d", o.Topic, o.Partition, c.At, o.Offset)
		}
	})
	return behind
}

// topicRecords reads a topic (read committed) to its stable end.
func topicRecords(t *testing.T, brokers, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := streams.ReadTopic(ctx, []string{brokers}, topic)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// startDrillApp runs an app of 8 quiet simulated projects (seed) with the
// drill tokens, and waits until every project is registered and the group
// has committed all its input. idle shortens how long a drill from another
// process may go silent (0: the default).
func startDrillApp(t *testing.T, seed int64, idle time.Duration) *app {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte(drillTokens), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startTestApp(t, func(c *runConfig) {
		c.Projects, c.Rate, c.Seed, c.TokensFile, c.DrillIdle = 8, 0, seed, file, idle
	})
	eventually(t, func() string {
		n := 0
		for _, v := range a.Engine.Store().Twins() {
			if v.Registered && len(v.Sites) > 0 {
				n++
			}
		}
		if n < 8 {
			return fmt.Sprintf("%d of 8 projects registered", n)
		}
		return groupBehind(t, a.KafkaAddr, "sitetwin")
	})
	return a
}

// TestLiveDrill runs `sitetwin run` and a live drill through POST
// /api/drills: bad scenarios get 400 naming the field, only a regulator
// may start one, the drill's progress and results show on GET
// /api/drills/{id} and over the websocket topic drill, and its events,
// applied by the real engine, change no real twin (the committed state
// dump is byte for byte the same), raise no alert in the city's store and
// put nothing in the outbox.
func TestLiveDrill(t *testing.T) {
	a := startDrillApp(t, 3, 0)
	base := "http://" + a.HTTPAddr
	const reg = "regulator-token-0001"
	before := committedDump(t, a.KafkaAddr)
	outboxBefore := len(topicRecords(t, a.KafkaAddr, streams.DefaultTopics().Outbox()))

	ws := dialFeed(t, a.HTTPAddr, reg)
	if err := ws.conn.WriteJSON(map[string]any{"id": "d", "op": "subscribe", "topic": "drill"}); err != nil {
		t.Fatal(err)
	}
	ws.until("the drill ack", func(m map[string]any) bool { return m["type"] == "ack" && m["topic"] == "drill" })

	for _, c := range []struct {
		name, token string
		body        []byte
		status      int
		want        string
	}{
		{"unknown kind", reg, hatoScenario(t, func(m map[string]any) { m["kind"] = "meteor" }), http.StatusBadRequest, "kind"},
		{"team without base", reg, hatoScenario(t, func(m map[string]any) {
			delete(m["resources"].(map[string]any)["teams"].([]any)[2].(map[string]any), "base")
		}), http.StatusBadRequest, "resources.teams[2].base"},
		{"not JSON", reg, []byte("typhoon please"), http.StatusBadRequest, "scenario"},
		{"public", "public-token-000001", hatoScenario(t, nil), http.StatusForbidden, "public"},
		{"contractor", "contractor-token-01", hatoScenario(t, nil), http.StatusForbidden, "contractor"},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := request(t, http.MethodPost, base+"/api/drills", c.token, c.body)
			var e struct{ Error string }
			if status != c.status || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, c.want) {
				t.Errorf("POST /api/drills: %d %s, want %d naming %q", status, body, c.status, c.want)
			}
		})
	}

	status, body := request(t, http.MethodPost, base+"/api/drills", reg, hatoScenario(t, nil))
	if status != http.StatusAccepted {
		t.Fatalf("POST /api/drills: %d %s", status, body)
	}
	var st dashboard.DrillStatus
	if err := json.Unmarshal(body, &st); err != nil || !strings.HasPrefix(st.ID, "hato-2017@") || st.State != dashboard.DrillRunning {
		t.Fatalf("started: %s (%v)", body, err)
	}
	eventually(t, func() string {
		status, body = request(t, http.MethodGet, base+"/api/drills/"+st.ID, reg, nil)
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("GET /api/drills/{id}: %d %s", status, body)
		}
		if st.State == dashboard.DrillRunning {
			return fmt.Sprintf("drill at step %d of %d", st.StepsDone, st.Steps)
		}
		return ""
	})
	if st.State != dashboard.DrillDone || st.StepsDone != 432 || st.KPIs == nil || st.Plan == nil || st.Events == 0 || st.Sites == 0 {
		t.Fatalf("drill: %s", body)
	}
	if status, _ := request(t, http.MethodGet, base+st.Link["report"], reg, nil); status != http.StatusOK {
		t.Errorf("report: %d", status)
	}
	if status, body := request(t, http.MethodGet, base+st.Link["timeline"], reg, nil); status != http.StatusOK || !bytes.Contains(body, []byte(`"steps":[{`)) {
		t.Errorf("timeline: %d %.200s", status, body)
	}
	if status, _ := request(t, http.MethodGet, base+"/api/drills/"+st.ID, "public-token-000001", nil); status != http.StatusForbidden {
		t.Errorf("public GET of a drill: %d", status)
	}

	// the websocket: the drill's layer (its sites), its steps, its end
	sawSites, sawStep := false, false
	ws.until("the drill's end over the websocket", func(m map[string]any) bool {
		d, _ := m["drill"].(map[string]any)
		if d == nil || d["id"] != st.ID {
			return false
		}
		if s, _ := m["sites"].([]any); len(s) == st.Sites && len(m["levels"].(string)) == st.Sites {
			sawSites = true
		}
		if m["type"] == "drill" && m["step"] != nil {
			sawStep = true
		}
		return d["state"] == dashboard.DrillDone
	})
	if !sawSites || !sawStep {
		t.Errorf("websocket: sites %v, steps %v", sawSites, sawStep)
	}

	// the engine applied the drill's events to its forks, never to the
	// real twins
	eventually(t, func() string {
		if a.Engine.Stats().DrillEvents < int64(st.Events) {
			return fmt.Sprintf("engine applied %d drill events of %d", a.Engine.Stats().DrillEvents, st.Events)
		}
		return groupBehind(t, a.KafkaAddr, "sitetwin")
	})
	if after := committedDump(t, a.KafkaAddr); !bytes.Equal(before, after) {
		t.Errorf("the drill changed the committed state of the real twins (%d bytes before, %d after)", len(before), len(after))
	}
	for _, al := range a.Engine.Store().Alerts(0) {
		if al.Drill != "" || strings.HasPrefix(al.Event, "hato-2017@") {
			t.Fatalf("a drill alert in the city's store: %+v", al)
		}
	}
	outbox := topicRecords(t, a.KafkaAddr, streams.DefaultTopics().Outbox())
	if len(outbox) != outboxBefore {
		t.Errorf("outbox: %d records after the drill, %d before", len(outbox), outboxBefore)
	}
	for _, r := range outbox {
		if bytes.Contains(r.Value, []byte(st.ID)) {
			t.Errorf("drill request in the outbox: %s", r.Value)
		}
	}
	drillAlerts := 0
	for _, r := range topicRecords(t, a.KafkaAddr, streams.DefaultTopics().Alerts()) {
		if bytes.Contains(r.Value, []byte(`"drill":"`+st.ID+`"`)) {
			drillAlerts++
		}
	}
	if drillAlerts == 0 {
		t.Error("no drill alert on the alerts topic: did the engine apply the drill's events?")
	}
}
