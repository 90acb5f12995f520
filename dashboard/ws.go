package dashboard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sitetwin/sitetwin/twin"
)

// The websocket protocol (see README-ws.md): the client sends requests,
// the server answers with an ack or an error, then a snapshot of each
// subscribed topic, then changes, at most Config.UpdatesPerSecond batches
// a second, coalesced to the latest state per twin in between.

// request is a message from a client.
type request struct {
	ID       string `json:"id,omitempty"` // echoed in the ack or error
	Op       string `json:"op"`           // subscribe or unsubscribe
	Topic    string `json:"topic"`        // summary, city, district, twin, alerts
	District string `json:"district,omitempty"`
	Project  string `json:"project,omitempty"`
	Drill    string `json:"drill,omitempty"` // topic drill: one drill (default every one)
	alertFilter
}

// message is a message to a client; Type says which fields are set.
type message struct {
	Type     string            `json:"type"`
	ID       string            `json:"id,omitempty"`
	Topic    string            `json:"topic,omitempty"`
	District string            `json:"district,omitempty"`
	Project  string            `json:"project,omitempty"`
	Projects []json.RawMessage `json:"projects,omitempty"`
	Removed  []string          `json:"removed,omitempty"`
	More     bool              `json:"more,omitempty"`
	Twin     json.RawMessage   `json:"twin,omitempty"`
	Alerts   []json.RawMessage `json:"alerts,omitempty"`
	Dropped  int               `json:"dropped,omitempty"`
	Summary  *Summary          `json:"summary,omitempty"`
	Error    string            `json:"error,omitempty"`
	Status   int               `json:"status,omitempty"`
	// hello
	Role             Role     `json:"role,omitempty"`
	Unit             string   `json:"unit,omitempty"`
	UpdatesPerSecond float64  `json:"updates_per_second,omitempty"`
	MaxMessageBytes  int64    `json:"max_message_bytes,omitempty"`
	Topics           []string `json:"topics,omitempty"`
}

var topics = []string{"summary", "city", "district", "twin", "alerts", "drill"}

const websocketGoingAway = websocket.CloseGoingAway

// subs are a client's subscriptions.
type subs struct {
	summary   bool
	city      bool
	districts map[string]bool // lower case
	twins     map[string]bool
	alerts    *alertFilter
	drill     *string // topic drill: the drill id, "" for every drill
}

// pending is what waits to be sent to a client.
type pending struct {
	msgs    [][]byte          // in order: acks, errors, snapshots
	rows    *rowBatch         // latest row per twin, shared with the clients of the same selection; nil: none
	twins   map[string]*row   // latest row per subscribed twin; nil: gone (the map made on first use)
	alerts  []json.RawMessage // oldest first
	dropped int               // alerts dropped since the last send
	summary []byte
	drill   []drillMsg // drill messages, in order
}

func (p *pending) empty() bool {
	return len(p.msgs) == 0 && p.rows == nil && len(p.twins) == 0 && len(p.alerts) == 0 && p.dropped == 0 && p.summary == nil && len(p.drill) == 0
}

// client is one websocket connection: a reader goroutine (requests,
// pongs), a writer goroutine (everything sent), and state shared with the
// hub under mu.
type client struct {
	s    *Server
	p    Principal
	conn *websocket.Conn
	wake chan struct{}
	done chan struct{}
	once sync.Once

	key string // the selection of map rows (rowKey), owned by the hub's goroutine

	mu   sync.Mutex
	subs subs
	pend pending
	code int // close code for the writer to send
}

func (c *client) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close ends the connection (once); the writer sends the close frame.
func (c *client) close(code int) {
	c.once.Do(func() {
		c.mu.Lock()
		c.code = code
		c.mu.Unlock()
		close(c.done)
	})
}

// queue adds a ready message.
func (c *client) queue(b []byte) {
	c.mu.Lock()
	c.pend.msgs = append(c.pend.msgs, b)
	c.mu.Unlock()
	c.signal()
}

func (c *client) wantsSummary() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.subs.summary
}

func (c *client) setSummary(h *hub, b []byte) {
	c.mu.Lock()
	if c.pend.summary != nil {
		h.s.m.coalesced.WithLabelValues("summary").Inc()
	}
	c.pend.summary = b
	c.mu.Unlock()
	c.signal()
}

// wantsRow reports whether a row is in one of the client's map topics.
func (c *client) wantsRow(r *row) bool {
	return r != nil && (c.subs.city || c.subs.districts[r.district])
}

