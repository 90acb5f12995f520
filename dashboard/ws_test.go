package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitetwin/sitetwin/twin"
)

// liveSource is a Source with a Feed, like the engine's store: views
// published under a lock, watchers told after.
type liveSource struct {
	twins *memSource // the twins events are applied to (test goroutine only)

	mu       sync.RWMutex
	views    map[string]*twin.ProjectView
	alerts   []twin.Alert
	wmu      sync.Mutex
	watchers map[int]func([]string, []twin.Alert)
	n        int
}

func newLiveSource(t *testing.T) *liveSource {
	src := newSource(t)
	l := &liveSource{twins: src, views: map[string]*twin.ProjectView{}, alerts: src.alerts, watchers: map[int]func([]string, []twin.Alert){}}
	for id, p := range src.twins {
		l.views[id] = p.View()
	}
	return l
}

func (l *liveSource) Twin(id string) (*twin.ProjectView, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	v, ok := l.views[id]
	return v, ok
}

func (l *liveSource) Twins() []*twin.ProjectView {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []*twin.ProjectView
	for _, id := range sortedKeys(l.views) {
		out = append(out, l.views[id])
	}
	return out
}

func (l *liveSource) Alerts(n int) []twin.Alert {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]twin.Alert, 0, len(l.alerts))
	for i := len(l.alerts) - 1; i >= 0; i-- {
		out = append(out, l.alerts[i])
	}
	if n > 0 && n < len(out) {
		out = out[:n]
	}
	return out
}

func (l *liveSource) Watch(fn func([]string, []twin.Alert)) func() {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	id := l.n
	l.n++
	l.watchers[id] = fn
	return func() {
		l.wmu.Lock()
		defer l.wmu.Unlock()
		delete(l.watchers, id)
	}
}

// apply applies events, publishes the changed views and tells the
// watchers; it returns the time the watchers took.
func (l *liveSource) apply(t *testing.T, events ...string) time.Duration {
	t.Helper()
	r := twin.DefaultRules()
	var ids []string
	var alerts []twin.Alert
	for _, js := range events {
		e := mustDecode(t, js)
		p := l.twins.twins[e.Project]
		eff, err := twin.Apply(p, e, r)
		if err != nil {
			t.Fatalf("apply %s: %v", js, err)
		}
		alerts = append(alerts, eff.Alerts...)
		if !slices.Contains(ids, e.Project) {
			ids = append(ids, e.Project)
		}
	}
	l.mu.Lock()
	for _, id := range ids {
		l.views[id] = l.twins.twins[id].View()
	}
	l.alerts = append(l.alerts, alerts...)
	l.mu.Unlock()
	start := time.Now()
	l.wmu.Lock()
	for _, fn := range l.watchers {
		fn(slices.Clone(ids), alerts)
	}
	l.wmu.Unlock()
	return time.Since(start)
}

var readingSeq int

// noise returns a noise reading at P's site at 03:mm.
func noise(project string, value float64, minute int) string {
	readingSeq++
	return fmt.Sprintf(`{"specversion":"1.0","id":"nz-%d","type":"sensor.reading","source":"t","time":"2026-11-20T03:%02d:%02dZ","project":"%s","site":"%s-S1","data":{"kind":"noise","value":%g,"unit":"dB(A)"}}`,
		readingSeq, minute, readingSeq%60, project, project, value)
}

const testTokens = `# test tokens
regulator-token-0001 regulator
contractor-token-c1x contractor C-1
contractor-token-c2x contractor C-2
public-token-000001 public
`

// wsServer runs a server over a live source with its feed.
func wsServer(t *testing.T, mod func(*Config)) (*httptest.Server, *liveSource, *Server, *prometheus.Registry) {
	t.Helper()
	return startWSServer(t, mod, nil)
}

