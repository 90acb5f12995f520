package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// binary is the sitetwin binary built once for the tests that run it as a
// separate process.
var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

func sitetwinBinary(t *testing.T) string {
	t.Helper()
	binaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sitetwin-bin")
		if err != nil {
			binaryErr = err
			return
		}
		binaryPath = filepath.Join(dir, "sitetwin")
		out, err := exec.Command("go", "build", "-o", binaryPath, ".").CombinedOutput()
		if err != nil {
			binaryErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

// requireTool skips the test when an outside tool is missing, except under
// CI=true, where a missing tool is a failure.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (CI=true requires it; `make test` installs it)", name)
		}
		t.Skipf("%s is not installed; `make test` installs it (apt-get install kcat)", name)
	}
	return p
}

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startTestApp runs the real `sitetwin run` in-process on free ports.
func startTestApp(t *testing.T, mod func(*runConfig)) *app {
	t.Helper()
	cfg, err := parseRunFlags([]string{"--http", "127.0.0.1:0", "--kafka-listen", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--stats-every", "0", "--checkpoint-every", "200ms"}, io.Discard, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := startApp(ctx, cfg, testLog(t))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := a.Wait(); err != nil {
			t.Errorf("sitetwin run: %v", err)
		}
	})
	select {
	case <-a.Engine.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("engine not ready within 30s")
	}
	return a
}