// offer merges a batch of changes into what waits for the client, keeping
// the latest state per twin; rows are the map rows of the changes that the
// client's selection sees (shared with the other clients of the same
// selection; nil: none). It runs on the hub's goroutine.
func (c *client) offer(h *hub, changes []change, rows *rowBatch, alerts []twin.Alert, full, public []json.RawMessage) {
	c.mu.Lock()
	any := false
	if len(c.subs.twins) > 0 {
		for _, ch := range changes {
			if !c.subs.twins[ch.id] {
				continue
			}
			var r *row
			if ch.new != nil && (c.p.Role == RolePublic || c.p.sees(&ch.new.view.Info)) {
				r = ch.new
			}
			if _, waiting := c.pend.twins[ch.id]; waiting {
				h.s.m.coalesced.WithLabelValues("twin").Inc()
			}
			if c.pend.twins == nil {
				c.pend.twins = map[string]*row{}
			}
			c.pend.twins[ch.id] = r
			any = true
		}
	}
	if rows != nil {
		if c.pend.rows == nil {
			c.pend.rows = rows
		} else {
			var n int
			c.pend.rows, n = rows.after(c.pend.rows)
			if n > 0 {
				h.s.m.coalesced.WithLabelValues("row").Add(float64(n))
			}
		}
		any = true
	}
	if f := c.subs.alerts; f != nil {
		for i := range alerts {
			a := &alerts[i]
			var info *twin.ProjectInfo
			if r := h.rows[a.Project]; r != nil {
				info = &r.view.Info
			}
			if !f.match(h.s.kinds, a) || !h.s.kinds.alertVisible(c.p, a, info) {
				continue
			}
			b := full[i]
			if c.p.Role == RolePublic {
				b = public[i]
			}
			c.pend.alerts = append(c.pend.alerts, b)
			any = true
		}
		if n := len(c.pend.alerts) - maxPendingAlerts; n > 0 {
			c.pend.alerts = slices.Delete(c.pend.alerts, 0, n)
			c.pend.dropped += n
			h.s.m.dropped.WithLabelValues("alert").Add(float64(n))
		}
	}
	c.mu.Unlock()
	if any {
		c.signal()
	}
}

// take returns the messages to send now and empties what waits.
func (c *client) take() (frames [][]byte, code int) {
	c.mu.Lock()
	p := c.pend
	c.pend = pending{}
	code = c.code
	c.mu.Unlock()
	frames = append(p.msgs, drillFrames(p.drill)...)
	if p.rows != nil {
		frames = append(frames, p.rows.message()) // encoded once for the clients that share it
	}
	for _, id := range sortedKeys(p.twins) {
		frames = append(frames, c.twinMessage(id, p.twins[id]))
	}
	if len(p.alerts) > 0 || p.dropped > 0 {
		alerts := make([]json.RawMessage, 0, len(p.alerts))
		for i := len(p.alerts) - 1; i >= 0; i-- {
			alerts = append(alerts, p.alerts[i]) // newest first
		}
		var buf bytes.Buffer
		buf.WriteString(`{"type":"alerts","alerts":`)
		joinRaw(&buf, alerts)
		if p.dropped > 0 {
			fmt.Fprintf(&buf, `,"dropped":%d`, p.dropped)
		}
		buf.WriteByte('}')
		frames = append(frames, buf.Bytes())
	}
	if p.summary != nil {
		frames = append(frames, p.summary)
	}
	return frames, code
}

// joinRaw writes encoded values as a JSON array.
func joinRaw(buf *bytes.Buffer, items []json.RawMessage) {
	buf.WriteByte('[')
	for i, it := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(it)
	}
	buf.WriteByte(']')
}

// twinMessage returns the "twin" message of a subscribed twin (r nil: it
// went, or the client may no longer see it): the twin encoded once for
// every client of its form, the message around it assembled by hand, as
// json.Marshal would write it.
func (c *client) twinMessage(id string, r *row) []byte {
	t := json.RawMessage("null")
	if r != nil {
		t = r.twinJSON(c.s, c.p)
	}
	idJSON := mustJSON(id)
	b := make([]byte, 0, len(`{"type":"twin","project":,"twin":}`)+len(idJSON)+len(t))
	b = append(b, `{"type":"twin","project":`...)
	b = append(b, idJSON...)
	b = append(b, `,"twin":`...)
	b = append(b, t...)
	return append(b, '}')
}

// twinJSON encodes a view as p may see it; "null" for nil.
func (s *Server) twinJSON(p Principal, v *twin.ProjectView) json.RawMessage {
	switch {
	case v == nil:
		return json.RawMessage("null")
	case p.Role == RolePublic:
		return mustJSON(s.kinds.publicProject(v))
	}
	return mustJSON(v)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// checkOrigin allows a handshake without an Origin (not a browser), from a
// page of the same host, or from an allowed origin.
func (s *Server) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if slices.Contains(s.cfg.AllowedOrigins, origin) {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host)
}