// startWSServer is wsServer with a hook on the server's connections
// (http.Server.ConnState), set before it starts.
func startWSServer(t *testing.T, mod func(*Config), connState func(net.Conn, http.ConnState)) (*httptest.Server, *liveSource, *Server, *prometheus.Registry) {
	t.Helper()
	src := newLiveSource(t)
	tokens, err := ParseTokens([]byte(testTokens))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	cfg := Config{Source: src, Tokens: tokens, Registerer: reg, UpdatesPerSecond: 50, PingInterval: time.Second, SummaryEvery: 50 * time.Millisecond,
		Load: func() Load { return Load{Events: 10, Lag: 3} }}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	srv := httptest.NewUnstartedServer(s)
	srv.Config.ConnState = connState
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
	})
	eventually(t, func() string {
		if !s.hub.up.Load() {
			return "feed not running"
		}
		return ""
	})
	return srv, src, s, reg
}

// eventually polls cond every 10 ms until it returns "" or 10 s pass.
func eventually(t *testing.T, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func dial(t *testing.T, srv *httptest.Server, token string, header http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	return dialWith(t, websocket.DefaultDialer, srv, token, header)
}

// dialWith is dial with another dialer.
func dialWith(t *testing.T, dialer *websocket.Dialer, srv *httptest.Server, token string, header http.Header) (*wsClient, *http.Response, error) {
	t.Helper()
	if header == nil {
		header = http.Header{}
	}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	conn, resp, err := dialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", header)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsClient{t: t, conn: conn}
	if m := c.next(); m["type"] != "hello" {
		t.Fatalf("first message %v, want hello", m)
	}
	return c, resp, nil
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wsClient) next() map[string]any {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m map[string]any
	if err := c.conn.ReadJSON(&m); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

// until reads messages until one satisfies ok, and returns it.
func (c *wsClient) until(what string, ok func(m map[string]any) bool) map[string]any {
	c.t.Helper()
	for {
		c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m map[string]any
		if err := c.conn.ReadJSON(&m); err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(m) {
			return m
		}
	}
}

func isType(typ, topic string) func(map[string]any) bool {
	return func(m map[string]any) bool { return m["type"] == typ && (topic == "" || m["topic"] == topic) }
}

func projectsOf(m map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	ps, _ := m["projects"].([]any)
	for _, p := range ps {
		row := p.(map[string]any)
		out[row["id"].(string)] = row
	}
	return out
}

func metricValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			has := label == ""
			for _, l := range m.GetLabel() {
				has = has || l.GetValue() == label
			}
			if !has {
				continue
			}
			if m.Counter != nil {
				sum += m.Counter.GetValue()
			} else if m.Gauge != nil {
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

func TestWSSnapshotThenChanges(t *testing.T) {
	srv, src, _, _ := wsServer(t, nil)
	c, resp, err := dial(t, srv, "regulator-token-0001", nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp
	c.send(map[string]any{"id": "1", "op": "subscribe", "topic": "city"})
	if m := c.next(); m["type"] != "ack" || m["id"] != "1" {
		t.Fatalf("want ack, got %v", m)
	}
	snap := c.until("city snapshot", isType("snapshot", "city"))
	rows := projectsOf(snap)
	if len(rows) != 3 || rows["P-001"]["health"] != "red" || rows["P-002"]["health"] != "green" {
		t.Fatalf("snapshot rows %v", rows)
	}
	if sites := rows["P-001"]["sites"].([]any); len(sites) != 1 || sites[0].(map[string]any)["cranes"] != 1.0 {
		t.Errorf("P-001 sites %v, want one site with a crane", sites)
	}
	c.send(map[string]any{"op": "subscribe", "topic": "alerts", "level": "stop"})
	snapA := c.until("alerts snapshot", isType("snapshot", "alerts"))
	if as := snapA["alerts"].([]any); len(as) != 1 || as[0].(map[string]any)["rule"] != "noise_leq" {
		t.Fatalf("alerts snapshot %v, want the noise stop", as)
	}
	c.send(map[string]any{"op": "subscribe", "topic": "summary"})
	sum := c.until("summary snapshot", isType("snapshot", "summary"))["summary"].(map[string]any)
	if h := sum["health"].(map[string]any); h["red"] != 1.0 || h["amber"] != 1.0 || h["green"] != 1.0 {
		t.Errorf("summary health %v", h)
	}

	src.apply(t, noise("P-002", 96, 10))
	upd := c.until("P-002 red", func(m map[string]any) bool {
		return m["type"] == "projects" && projectsOf(m)["P-002"]["health"] == "red"
	})
	if len(projectsOf(upd)) != 1 {
		t.Errorf("update carries unchanged twins: %v", upd)
	}
	al := c.until("the new alert", isType("alerts", ""))
	a := al["alerts"].([]any)[0].(map[string]any)
	if a["project"] != "P-002" || a["rule"] != "noise_leq" || a["kind"] != "sensor" || a["responsible"] != "C-2" || a["reason"] == "" {
		t.Errorf("alert %v", a)
	}
	c.until("summary with two red", func(m map[string]any) bool {
		if m["type"] != "summary" {
			return false
		}
		s := m["summary"].(map[string]any)
		return s["health"].(map[string]any)["red"] == 2.0 && s["consumer_lag"] == 3.0
	})

	// a twin subscription: snapshot then the latest view
	c.send(map[string]any{"op": "subscribe", "topic": "twin", "project": "P-003"})
	tw := c.until("twin snapshot", isType("snapshot", "twin"))
	if tw["twin"].(map[string]any)["health"] != "amber" {
		t.Errorf("twin snapshot %v", tw)
	}
	src.apply(t, noise("P-003", 99, 11))
	c.until("twin update", func(m map[string]any) bool {
		return m["type"] == "twin" && m["project"] == "P-003" && m["twin"].(map[string]any)["health"] == "red"
	})

	// bad requests are answered, the connection stays
	for _, req := range []map[string]any{
		{"op": "dance", "topic": "city"},
		{"op": "subscribe", "topic": "weather"},
		{"op": "subscribe", "topic": "twin", "project": "P-999"},
		{"op": "subscribe", "topic": "district"},
	} {
		c.send(req)
		if m := c.until("error", isType("error", "")); m["error"] == "" {
			t.Errorf("%v: error without a message: %v", req, m)
		}
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if m := c.until("error", isType("error", "")); !strings.Contains(m["error"].(string), "not JSON") {
		t.Errorf("bad JSON answered %v", m)
	}
}

func TestWSDistrict(t *testing.T) {
	srv, src, _, _ := wsServer(t, nil)
	c, _, err := dial(t, srv, "regulator-token-0001", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.send(map[string]any{"op": "subscribe", "topic": "district", "district": "Futian"})
	snap := c.until("district snapshot", isType("snapshot", "district"))
	if rows := projectsOf(snap); len(rows) != 1 || rows["P-002"] == nil {
		t.Fatalf("Futian snapshot %v", rows)
	}
	src.apply(t, noise("P-001", 50, 12)) // Nanshan: not sent
	src.apply(t, noise("P-002", 97, 12))
	m := c.until("Futian update", isType("projects", ""))
	if rows := projectsOf(m); len(rows) != 1 || rows["P-002"] == nil {
		t.Fatalf("district update %v, want only P-002", rows)
	}
}

func TestWSCoalescing(t *testing.T) {
	srv, src, s, reg := wsServer(t, func(c *Config) { c.UpdatesPerSecond = 2 })
	c, _, err := dial(t, srv, "regulator-token-0001", nil)
	if err != nil {
		t.Fatal(err)
	}
	slow, _, err := dial(t, srv, "regulator-token-0001", nil) // never reads after subscribing
	if err != nil {
		t.Fatal(err)
	}
	slow.send(map[string]any{"op": "subscribe", "topic": "city"})
	slow.send(map[string]any{"op": "subscribe", "topic": "alerts"})
	c.send(map[string]any{"op": "subscribe", "topic": "twin", "project": "P-001"})
	c.until("twin snapshot", isType("snapshot", "twin"))

	const n = 300
	var watchers time.Duration
	for i := range n {
		watchers += src.apply(t, noise("P-001", 40+float64(i%50), 20+i/60))
		s.hub.do(s.hub.drain) // offered to the clients one change at a time
	}
	// the engine's side: telling the feed never waited for a client
	if watchers > 2*time.Second {
		t.Errorf("watchers took %v for %d changes: the feed blocks its source", watchers, n)
	}
	last, _ := src.Twin("P-001")
	want := last.Applied
	updates := 0
	c.until("the latest view", func(m map[string]any) bool {
		if m["type"] != "twin" {
			return false
		}
		updates++
		return m["twin"].(map[string]any)["events_applied"] == float64(want)
	})
	if updates >= n/2 {
		t.Errorf("%d twin messages for %d changes: not coalesced", updates, n)
	}
	if got := metricValue(t, reg, "sitetwin_ws_coalesced_total", "twin"); got == 0 {
		t.Error("sitetwin_ws_coalesced_total{what=twin} is 0")
	}
	if got := metricValue(t, reg, "sitetwin_ws_coalesced_total", "row"); got == 0 {
		t.Error("the slow client's rows were not coalesced")
	}
	if got := metricValue(t, reg, "sitetwin_ws_twin_changes_total", ""); got < n {
		t.Errorf("sitetwin_ws_twin_changes_total %v, want >= %d", got, n)
	}
}

func TestWSLimits(t *testing.T) {
	srv, _, s, reg := wsServer(t, func(c *Config) { c.PingInterval = 100 * time.Millisecond })

	t.Run("oversize message closes", func(t *testing.T) {
		c, _, err := dial(t, srv, "regulator-token-0001", nil)
		if err != nil {
			t.Fatal(err)
		}
		big := `{"op":"subscribe","topic":"city","id":"` + strings.Repeat("x", 5000) + `"}`
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
			t.Fatal(err)
		}
		for {
			c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _, err := c.conn.ReadMessage()
			if err == nil {
				continue
			}
			if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
				t.Fatalf("connection ended with %v, want close 1009", err)
			}
			break
		}
		eventually(t, func() string {
			if metricValue(t, reg, "sitetwin_http_rejected_total", "too_big") == 0 {
				return "too_big not counted"
			}
			return ""
		})
	})

	t.Run("keepalive", func(t *testing.T) {
		c, _, err := dial(t, srv, "regulator-token-0001", nil)
		if err != nil {
			t.Fatal(err)
		}
		pings := 0
		c.conn.SetPingHandler(func(data string) error {
			pings++
			return c.conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		c.send(map[string]any{"op": "subscribe", "topic": "summary"})
		// reading answers pings; the connection lives past many ping intervals
		deadline := time.Now().Add(10 * time.Second)
		for pings < 5 && time.Now().Before(deadline) {
			c.next()
		}
		if pings < 5 {
			t.Fatalf("%d pings", pings)
		}
	})

	t.Run("silent client is closed", func(t *testing.T) {
		before := metricValue(t, reg, "sitetwin_ws_clients", "")
		c, _, err := dial(t, srv, "regulator-token-0001", nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = c // never reads: pings go unanswered
		eventually(t, func() string {
			if n := metricValue(t, reg, "sitetwin_ws_clients", ""); n > before {
				return fmt.Sprintf("%v clients, want %v", n, before)
			}
			return ""
		})
	})

	t.Run("bad origin", func(t *testing.T) {
		_, resp, err := dial(t, srv, "regulator-token-0001", http.Header{"Origin": {"http://evil.example"}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("evil origin: %v %v", err, resp)
		}
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), `may not open the websocket`) {
			t.Errorf("body %s", body)
		}
		own := srv.URL // the page's own origin is fine
		if _, _, err := dial(t, srv, "regulator-token-0001", http.Header{"Origin": {own}}); err != nil {
			t.Fatalf("own origin: %v", err)
		}
	})

	t.Run("not a websocket", func(t *testing.T) {
		resp, err := http.Get(srv.URL + "/ws")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain GET /ws: %d", resp.StatusCode)
		}
	})

	t.Run("request rate limit", func(t *testing.T) {
		c, _, err := dial(t, srv, "regulator-token-0001", nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 * int(s.cfg.MessagesPerSecond) {
			if c.conn.WriteJSON(map[string]any{"op": "subscribe", "topic": "summary"}) != nil {
				break
			}
		}
		for {
			c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _, err := c.conn.ReadMessage()
			if err != nil {
				if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
					t.Fatalf("ended with %v, want 1008", err)
				}
				break
			}
		}
	})
}

func TestWSRoles(t *testing.T) {
	srv, src, _, _ := wsServer(t, nil)

	t.Run("handshake needs a token", func(t *testing.T) {
		for _, tok := range []string{"", "not-a-known-token-at-all"} {
			_, resp, err := dial(t, srv, tok, nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("token %q: %v %v", tok, err, resp)
			}
		}
	})

	t.Run("subprotocol token", func(t *testing.T) {
		d := websocket.Dialer{Subprotocols: []string{WSProtocol, "bearer.public-token-000001"}}
		conn, resp, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if resp.Header.Get("Sec-WebSocket-Protocol") != WSProtocol {
			t.Errorf("protocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
		}
		var hello map[string]any
		conn.ReadJSON(&hello)
		if hello["role"] != "public" {
			t.Errorf("hello %v", hello)
		}
	})

	t.Run("public sees public fields", func(t *testing.T) {
		c, _, err := dial(t, srv, "public-token-000001", nil)
		if err != nil {
			t.Fatal(err)
		}
		c.send(map[string]any{"op": "subscribe", "topic": "twin", "project": "P-001"})
		tw := c.until("twin snapshot", isType("snapshot", "twin"))
		b, _ := json.Marshal(tw["twin"])
		for _, banned := range []string{`"funds"`, `"hazards"`, `"contractor"`, `"owner"`, `"health"`, `"audit_head"`, `"credit"`, `"equipment"`, `"responsible"`} {
			if strings.Contains(string(b), banned) {
				t.Errorf("public twin carries %s: %s", banned, b)
			}
		}
		if !strings.Contains(string(b), `"disturbance":"stop"`) || !strings.Contains(string(b), `"kind":"noise"`) {
			t.Errorf("public twin lacks its disturbance: %s", b)
		}
		c.send(map[string]any{"op": "subscribe", "topic": "city"})
		snap := c.until("city", isType("snapshot", "city"))
		sb, _ := json.Marshal(snap)
		if len(projectsOf(snap)) != 3 || strings.Contains(string(sb), `"health"`) || strings.Contains(string(sb), `"contractor"`) {
			t.Errorf("public city snapshot %s", sb)
		}
		c.send(map[string]any{"op": "subscribe", "topic": "alerts"})
		al := c.until("alerts", isType("snapshot", "alerts"))
		ab, _ := json.Marshal(al)
		if strings.Contains(string(ab), `"responsible"`) || !strings.Contains(string(ab), `noise_leq`) {
			t.Errorf("public alerts %s", ab)
		}
		// a funds alert is not for the public
		src.apply(t, `{"specversion":"1.0","id":"wd1","type":"funds.disbursed","source":"t","time":"2026-11-20T04:00:00Z","project":"P-001","data":{"amount_cny":90000000}}`)
		src.apply(t, noise("P-002", 98, 30))
		m := c.until("P-002 noise alert", isType("alerts", ""))
		mb, _ := json.Marshal(m)
		if strings.Contains(string(mb), `"funds"`) {
			t.Errorf("public got a funds alert: %s", mb)
		}
	})

	t.Run("contractor sees its own projects", func(t *testing.T) {
		c, _, err := dial(t, srv, "contractor-token-c2x", nil)
		if err != nil {
			t.Fatal(err)
		}
		c.send(map[string]any{"op": "subscribe", "topic": "twin", "project": "P-001"})
		if m := c.until("error", isType("error", "")); m["status"] != 403.0 {
			t.Errorf("another contractor's twin: %v", m)
		}
		c.send(map[string]any{"op": "subscribe", "topic": "city"})
		snap := c.until("city", isType("snapshot", "city"))
		if rows := projectsOf(snap); len(rows) != 1 || rows["P-002"] == nil || rows["P-002"]["health"] == nil {
			t.Errorf("contractor C-2 city %v, want P-002 in full", rows)
		}
		c.send(map[string]any{"op": "subscribe", "topic": "summary"})
		sum := c.until("summary", isType("snapshot", "summary"))["summary"].(map[string]any)
		if sum["projects"] != 1.0 {
			t.Errorf("contractor summary %v", sum)
		}
		c.send(map[string]any{"op": "subscribe", "topic": "alerts"})
		al := c.until("alerts", isType("snapshot", "alerts"))
		for _, a := range al["alerts"].([]any) {
			if p := a.(map[string]any)["project"]; p != "P-002" {
				t.Errorf("contractor C-2 sees an alert of %v", p)
			}
		}
	})
}

func TestRESTRoles(t *testing.T) {
	srv, _, _, _ := wsServer(t, func(c *Config) { c.Metrics = http.NotFoundHandler() })
	cases := []struct {
		name, token, path string
		status            int
		contains, lacks   []string
	}{
		{"no token", "", "/api/twins", 401, []string{"authentication required"}, nil},
		{"unknown token", "nope-nope-nope-nope-nope", "/api/twins", 401, []string{"unknown token"}, nil},
		{"healthz is open", "", "/healthz", 200, nil, nil},
		{"page is open", "", "/", 200, []string{"<title>"}, nil},
		{"script is open", "", "/static/app.js", 200, nil, nil},
		{"openapi needs a token", "", "/api/openapi.json", 401, nil, nil},
		{"regulator", "regulator-token-0001", "/api/twins", 200, []string{`"total":3`}, nil},
		{"contractor lists own", "contractor-token-c2x", "/api/twins", 200, []string{`"total":1`, `"P-002"`}, []string{`"P-001"`}},
		{"contractor own twin", "contractor-token-c2x", "/api/twins/P-002", 200, []string{`"funds"`}, nil},
		{"contractor other twin", "contractor-token-c2x", "/api/twins/P-001", 403, []string{"not one of its parties"}, nil},
		{"contractor other audit", "contractor-token-c2x", "/api/twins/P-001/audit", 403, nil, nil},
		{"contractor other series", "contractor-token-c2x", "/api/twins/P-001/sites/P-001-S1/series?key=noise", 403, nil, nil},
		{"contractor alerts", "contractor-token-c1x", "/api/alerts", 200, []string{`"P-001"`, `"P-003"`}, []string{`"P-002"`}},
		{"contractor near", "contractor-token-c2x", "/api/sites/near?lat=22.52&lon=113.93&radius_km=50", 200, []string{`"total":1`}, nil},
		{"public list", "public-token-000001", "/api/twins", 200, []string{`"total":3`, `"disturbance"`}, []string{`"health"`, `"contractor"`, `"counts"`}},
		{"public twin", "public-token-000001", "/api/twins/P-001", 200, []string{`"name":"Qianhai Tower"`, `"filing"`}, []string{`"funds"`, `"hazards"`, `"health"`, `"owner"`}},
		{"public health filter", "public-token-000001", "/api/twins?health=red", 403, nil, nil},
		{"public audit", "public-token-000001", "/api/twins/P-001/audit", 403, nil, nil},
		{"public alerts", "public-token-000001", "/api/alerts", 200, []string{`noise_leq`, `pm10_hourly`}, []string{`"responsible"`}},
		{"public active", "public-token-000001", "/api/alerts?active=true", 200, []string{`noise_leq`}, nil},
		{"public near", "public-token-000001", "/api/sites/near?lat=22.52&lon=113.93&radius_km=6", 200, []string{`"total":2`}, []string{`"cranes"`, `"health"`}},
		{"public noise series", "public-token-000001", "/api/twins/P-001/sites/P-001-S1/series?key=noise", 200, []string{`"noise_leq"`}, nil},
		{"public crane series", "public-token-000001", "/api/twins/P-001/sites/P-001-S1/series?key=wind_speed", 403, nil, nil},
		{"public metrics", "public-token-000001", "/metrics", 403, nil, nil},
		{"public whoami", "public-token-000001", "/api/whoami", 200, []string{`"role":"public"`}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+c.path, nil)
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
			}
			if c.status >= 400 {
				var e apiError
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Errorf("error body is not JSON with a message: %s", body)
				}
			}
			if c.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			for _, w := range c.contains {
				if !strings.Contains(string(body), w) {
					t.Errorf("body lacks %s: %s", w, body)
				}
			}
			for _, w := range c.lacks {
				if strings.Contains(string(body), w) {
					t.Errorf("body has %s: %s", w, body)
				}
			}
		})
	}
}

func TestParseTokens(t *testing.T) {
	cases := []struct {
		name, in, err string
	}{
		{"ok", testTokens, ""},
		{"short", "abc regulator", "line 1: token is shorter than 16"},
		{"bad char", "abcdefghijklmnop/ regulator", `line 1: token contains '/'`},
		{"bad role", "abcdefghijklmnopq admin", `role "admin"`},
		{"contractor without unit", "abcdefghijklmnopq contractor", "needs the UNIT"},
		{"public with unit", "abcdefghijklmnopq public X", "takes no unit"},
		{"duplicate", "abcdefghijklmnopq public\nabcdefghijklmnopq regulator", "line 2: the same token"},
		{"empty", "# nothing\n\n", "no tokens"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tk, err := ParseTokens([]byte(c.in))
			if c.err == "" {
				if err != nil || tk.Len() != 4 {
					t.Fatalf("%v", err)
				}
				return
			}
			var te *TokenError
			if err == nil || !errors.As(err, &te) || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want %s", err, c.err)
			}
		})
	}
}