// eventually polls cond every 20 ms until it returns "" or 30 s pass; the
// last non-empty answer says what was still wrong.
func eventually(t *testing.T, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func getBody(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func getTwin(t *testing.T, base, id string) (*twin.ProjectView, bool) {
	t.Helper()
	status, body := getBody(t, base+"/api/twins/"+id)
	if status == http.StatusNotFound {
		return nil, false
	}
	var v twin.ProjectView
	if status != http.StatusOK || json.Unmarshal(body, &v) != nil {
		t.Fatalf("GET twin %s: %d %s", id, status, body)
	}
	return &v, true
}

func kcatProduce(t *testing.T, brokers, topic, key string, lines ...string) {
	t.Helper()
	kcat := requireTool(t, "kcat")
	args := []string{"-P", "-b", brokers, "-t", topic}
	if key != "" {
		args = append(args, "-k", key)
	}
	cmd := exec.Command(kcat, args...)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat -P: %v\n%s", err, out)
	}
}

// noiseEvent is the kcat example of the README: 95 dB(A) at P-001-S1 now.
func noiseEvent(id string, at time.Time) string {
	return `{"specversion":"1.0","id":"` + id + `","type":"sensor.reading","source":"gw-7","time":"` + at.UTC().Format(time.RFC3339) +
		`","project":"P-001","site":"P-001-S1","data":{"kind":"noise","value":95,"unit":"dB(A)"}}`
}

// siteOf returns a site of a view.
func siteOf(v *twin.ProjectView, id string) *twin.SiteView {
	for i := range v.Sites {
		if v.Sites[i].ID == id {
			return &v.Sites[i]
		}
	}
	return nil
}

// TestRunSimulatedCityAndKcat runs `sitetwin run` with the embedded broker
// and a small simulated city, then writes the README's kcat example into the
// broker and sees the site turn red through the API.
func TestRunSimulatedCityAndKcat(t *testing.T) {
	requireTool(t, "kcat")
	a := startTestApp(t, func(c *runConfig) { c.Projects, c.Rate, c.Seed = 12, 40, 7 })
	base := "http://" + a.HTTPAddr

	eventually(t, func() string {
		status, body := getBody(t, base+"/api/twins?limit=1000")
		var page struct {
			Total  int
			Counts struct{ Green, Amber, Red int }
			Items  []struct{ Registered bool }
		}
		if status != 200 || json.Unmarshal(body, &page) != nil {
			return fmt.Sprintf("GET /api/twins: %d", status)
		}
		reg := 0
		for _, it := range page.Items {
			if it.Registered {
				reg++
			}
		}
		if reg != 12 {
			return fmt.Sprintf("%d of 12 simulated projects registered", reg)
		}
		return ""
	})

	// The README's example stamps the event to the second; here it carries
	// the nanoseconds, so it is later than any simulated reading already
	// written (one from earlier in the same second would otherwise stay the
	// site's latest noise reading). A simulated reading written after it may
	// still take its place as the latest, which is right: the event was
	// applied if it was the latest once or a later reading followed it, and
	// the 95 dB(A) alarm shows it was.
	e1At := time.Now().UTC()
	kcatProduce(t, a.KafkaAddr, "sitetwin.sensor", "P-001", strings.Replace(noiseEvent("e1", e1At),
		e1At.Format(time.RFC3339), e1At.Format(time.RFC3339Nano), 1))
	eventually(t, func() string {
		v, ok := getTwin(t, base, "P-001")
		if !ok {
			return "no twin P-001"
		}
		s := siteOf(v, "P-001-S1")
		if s == nil {
			return "no site P-001-S1"
		}
		var reading bool
		for _, sv := range s.Sensors {
			if sv.Kind == "noise" && (sv.Event == "e1" && sv.Value == 95 || sv.Time.After(e1At)) {
				reading = true
			}
		}
		var alarm bool
		for _, al := range s.Alarms {
			if strings.HasPrefix(al.Rule, "noise_") && al.Level == twin.LevelStop {
				alarm = true
			}
		}
		if !reading || !alarm || s.Health != twin.Red || v.Health != twin.Red {
			return fmt.Sprintf("reading %v, alarm %v, site %s, project %s", reading, alarm, s.Health, v.Health)
		}
		return ""
	})
	// The alert is listed with its reason.
	_, body := getBody(t, base+"/api/alerts?project=P-001&limit=1000")
	if !bytes.Contains(body, []byte(`"event":"e1"`)) {
		t.Errorf("no alert caused by e1 in /api/alerts: %s", body)
	}
	// Metrics are served.
	_, metrics := getBody(t, base+"/metrics")
	for _, name := range []string{"sitetwin_events_applied_total", "sitetwin_events_deadlettered_total", "sitetwin_consumer_lag", "sitetwin_twins"} {
		if !bytes.Contains(metrics, []byte(name)) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if status, body := getBody(t, base+"/healthz"); status != 200 {
		t.Errorf("healthz %d: %s", status, body)
	}
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestBrokerProcessWithKcat runs `sitetwin broker` as its own process, an
// engine against it, and kcat writing good and malformed records: good ones
// change twins, malformed ones land on the dead-letter topic with a reason,
// and the engine keeps running.
func TestBrokerProcessWithKcat(t *testing.T) {
	kcat := requireTool(t, "kcat")
	bin := sitetwinBinary(t)
	addr := freePort(t)
	broker := exec.Command(bin, "broker", "--listen", addr, "--data-dir", t.TempDir())
	var blog bytes.Buffer
	broker.Stderr = &blog
	if err := broker.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		broker.Process.Signal(os.Interrupt)
		broker.Wait()
		if t.Failed() {
			t.Logf("broker log:\n%s", blog.String())
		}
	})
	eventually(t, func() string {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return "broker not listening: " + err.Error()
		}
		c.Close()
		return ""
	})

	a := startTestApp(t, func(c *runConfig) { c.Brokers, c.Projects = []string{addr}, 0 })
	base := "http://" + a.HTTPAddr
	now := time.Now().UTC()
	reg := `{"specversion":"1.0","id":"reg-9","type":"project.registered","source":"filing","time":"` + now.Add(-time.Minute).Format(time.RFC3339) +
		`","project":"P-009","data":{"name":"Bao'an Clinic","district":"Bao'an","kind":"hospital","owner":"O-9","contractor":"C-9","supervisor":"S-9","budget_cny":2.5e8,"planned_start":"` +
		now.AddDate(0, 0, -3).Format(time.DateOnly) + `","planned_finish":"2028-06-30"}}`
	site := `{"specversion":"1.0","id":"site-9","type":"site.added","source":"filing","time":"` + now.Add(-time.Minute).Format(time.RFC3339) +
		`","project":"P-009","site":"P-009-S1","data":{"name":"Main","lat":22.56,"lon":113.88,"terrain":"C"}}`
	kcatProduce(t, addr, "sitetwin.registry", "P-009", reg, site)
	good := strings.ReplaceAll(noiseEvent("k-good", now), "P-001", "P-009")
	malformed := []string{
		`{"specversion":"1.0","id":"k-bad1"`,
		strings.Replace(good, `"unit":"dB(A)"`, `"unit":"decibels"`, 1),
		strings.Replace(good, `"time":"`+now.Format(time.RFC3339)+`"`, `"time":"yesterday"`, 1),
	}
	kcatProduce(t, addr, "sitetwin.sensor", "P-009", append(malformed, good)...)

	eventually(t, func() string {
		v, ok := getTwin(t, base, "P-009")
		if !ok || !v.Registered || v.Health != twin.Red {
			return fmt.Sprintf("P-009 present %v, not yet registered and red", ok)
		}
		return ""
	})
	// The dead-letter topic holds the malformed records, unchanged, with reasons.
	out, err := exec.Command(kcat, "-C", "-b", addr, "-t", "sitetwin.deadletter", "-o", "beginning", "-e", "-q",
		"-f", "%h\t%s\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat -C: %v\n%s", err, out)
	}
	wantReasons := []string{"malformed event", "data.unit: must be one of", "time: must be an RFC 3339 timestamp"}
	for i, bad := range malformed {
		found := false
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasSuffix(line, "\t"+bad) && strings.Contains(line, "sitetwin-error="+"decode: ") && strings.Contains(line, wantReasons[i]) {
				found = true
			}
		}
		if !found {
			t.Errorf("malformed record %d not on the dead-letter topic with reason %q:\n%s", i, wantReasons[i], out)
		}
	}
	if st := a.Engine.Stats(); st.DeadLetters != 3 {
		t.Errorf("dead letters counted %d, want 3", st.DeadLetters)
	}
	// The engine keeps running: a further good record is applied.
	kcatProduce(t, addr, "sitetwin.sensor", "P-009", strings.ReplaceAll(strings.ReplaceAll(good, "k-good", "k-good2"), `"value":95`, `"value":96`))
	eventually(t, func() string {
		v, _ := getTwin(t, base, "P-009")
		for _, sv := range siteOf(v, "P-009-S1").Sensors {
			if sv.Event == "k-good2" {
				return ""
			}
		}
		return "second good reading not applied"
	})
	if status, body := getBody(t, base+"/healthz"); status != 200 {
		t.Errorf("healthz %d: %s", status, body)
	}
}

func TestCLIUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"no args", nil, 2, "Usage: sitetwin <command>"},
		{"help", []string{"help"}, 0, "run      run the engine"},
		{"unknown", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"bad flag", []string{"run", "--projects", "-3"}, 2, "--projects must be from 0 to 100000"},
		{"bad view interval", []string{"run", "--view-every", "-1s"}, 2, "--view-every must not be negative"},
		{"bad env", []string{"run"}, 2, "SITETWIN_RATE"},
		{"replay no file", []string{"replay"}, 2, "give one file to replay"},
		{"audit no verb", []string{"audit"}, 2, "the audit subcommand is verify"},
		{"rules check", []string{"rules", "--check", "../../twin/rulepacks/shenzhen.json"}, 0, "is valid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			getenv := func(k string) string {
				if c.name == "bad env" && k == "SITETWIN_RATE" {
					return "fast"
				}
				return ""
			}
			code := cli(context.Background(), c.args, &out, &out, getenv)
			if code != c.code || !strings.Contains(out.String(), c.out) {
				t.Fatalf("exit %d (want %d), output:\n%s", code, c.code, out.String())
			}
		})
	}
}

func TestRunFlagsFromEnvironment(t *testing.T) {
	vars := map[string]string{"SITETWIN_HTTP": "0.0.0.0:9999", "SITETWIN_PROJECTS": "42", "SITETWIN_BROKERS": "a:1,b:2", "SITETWIN_RATE": "7.5"}
	cfg, err := parseRunFlags([]string{"--projects", "5"}, io.Discard, func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP != "0.0.0.0:9999" || cfg.Projects != 5 || len(cfg.Brokers) != 2 || cfg.Rate != 7.5 {
		t.Fatalf("flags over environment not honoured: %+v", cfg)
	}
}