// serveWS serves GET /ws: origin check, authentication, upgrade, then the
// client's reader and writer.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, http.StatusBadRequest, "/ws is a websocket: connect with a websocket client (see README-ws.md)")
		return
	}
	if !s.checkOrigin(r) {
		s.rejected(w, r, "origin")
		writeError(w, http.StatusForbidden, fmt.Sprintf("origin %q may not open the websocket (allowed: this host and --allow-origin)", r.Header.Get("Origin")))
		return
	}
	p, status, msg := s.authenticate(r)
	if status != 0 {
		s.rejected(w, r, "unauthorized")
		w.Header().Set("WWW-Authenticate", `Bearer realm="sitetwin"`)
		writeError(w, status, msg)
		return
	}
	if !s.hub.up.Load() {
		writeError(w, http.StatusServiceUnavailable, "the live feed is not running yet; retry shortly")
		return
	}
	up := websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second, Subprotocols: []string{WSProtocol},
		CheckOrigin: func(*http.Request) bool { return true }, // checked above, with a JSON answer
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			writeError(w, status, "websocket handshake: "+reason.Error())
		},
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	c := &client{
		s: s, p: p, conn: conn, wake: make(chan struct{}, 1), done: make(chan struct{}),
		subs: subs{districts: map[string]bool{}, twins: map[string]bool{}},
	}
	if !s.hub.do(func() { s.hub.clients[c] = struct{}{} }) {
		conn.Close()
		return
	}
	s.m.clients.Inc()
	c.queue(mustJSON(message{
		Type: "hello", Role: p.Role, Unit: p.Unit, UpdatesPerSecond: s.cfg.UpdatesPerSecond,
		MaxMessageBytes: s.cfg.MaxMessageBytes, Topics: topics,
	}))
	go c.read()
	c.write()
	s.hub.do(func() { delete(s.hub.clients, c) })
	s.m.clients.Dec()
}

// write sends what waits, at most UpdatesPerSecond times a second, and
// pings; it returns when the client is closed or a write fails.
func (c *client) write() {
	defer c.conn.Close()
	cfg := &c.s.cfg
	ping := time.NewTicker(cfg.PingInterval)
	defer ping.Stop()
	gap := time.Duration(float64(time.Second) / cfg.UpdatesPerSecond)
	var next time.Time
	sendPing := func() bool {
		return c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(cfg.WriteTimeout)) == nil
	}
	closing := func() {
		_, code := c.take()
		if code == 0 {
			code = websocket.CloseNormalClosure
		}
		c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second)) //nolint:errcheck // closing anyway
	}
	for {
		select {
		case <-c.done:
			closing()
			return
		case <-ping.C:
			if !sendPing() {
				c.close(websocket.CloseGoingAway)
				return
			}
			continue
		case <-c.wake:
		}
		if d := time.Until(next); d > 0 { // rate limit: what arrives meanwhile is coalesced
			t := time.NewTimer(d)
		wait:
			for {
				select {
				case <-t.C:
					break wait
				case <-ping.C:
					if !sendPing() {
						t.Stop()
						c.close(websocket.CloseGoingAway)
						return
					}
				case <-c.done:
					t.Stop()
					closing()
					return
				}
			}
		}
		frames, _ := c.take()
		for _, f := range frames {
			c.conn.SetWriteDeadline(time.Now().Add(cfg.WriteTimeout)) //nolint:errcheck // the write reports it
			if err := c.conn.WriteMessage(websocket.TextMessage, f); err != nil {
				if isTimeout(err) {
					c.s.m.dropped.WithLabelValues("client").Inc()
					c.s.cfg.Logger.Warn("websocket client too slow; dropped", "role", c.p.Role, "err", err)
				}
				c.close(websocket.CloseGoingAway)
				return
			}
			c.s.m.frames.Inc()
			c.s.m.bytes.Add(float64(len(f)))
		}
		next = time.Now().Add(gap)
	}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// read handles the client's requests and pongs until the connection ends.
func (c *client) read() {
	cfg := &c.s.cfg
	c.conn.SetReadLimit(cfg.MaxMessageBytes)
	wait := 2 * cfg.PingInterval
	c.conn.SetReadDeadline(time.Now().Add(wait)) //nolint:errcheck // the read reports it
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(wait)) })
	// token bucket: MessagesPerSecond, with a burst of twice that
	tokens, last := 2*cfg.MessagesPerSecond, time.Now()
	for {
		_, b, err := c.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.s.m.rejected.WithLabelValues("too_big").Inc()
				c.close(websocket.CloseMessageTooBig)
			} else {
				c.close(websocket.CloseNormalClosure)
			}
			return
		}
		c.conn.SetReadDeadline(time.Now().Add(wait)) //nolint:errcheck // the next read reports it
		now := time.Now()
		tokens = min(2*cfg.MessagesPerSecond, tokens+now.Sub(last).Seconds()*cfg.MessagesPerSecond)
		last = now
		if tokens < 1 {
			c.s.m.rejected.WithLabelValues("rate_limit").Inc()
			c.queue(mustJSON(message{Type: "error", Status: http.StatusTooManyRequests,
				Error: fmt.Sprintf("more than %g requests a second; closing", cfg.MessagesPerSecond)}))
			c.close(websocket.ClosePolicyViolation)
			return
		}
		tokens--
		var req request
		if err := json.Unmarshal(b, &req); err != nil {
			c.s.m.rejected.WithLabelValues("bad_message").Inc()
			c.queue(mustJSON(message{Type: "error", Status: http.StatusBadRequest, Error: "request is not JSON: " + err.Error()}))
			continue
		}
		if !c.s.hub.do(func() { c.s.hub.handle(c, &req) }) {
			return
		}
	}
}