func TestNewNeedsTokensOrOpen(t *testing.T) {
	if _, err := New(Config{Source: newSource(t)}); err == nil || !strings.Contains(err.Error(), "no tokens") {
		t.Fatalf("New without tokens: %v", err)
	}
}

func TestServerRunAndClose(t *testing.T) {
	s, err := New(Config{Source: newLiveSource(t), Open: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	eventually(t, func() string {
		if !s.hub.up.Load() {
			return "feed not running"
		}
		return ""
	})
	s.Close()
	s.Close() // idempotent
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err != nil { // closed: returns at once
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	defer srv.Close()
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("websocket after Close: %v %v", err, resp)
	}
}

// TestWSSlowClientDropped: a client that stops reading is dropped once a
// write times out, and counted; the feed goes on for the others. The
// socket buffers of both ends are made small, so that a few updates fill
// them however slowly a loaded machine runs the loop (Linux grows them to
// megabytes otherwise).
func TestWSSlowClientDropped(t *testing.T) {
	const bufBytes = 8 << 10
	small := func(c net.Conn) {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetWriteBuffer(bufBytes) //nolint:errcheck // a larger buffer only makes the test slower
			tc.SetReadBuffer(bufBytes)  //nolint:errcheck
		}
	}
	srv, src, s, reg := startWSServer(t, func(c *Config) { c.UpdatesPerSecond = 10000; c.WriteTimeout = 100 * time.Millisecond },
		func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				small(c)
			}
		})
	dialer := *websocket.DefaultDialer
	dialer.NetDialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			small(c)
		}
		return c, err
	}
	slow, _, err := dialWith(t, &dialer, srv, "regulator-token-0001", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"P-001", "P-002", "P-003"} {
		slow.send(map[string]any{"op": "subscribe", "topic": "twin", "project": p})
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; metricValue(t, reg, "sitetwin_ws_dropped_total", "client") == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatal("a client that never reads was not dropped")
		}
		src.apply(t, noise([]string{"P-001", "P-002", "P-003"}[i%3], 40+float64(i%50), 40+(i/60)%20))
		s.hub.do(s.hub.drain)
	}
	fast, _, err := dial(t, srv, "regulator-token-0001", nil)
	if err != nil {
		t.Fatal(err)
	}
	fast.send(map[string]any{"op": "subscribe", "topic": "summary"})
	fast.until("summary", isType("snapshot", "summary"))
}
