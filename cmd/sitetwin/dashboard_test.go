package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/sitetwin/sitetwin/twin"
)

const dashTokens = "regulator-token-0001 regulator\npublic-token-000001 public\n"

// feedClient is a websocket client of the dashboard that keeps the city
// rows it was sent.
type feedClient struct {
	t    *testing.T
	conn *websocket.Conn
	rows map[string]map[string]any
}

func dialFeed(t *testing.T, addr, token string) *feedClient {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	conn, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/ws", h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial /ws: %v (%d)", err, status)
	}
	t.Cleanup(func() { conn.Close() })
	return &feedClient{t: t, conn: conn, rows: map[string]map[string]any{}}
}

// read reads one message, keeping city rows up to date.
func (c *feedClient) read() map[string]any {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var m map[string]any
	if err := c.conn.ReadJSON(&m); err != nil {
		c.t.Fatalf("read /ws: %v", err)
	}
	if m["type"] == "snapshot" || m["type"] == "projects" {
		ps, _ := m["projects"].([]any)
		for _, p := range ps {
			row := p.(map[string]any)
			c.rows[row["id"].(string)] = row
		}
		rm, _ := m["removed"].([]any)
		for _, id := range rm {
			delete(c.rows, id.(string))
		}
	}
	return m
}

func (c *feedClient) until(what string, ok func(m map[string]any) bool) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := c.read(); ok(m) {
			return m
		}
	}
	c.t.Fatalf("no %s within 30s", what)
	return nil
}

// TestRunDashboardTokensAndFeed runs `sitetwin run` with a tokens file:
// the API refuses requests without a token, a regulator's websocket gets
// the city and sees a site turn red when an event is produced, and a public
// token gets no funds.
func TestRunDashboardTokensAndFeed(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte(dashTokens), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startTestApp(t, func(c *runConfig) { c.Projects, c.Rate, c.Seed, c.TokensFile = 5, 0, 3, file })
	base := "http://" + a.HTTPAddr
	if status, _ := getBody(t, base+"/api/twins"); status != http.StatusUnauthorized {
		t.Fatalf("GET /api/twins without a token: %d", status)
	}
	if status, _ := getBody(t, base+"/healthz"); status != http.StatusOK {
		t.Fatalf("GET /healthz: %d", status)
	}

	c := dialFeed(t, a.HTTPAddr, "regulator-token-0001")
	if err := c.conn.WriteJSON(map[string]any{"op": "subscribe", "topic": "city"}); err != nil {
		t.Fatal(err)
	}
	c.until("5 registered projects", func(map[string]any) bool {
		n := 0
		for _, r := range c.rows {
			if r["status"] != "unregistered" && len(r["sites"].([]any)) > 0 {
				n++
			}
		}
		return n == 5
	})
	// P-001 may be red already (the simulated city's wages and schedule
	// depend on today's date): the noise event is seen through the public
	// twin's disturbance, which only dust and noise alarms move.
	pub := dialFeed(t, a.HTTPAddr, "public-token-000001")
	if err := pub.conn.WriteJSON(map[string]any{"op": "subscribe", "topic": "twin", "project": "P-001"}); err != nil {
		t.Fatal(err)
	}
	first := pub.until("public twin", func(m map[string]any) bool { return m["type"] == "snapshot" })
	if b, _ := json.Marshal(first["twin"]); bytes.Contains(b, []byte(`"disturbance":"stop"`)) {
		t.Fatalf("P-001 is disturbing before the noise event: %s", b)
	}
	produceStream(t, a.KafkaAddr, []*twin.Event{mustEvent(t, noiseEvent("dash-1", time.Now()))})
	var b []byte
	pub.until("the noise alarm in the public twin", func(m map[string]any) bool {
		if m["type"] != "twin" && m["type"] != "snapshot" {
			return false
		}
		b, _ = json.Marshal(m["twin"])
		return bytes.Contains(b, []byte(`"disturbance":"stop"`))
	})
	if bytes.Contains(b, []byte(`"funds"`)) || bytes.Contains(b, []byte(`"hazards"`)) {
		t.Errorf("public twin: %s", b)
	}
	c.until("P-001 red", func(m map[string]any) bool {
		return m["type"] == "projects" && c.rows["P-001"]["health"] == "red"
	})
}

func mustEvent(t *testing.T, js string) *twin.Event {
	t.Helper()
	e, err := twin.Decode([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDashboardAuthDefaults(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte(dashTokens), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		cfg      runConfig
		addr     string
		open     bool
		tokens   int
		log, url string
		err      string
	}{
		{"loopback without tokens is open", runConfig{}, "127.0.0.1:8080", true, 0, "WITHOUT AUTHENTICATION", "http://127.0.0.1:8080/", ""},
		{"ipv6 loopback", runConfig{}, "[::1]:8080", true, 0, "WITHOUT AUTHENTICATION", "", ""},
		{"network without tokens gets one", runConfig{}, "10.1.2.3:8080", false, 1, "generated a regulator token", "#token=", ""},
		{"open", runConfig{Open: true}, "0.0.0.0:8080", true, 0, "NO TOKEN", "", ""},
		{"tokens file", runConfig{TokensFile: file}, "0.0.0.0:8080", false, 2, "api tokens loaded", "", ""},
		{"missing file", runConfig{TokensFile: file + ".nope"}, "0.0.0.0:8080", false, 0, "", "", "tokens file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, nil))
			tokens, open, url, err := dashboardAuth(c.cfg, c.addr, log)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			if tokens != nil {
				n = tokens.Len()
			}
			if open != c.open || n != c.tokens || !strings.Contains(buf.String(), c.log) || !strings.Contains(url, c.url) {
				t.Errorf("open %v tokens %d url %s log %s", open, n, url, buf.String())
			}
		})
	}
	if _, err := parseRunFlags([]string{"--open", "--tokens", file}, io.Discard, func(string) string { return "" }); err == nil {
		t.Error("--open with --tokens accepted")
	}
	cfg, err := parseRunFlags(nil, io.Discard, func(k string) string {
		return map[string]string{"SITETWIN_TOKENS_FILE": file}[k]
	})
	if err != nil || cfg.TokensFile != file {
		t.Errorf("SITETWIN_TOKENS_FILE: %v %q", err, cfg.TokensFile)
	}
}

// TestRunHTTPAddressInUse: a second run on a busy address fails with a
// message, closing the broker it started (it used to panic).
func TestRunHTTPAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg, err := parseRunFlags([]string{"--http", ln.Addr().String(), "--kafka-listen", "127.0.0.1:0", "--data-dir", "", "--projects", "0"},
		io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	_, err = startApp(context.Background(), cfg, testLog(t))
	if err == nil || !strings.Contains(err.Error(), "address in use") {
		t.Fatalf("startApp on a busy address: %v", err)
	}
}