// handle applies a request on the hub's goroutine: the subscription, its
// ack and its snapshot are queued in one step, so changes follow them.
func (h *hub) handle(c *client, req *request) {
	var snap [][]byte
	c.mu.Lock()
	defer func() {
		c.key = c.rowKey()
		c.mu.Unlock()
		c.signal()
	}()
	ack := func() {
		c.pend.msgs = append(c.pend.msgs, mustJSON(message{Type: "ack", ID: req.ID, Topic: req.Topic, District: req.District, Project: req.Project}))
		c.pend.msgs = append(c.pend.msgs, snap...)
	}
	queueErr := func(status int, format string, args ...any) {
		c.pend.msgs = append(c.pend.msgs, mustJSON(message{Type: "error", ID: req.ID, Status: status, Error: fmt.Sprintf(format, args...)}))
		reason := "bad_message"
		if status == http.StatusForbidden {
			reason = "forbidden"
		}
		h.s.m.rejected.WithLabelValues(reason).Inc()
	}
	if req.Op != "subscribe" && req.Op != "unsubscribe" {
		queueErr(http.StatusBadRequest, "op %q: must be subscribe or unsubscribe", req.Op)
		return
	}
	on := req.Op == "subscribe"
	switch req.Topic {
	case "summary":
		c.subs.summary = on
		if on {
			snap = [][]byte{mustJSON(message{Type: "snapshot", Topic: "summary", Summary: ptr(h.summary(c.p))})}
		}
	case "city":
		c.subs.city = on
		if on {
			snap = h.snapshotRows(c, "city", "")
		}
	case "district":
		d := strings.ToLower(strings.TrimSpace(req.District))
		if d == "" {
			queueErr(http.StatusBadRequest, "topic district needs a district")
			return
		}
		if on {
			c.subs.districts[d] = true
			snap = h.snapshotRows(c, "district", d)
		} else {
			delete(c.subs.districts, d)
		}
	case "twin":
		id := strings.TrimSpace(req.Project)
		if id == "" {
			queueErr(http.StatusBadRequest, "topic twin needs a project")
			return
		}
		if !on {
			delete(c.subs.twins, id)
			delete(c.pend.twins, id)
			break
		}
		r := h.rows[id]
		if r == nil {
			queueErr(http.StatusNotFound, "no twin for project %q", id)
			return
		}
		if c.p.Role == RoleContractor && !c.p.sees(&r.view.Info) {
			queueErr(http.StatusForbidden, "project %s: your unit %s is not one of its parties", id, c.p.Unit)
			return
		}
		if !c.subs.twins[id] && len(c.subs.twins) >= maxTwinSubs {
			queueErr(http.StatusBadRequest, "at most %d twin subscriptions per connection", maxTwinSubs)
			return
		}
		c.subs.twins[id] = true
		delete(c.pend.twins, id) // the snapshot is newer
		snap = [][]byte{mustJSON(message{Type: "snapshot", Topic: "twin", Project: id, Twin: r.twinJSON(h.s, c.p)})}
	case "alerts":
		if !on {
			c.subs.alerts = nil
			c.pend.alerts, c.pend.dropped = nil, 0
			break
		}
		f := req.alertFilter
		if f.Level != "" && f.Level != "warn" && f.Level != "stop" && f.Level != "ok" {
			queueErr(http.StatusBadRequest, "level %q: must be ok, warn or stop", f.Level)
			return
		}
		c.subs.alerts = &f
		c.pend.alerts, c.pend.dropped = nil, 0
		snap = [][]byte{mustJSON(message{Type: "snapshot", Topic: "alerts", Alerts: h.snapshotAlerts(c, &f)})}
	case "drill":
		if !on {
			c.subs.drill = nil
			c.pend.drill = nil
			break
		}
		var status int
		var msg string
		if snap, status, msg = h.subscribeDrill(c, req); status != 0 {
			queueErr(status, "%s", msg)
			return
		}
	default:
		queueErr(http.StatusBadRequest, "topic %q: must be one of %s", req.Topic, strings.Join(topics, ", "))
		return
	}
	ack()
}
