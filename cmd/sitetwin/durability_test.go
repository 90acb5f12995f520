package main

// The durability tests of the issue: real `sitetwin broker` and
// `sitetwin run` processes, killed, frozen, stopped and restarted, with the
// canonical state dump of every run compared byte for byte against a run
// that nothing disturbed, and every alert accounted for.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// The deterministic input of the kill, scale-out and stall tests: a
// simulated city's registration and history, then live events, with some
// events sent twice (see durabilityStream).
const (
	durSeed     = 20261120
	durProjects = 40
	durLive     = 700000
	durRate     = 50
	durGroup    = "sitetwin"
)

var durStart = time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)

// syncBuffer is a bytes.Buffer that a process writes while the test reads.
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

// process is a sitetwin subprocess whose output (stdout and stderr) is
// kept; the test logs it when it fails.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // what Wait returned; read after done
}

// startProcess starts the sitetwin binary with args. The process is killed
// when the test ends, if it still runs.
func startProcess(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p := &process{name: name, cmd: exec.Command(sitetwinBinary(t), args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if !p.exited() {
			p.cmd.Process.Kill() //nolint:errcheck // it may be exiting meanwhile; SIGKILL ends a stopped process too
			<-p.done
		}
		if t.Failed() {
			t.Logf("output of %s (pid %d, sitetwin %s):\n%s", p.name, p.cmd.Process.Pid, strings.Join(args, " "), tail(p.out.String(), 30000))
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to %s: %v", sig, p.name, err)
	}
}

// kill sends SIGKILL and waits until the process has been reaped.
func (p *process) kill(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s not reaped 10s after SIGKILL", p.name)
	}
}

// terminate sends SIGTERM and requires the process to exit with status 0
// within 10 seconds: a graceful stop commits what was applied and leaves.
func (p *process) terminate(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	start := time.Now()
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not exit within 10s of SIGTERM", p.name)
	}
	if p.err != nil {
		t.Fatalf("%s exited %v %s after SIGTERM, want status 0", p.name, p.err, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("%s: exit status 0, %s after SIGTERM", p.name, time.Since(start).Round(time.Millisecond))
}

// waitLog waits until the process's output contains s.
func (p *process) waitLog(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	waitUntil(t, timeout, func() string {
		if strings.Contains(p.out.String(), s) {
			return ""
		}
		if p.exited() {
			t.Fatalf("%s exited (%v) before logging %q", p.name, p.err, s)
		}
		return fmt.Sprintf("%s has not logged %q", p.name, s)
	})
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}

// waitUntil polls cond every 100 ms until it returns "" or timeout passes;
// the last answer says what was still wrong.
func waitUntil(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s: %s", timeout, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// httpGet is a GET that may fail (the process may be starting or dead).
func httpGet(url string) (int, []byte, error) {
	cl := http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// startBrokerProcess runs `sitetwin broker` on a free port with its own
// data directory and waits until it listens with the topics created.
func startBrokerProcess(t *testing.T, name string) (*process, string) {
	t.Helper()
	addr := freePort(t)
	p := startProcess(t, name, "broker", "--listen", addr, "--data-dir", filepath.Join(t.TempDir(), name))
	p.waitLog(t, "kafka broker listening", 30*time.Second)
	return p, addr
}

// engine is one `sitetwin run --brokers ...` process.
type engine struct {
	*process
	http string // host:port of its API
}

// startEngine runs `sitetwin run` against a broker, with no simulated
// city, as the named instance of the group.
func startEngine(t *testing.T, broker, instance string) *engine {
	t.Helper()
	httpAddr := freePort(t)
	p := startProcess(t, "engine "+instance, "run", "--brokers", broker, "--http", httpAddr,
		"--data-dir", filepath.Join(t.TempDir(), instance), "--projects", "0", "--stats-every", "0",
		"--instance", instance, "--group", durGroup, "--session-timeout", "6s")
	return &engine{process: p, http: httpAddr}
}

// waitHealthy waits until the engine has joined, restored its partitions
// and answers /healthz with 200.
func (e *engine) waitHealthy(t *testing.T) {
	t.Helper()
	waitUntil(t, 60*time.Second, func() string {
		if e.exited() {
			t.Fatalf("%s exited: %v", e.name, e.err)
		}
		status, body, err := httpGet("http://" + e.http + "/healthz")
		if err != nil || status != http.StatusOK {
			return fmt.Sprintf("%s /healthz: %d %s %v", e.name, status, body, err)
		}
		return ""
	})
}

// engineStats is what GET /api/stats says.
type engineStats struct {
	Partitions []int32 `json:"partitions"`
	Events     int64   `json:"events"`
	Lag        int64   `json:"consumer_lag"`
	Commits    int64   `json:"commits"`
	Aborts     int64   `json:"aborts"`
	Twins      int     `json:"twins"`
}

func (e *engine) stats() (engineStats, error) { return statsOf(e.http) }

// statsOf returns GET /api/stats of the API at addr.
func statsOf(addr string) (engineStats, error) {
	var s engineStats
	status, body, err := httpGet("http://" + addr + "/api/stats")
	if err != nil {
		return s, err
	}
	if status != http.StatusOK {
		return s, fmt.Errorf("GET /api/stats: %d %s", status, body)
	}
	return s, json.Unmarshal(body, &s)
}

// metric returns the value of an unlabelled metric from /metrics.
func (e *engine) metric(name string) (float64, error) {
	status, body, err := httpGet("http://" + e.http + "/metrics")
	if err != nil {
		return 0, err
	}
	if status != http.StatusOK {
		return 0, fmt.Errorf("GET /metrics: %d", status)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("/metrics has no %s", name)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// durabilityStream returns the deterministic input: the city's bootstrap
// and durLive live events, with about 3% of the events sent a second time
// unchanged (same id) and every payment sent at least twice, the copy
// either right after the original or a third of the stream later.
func durabilityStream(t *testing.T) []*twin.Event {
	t.Helper()
	city, err := citysim.New(citysim.Config{Projects: durProjects, Seed: durSeed, Start: durStart, Rate: durRate})
	if err != nil {
		t.Fatal(err)
	}
	base := city.Bootstrap()
	for range durLive {
		base = append(base, city.Next())
	}
	// City-wide events (a rainstorm signal and its cancellation): each
	// partition must apply them at the same point of its order in every run.
	for _, w := range []struct {
		id    string
		after time.Duration
		level string
	}{{"dur-rain-orange", 40 * time.Minute, twin.RainOrange}, {"dur-rain-cancel", 150 * time.Minute, twin.RainCancelled}} {
		at := durStart.Add(w.after)
		issued, _ := twin.ParseWhen(at.Format(time.RFC3339))
		ev := &twin.Event{ID: w.id, Type: twin.TypeRainfallWarning, Source: "szmb/warnings", Time: at, Project: twin.CityWide,
			Data: &twin.RainfallWarning{Level: w.level, Issued: issued}}
		i, _ := slices.BinarySearchFunc(base, at, func(e *twin.Event, t time.Time) int { return e.Time.Compare(t) })
		base = slices.Insert(base, i, ev)
	}
	if last := base[len(base)-1].Time; !last.Before(time.Now()) {
		// the engine rejects events more than an hour after their arrival
		t.Fatalf("the stream's events end at %s, after this machine's clock (%s): move durStart back", last, time.Now().UTC())
	}
	r := rand.New(rand.NewPCG(durSeed, 2))
	later := map[int][]*twin.Event{} // index in base -> copies sent after it
	out := make([]*twin.Event, 0, len(base)*21/20)
	var payments int
	for i, ev := range base {
		out = append(out, ev)
		out = append(out, later[i]...)
		delete(later, i)
		payment := ev.Type == twin.TypeFundsDisbursed || ev.Type == twin.TypeWagesPaid || ev.Type == twin.TypeWageAccountDeposited
		if !payment && r.Float64() >= 0.03 {
			continue
		}
		if payment {
			payments++
		}
		if r.IntN(2) == 0 {
			out = append(out, ev)
			continue
		}
		j := min(i+len(base)/3+r.IntN(100), len(base)-1)
		if j == i {
			out = append(out, ev)
			continue
		}
		later[j] = append(later[j], ev)
	}
	t.Logf("stream: %d events from %s to %s, of which %d are sent a second time (%d payments among them)",
		len(out), base[0].Time.Format(time.DateOnly), base[len(base)-1].Time.Format(time.RFC3339), len(out)-len(base), payments)
	return out
}

// produceStream produces the events to a broker and waits until all are
// acknowledged, so that the whole input is committed before any engine
// starts.
func produceStream(t *testing.T, broker string, evs []*twin.Event) {
	t.Helper()
	pub, err := streams.NewPublisher([]string{broker}, streams.DefaultTopics(), "sitetwin-durability-test")
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := pub.Publish(ctx, evs...); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := pub.Produced(); n != int64(len(evs)) {
		t.Fatalf("%d of %d events acknowledged", n, len(evs))
	}
}

// admin returns an admin client of a broker, closed when the test ends.
func admin(t *testing.T, broker string) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ClientID("sitetwin-durability-admin"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// progress compares the group's committed offsets of the input topics with
// their last stable offsets: it returns how many input records are not
// committed as consumed yet, and how many there are.
func progress(ctx context.Context, adm *kadm.Client) (behind, total int64, err error) {
	inputs := streams.DefaultTopics().Inputs()
	stable, err := adm.ListCommittedOffsets(ctx, inputs...)
	if err != nil {
		return 0, 0, fmt.Errorf("list stable offsets: %w", err)
	}
	if err := stable.Error(); err != nil {
		return 0, 0, fmt.Errorf("list stable offsets: %w", err)
	}
	committed, err := adm.FetchOffsets(ctx, durGroup)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return 0, 0, fmt.Errorf("fetch committed offsets: %w", err)
	}
	stable.Each(func(o kadm.ListedOffset) {
		total += o.Offset
		at := int64(0)
		if c, ok := committed.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At > 0 {
			at = c.At
		}
		behind += max(o.Offset-at, 0)
	})
	return behind, total, nil
}

// waitCaughtUp waits until the group has committed every input partition up
// to its last stable offset, seen twice 300 ms apart.
func waitCaughtUp(t *testing.T, adm *kadm.Client, timeout time.Duration, engines ...*engine) time.Duration {
	t.Helper()
	start := time.Now()
	ok := 0
	waitUntil(t, timeout, func() string {
		for _, e := range engines {
			if e.exited() {
				t.Fatalf("%s exited before catching up: %v", e.name, e.err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		behind, total, err := progress(ctx, adm)
		if err != nil || behind > 0 {
			ok = 0
			return fmt.Sprintf("not caught up: %d of %d input records not committed (%v)", behind, total, err)
		}
		if ok++; ok < 2 {
			time.Sleep(200 * time.Millisecond)
			return "caught up once; checking again"
		}
		return ""
	})
	return time.Since(start)
}

// dumpState runs `sitetwin state dump` against a broker and returns the
// canonical dump.
func dumpState(t *testing.T, broker string) []byte {
	t.Helper()
	file := filepath.Join(t.TempDir(), "dump.json")
	cmd := exec.Command(sitetwinBinary(t), "state", "dump", "--brokers", broker, "--out", file, "--timeout", "60s")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sitetwin state dump: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("still waiting")) {
		t.Fatalf("sitetwin state dump after the engine caught up: %s", out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readAlerts reads the committed alerts of every partition of
// sitetwin.alerts, in order, and fails on a duplicated alert id. It returns
// the alerts of facts (not the risks raised by predictions).
func readAlerts(t *testing.T, broker string) map[int32][]string {
	t.Helper()
	topic := streams.DefaultTopics().Alerts()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	recs, err := streams.ReadTopic(ctx, []string{broker}, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32][]string{}
	ids := map[string]string{}
	for _, r := range recs {
		var a twin.Alert
		if err := json.Unmarshal(r.Value, &a); err != nil || a.ID == "" {
			t.Fatalf("alert %s/%d@%d does not decode: %v %s", topic, r.Partition, r.Offset, err, r.Value)
		}
		if prev, dup := ids[a.ID]; dup {
			t.Errorf("alert %s written twice:\n%s\n%s", a.ID, prev, r.Value)
		}
		ids[a.ID] = string(r.Value)
		// Risk alerts come from predictions, which depend on when a model
		// ran: they are exactly once (checked above), but not the same
		// between two runs. Facts' alerts are compared.
		if !strings.HasPrefix(a.Key, "risk:") {
			out[r.Partition] = append(out[r.Partition], string(r.Value))
		}
	}
	return out
}

// runResult is what a run leaves behind: the canonical dump and the alerts
// per partition.
type runResult struct {
	dump   []byte
	alerts map[int32][]string
}

// twinCount returns the number of twins in a dump.
func twinCount(t *testing.T, dump []byte) int {
	t.Helper()
	var d struct{ Twins []json.RawMessage }
	if err := json.Unmarshal(dump, &d); err != nil {
		t.Fatalf("dump does not decode: %v", err)
	}
	return len(d.Twins)
}

func (r runResult) alertCount() int {
	n := 0
	for _, as := range r.alerts {
		n += len(as)
	}
	return n
}

// finish stops the engines gracefully, waits for every transaction on the
// outputs to end, then dumps the state and reads the alerts of the broker.
func finish(t *testing.T, broker string, engines ...*engine) runResult {
	t.Helper()
	for _, e := range engines {
		e.terminate(t)
	}
	waitSettled(t, broker)
	return runResult{dump: dumpState(t, broker), alerts: readAlerts(t, broker)}
}

// waitSettled waits until no transaction is open on the changelog and the
// alerts topic: until each partition's last stable offset is its end. An
// engine killed mid-transaction by another instance's test (one that
// never comes back under its transactional id to fence it) leaves that
// transaction open until the broker aborts it at the transaction timeout
// (the engine's default: 10 s), and until then a read-committed reader
// stops before it, missing what the engines that took over wrote after.
func waitSettled(t *testing.T, broker string) {
	t.Helper()
	adm := admin(t, broker)
	topics := []string{streams.DefaultTopics().State(), streams.DefaultTopics().Alerts()}
	waitUntil(t, time.Minute, func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stable, err := adm.ListCommittedOffsets(ctx, topics...)
		if err == nil {
			err = stable.Error()
		}
		if err != nil {
			return fmt.Sprintf("list stable offsets: %v", err)
		}
		ends, err := adm.ListEndOffsets(ctx, topics...)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			return fmt.Sprintf("list end offsets: %v", err)
		}
		var open []string
		ends.Each(func(o kadm.ListedOffset) {
			if s, ok := stable.Lookup(o.Topic, o.Partition); !ok || s.Offset < o.Offset {
				open = append(open, fmt.Sprintf("%s/%d", o.Topic, o.Partition))
			}
		})
		if len(open) > 0 {
			return fmt.Sprintf("a transaction is still open on %v", open)
		}
		return ""
	})
}

// compareRuns fails unless a run left the same dump, byte for byte, and the
// same alerts, partition by partition in order, as the reference run.
func compareRuns(t *testing.T, got, want runResult) {
	t.Helper()
	if !bytes.Equal(got.dump, want.dump) {
		t.Errorf("state dump differs from the reference run (%d vs %d bytes); first difference: %s%s",
			len(got.dump), len(want.dump), firstDiff(got.dump, want.dump), keepDumps(got.dump, want.dump))
	}
	for _, p := range sortedKeys(want.alerts, got.alerts) {
		g, w := got.alerts[p], want.alerts[p]
		if slices.Equal(g, w) {
			continue
		}
		i := 0
		for i < len(g) && i < len(w) && g[i] == w[i] {
			i++
		}
		at := func(s []string) string {
			if i < len(s) {
				return s[i]
			}
			return "(none)"
		}
		t.Errorf("alerts of partition %d differ from the reference run (%d vs %d); first difference at %d:\n got  %s\n want %s", p, len(g), len(w), i, at(g), at(w))
	}
}

func sortedKeys(ms ...map[int32][]string) []int32 {
	var out []int32
	for _, m := range ms {
		for k := range m {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// keepDumps writes two differing dumps where they outlive the test, and
// says where.
func keepDumps(got, want []byte) string {
	dir, err := os.MkdirTemp("", "sitetwin-dumps")
	if err != nil {
		return ""
	}
	if os.WriteFile(filepath.Join(dir, "got.json"), got, 0o644) != nil || os.WriteFile(filepath.Join(dir, "reference.json"), want, 0o644) != nil {
		return ""
	}
	return "\n(both dumps are kept in " + dir + ")"
}

// firstDiff shows where two dumps start to differ.
func firstDiff(a, b []byte) string {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := 0; i < len(la) || i < len(lb); i++ {
		var x, y []byte
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if !bytes.Equal(x, y) {
			return fmt.Sprintf("line %d:\n got  %s\n want %s", i+1, x, y)
		}
	}
	return "none"
}

// The reference run is computed once and shared by the tests that compare
// with it: a broker of its own, the same stream, one engine never killed.
var (
	refOnce   sync.Once
	refResult runResult
	refErr    error
	refStream []*twin.Event
)

func reference(t *testing.T) ([]*twin.Event, runResult) {
	t.Helper()
	refOnce.Do(func() {
		refErr = errors.New("the reference run failed in an earlier test")
		start := time.Now()
		refStream = durabilityStream(t)
		broker, addr := startBrokerProcess(t, "reference broker")
		produceStream(t, addr, refStream)
		produced := time.Since(start)
		e := startEngine(t, addr, "reference")
		took := waitCaughtUp(t, admin(t, addr), 2*time.Minute, e)
		refResult = finish(t, addr, e)
		broker.kill(t) // its work is done; free its memory for the tests
		t.Logf("reference run: %d events generated and produced in %s, caught up in %s; %d twins' dump of %d bytes, %d alerts; %s in all",
			len(refStream), produced.Round(time.Millisecond), took.Round(time.Millisecond), twinCount(t, refResult.dump), len(refResult.dump),
			refResult.alertCount(), time.Since(start).Round(time.Millisecond))
		refErr = nil
	})
	if refErr != nil {
		t.Fatal(refErr)
	}
	return refStream, refResult
}

func skipShort(t *testing.T) {
	if testing.Short() {
		t.Skip("durability test: runs a broker and engines as processes for tens of seconds; skipped with -short")
	}
}

// TestKill9AndRestart kills the engine with SIGKILL at random moments while
// it works through the stream (spread over it, so that every kill finds
// work left however fast the engine is), restarts it each time with the
// same instance name, and requires the state and the alerts, once it has
// caught up, to equal those of the reference run exactly.
func TestKill9AndRestart(t *testing.T) {
	skipShort(t)
	stream, ref := reference(t)
	_, addr := startBrokerProcess(t, "broker")
	produceStream(t, addr, stream)
	adm := admin(t, addr)

	const seed = 9
	r := rand.New(rand.NewPCG(seed, seed))
	kills := 4 + r.IntN(3)
	t.Logf("kill schedule seed %d: %d kills", seed, kills)
	start := time.Now()
	midWork, made := 0, 0
	for i := range kills {
		e := startEngine(t, addr, "k1")
		// Each kill lands after the engine has committed its share of the
		// stream (the i-th of kills+1 equal parts, whatever its speed),
		// at a random moment of a checkpoint after that.
		// It also waits for a commit of this start's own, so that it never
		// lands in the restore alone.
		share := float64(i+1) / float64(kills+1)
		started := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		behind, total, err := progress(ctx, adm)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if behind == 0 {
			e.kill(t) // the stream is done: the kills left would find no work
			t.Logf("kill %d: none; the stream was committed before it", i+1)
			break
		}
		goal := max(int64(share*float64(total)), total-behind+1)
		waitUntil(t, time.Minute, func() string {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			behind, total, err := progress(ctx, adm)
			if err != nil || total-behind < goal {
				return fmt.Sprintf("kill %d waits for %d records of the stream to be committed: %d of %d (%v)", i+1, goal, total-behind, total, err)
			}
			return ""
		})
		time.Sleep(time.Duration(r.IntN(300)) * time.Millisecond) // the experiment: kill at a random moment
		delay := time.Since(started).Round(time.Millisecond)
		e.kill(t)
		made++
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		behind, total, err = progress(ctx, adm)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if behind > 0 && behind < total {
			midWork++
		}
		t.Logf("kill %d: SIGKILL %s after start; %d of %d input records committed", i+1, delay, total-behind, total)
	}
	e := startEngine(t, addr, "k1")
	waitCaughtUp(t, adm, 2*time.Minute, e)
	t.Logf("caught up %s after the first start", time.Since(start).Round(time.Millisecond))
	t.Logf("%d of %d kills landed while the engine was part way through the stream", midWork, made)
	if midWork == 0 {
		t.Errorf("no kill landed while the engine was part way through the stream; make the stream longer")
	}
	compareRuns(t, finish(t, addr, e), ref)
}

// owned waits until the engines own disjoint, non-empty sets of partitions
// that together are all of them, and returns each one's.
func owned(t *testing.T, timeout time.Duration, engines ...*engine) [][]int32 {
	t.Helper()
	var out [][]int32
	waitUntil(t, timeout, func() string {
		out = out[:0]
		seen := map[int32]string{}
		for _, e := range engines {
			if e.exited() {
				t.Fatalf("%s exited: %v", e.name, e.err)
			}
			s, err := e.stats()
			if err != nil {
				return fmt.Sprintf("%s: %v", e.name, err)
			}
			if len(s.Partitions) == 0 {
				return fmt.Sprintf("%s owns no partition", e.name)
			}
			for _, p := range s.Partitions {
				if other, dup := seen[p]; dup {
					return fmt.Sprintf("partition %d owned by %s and %s", p, other, e.name)
				}
				seen[p] = e.name
			}
			out = append(out, s.Partitions)
		}
		if len(seen) != 6 {
			return fmt.Sprintf("%d of 6 partitions owned: %v", len(seen), out)
		}
		return ""
	})
	return out
}

// restoredLine matches the engine's log line of a restore.
var restoredLine = regexp.MustCompile(`msg="partitions restored" partitions="?\[([0-9 ]*)\]"? twins=([0-9]+)`)

// waitRestored waits until the engine has logged, after byte offset from,
// a restore from the changelog of (at least) the partitions ps that
// brought back at least minTwins twins.
func waitRestored(t *testing.T, e *engine, from int, ps []int32, minTwins int) {
	t.Helper()
	waitUntil(t, 30*time.Second, func() string {
		lines := restoredLine.FindAllStringSubmatch(e.out.String()[from:], -1)
		for _, m := range lines {
			set := map[int32]bool{}
			for _, f := range strings.Fields(m[1]) {
				p, _ := strconv.Atoi(f)
				set[int32(p)] = true
			}
			n, _ := strconv.Atoi(m[2])
			if n >= minTwins && !slices.ContainsFunc(ps, func(p int32) bool { return !set[p] }) {
				return ""
			}
		}
		return fmt.Sprintf("%s has not restored partitions %v with at least %d twins from the changelog (restores logged: %v)", e.name, ps, minTwins, lines)
	})
}

// TestScaleOut runs two engine processes in one group: each owns part of
// the partitions. One is killed mid-work; the other takes its partitions
// over, restoring their twins from the changelog. A third one then joins
// and takes partitions the same way. Once caught up the state and the
// alerts equal those of the single-process reference run.
func TestScaleOut(t *testing.T) {
	skipShort(t)
	stream, ref := reference(t)
	_, addr := startBrokerProcess(t, "broker")
	produceStream(t, addr, stream)
	adm := admin(t, addr)

	a := startEngine(t, addr, "scale-a")
	b := startEngine(t, addr, "scale-b")
	parts := owned(t, 30*time.Second, a, b)
	t.Logf("%s owns %v, %s owns %v", a.name, parts[0], b.name, parts[1])
	// b must have committed twins of its own before it dies
	var bTwins int
	waitUntil(t, 30*time.Second, func() string {
		s, err := b.stats()
		if err != nil || s.Commits == 0 || s.Twins == 0 {
			return fmt.Sprintf("%s has not committed twins yet: %+v %v", b.name, s, err)
		}
		bTwins = s.Twins
		return ""
	})
	mark := len(a.out.String())
	b.kill(t)
	killed := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	behind, total, err := progress(ctx, adm)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SIGKILL %s: %d of %d input records committed", b.name, total-behind, total)
	if behind == 0 {
		t.Errorf("%s was killed after the group had caught up; make the stream longer", b.name)
	}
	if got := owned(t, 30*time.Second, a); len(got[0]) != 6 {
		t.Fatalf("%s owns %v after %s died", a.name, got[0], b.name)
	}
	waitRestored(t, a, mark, parts[1], bTwins)
	t.Logf("%s took over %v and the %d twins %s had committed, %s after the kill", a.name, parts[1], bTwins, b.name, time.Since(killed).Round(time.Millisecond))

	c := startEngine(t, addr, "scale-c")
	parts = owned(t, 30*time.Second, a, c)
	t.Logf("with %s: %s owns %v, %s owns %v", c.name, a.name, parts[0], c.name, parts[1])
	waitRestored(t, c, 0, parts[1], 1)

	took := waitCaughtUp(t, adm, 2*time.Minute, a, c)
	t.Logf("caught up %s after %s joined", took.Round(time.Millisecond), c.name)
	compareRuns(t, finish(t, addr, a, c), ref)
}

// TestBrokerStall freezes the broker process for 20 seconds while the
// engine works: the engine says it is degraded (/healthz, the
// sitetwin_broker_up metric, its log), waits, resumes once the broker is
// back, and ends with the same state and alerts as the reference run.
func TestBrokerStall(t *testing.T) {
	skipShort(t)
	stream, ref := reference(t)
	broker, addr := startBrokerProcess(t, "broker")
	produceStream(t, addr, stream)
	adm := admin(t, addr)
	e := startEngine(t, addr, "stall")
	e.waitHealthy(t)
	if up, err := e.metric("sitetwin_broker_up"); err != nil || up != 1 {
		t.Fatalf("sitetwin_broker_up = %v before the stall (%v)", up, err)
	}
	// freeze the broker mid-work: events applied and committed, more to come
	waitUntil(t, 30*time.Second, func() string {
		s, err := e.stats()
		if err != nil || s.Commits == 0 || s.Events == 0 {
			return fmt.Sprintf("nothing applied and committed yet: %+v %v", s, err)
		}
		return ""
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	behind, total, err := progress(ctx, adm)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	mark := len(e.out.String())
	broker.signal(t, syscall.SIGSTOP)
	frozen := time.Now()
	t.Logf("SIGSTOP broker: %d of %d input records committed", total-behind, total)
	if behind == 0 {
		t.Errorf("the broker froze after the engine had caught up; make the stream longer")
	}

	waitUntil(t, 15*time.Second, func() string {
		status, body, err := httpGet("http://" + e.http + "/healthz")
		if err != nil || status != http.StatusServiceUnavailable || !bytes.Contains(body, []byte("degraded")) {
			return fmt.Sprintf("/healthz during the stall: %d %s %v", status, body, err)
		}
		return ""
	})
	waitUntil(t, 15*time.Second, func() string {
		if up, err := e.metric("sitetwin_broker_up"); err != nil || up != 0 {
			return fmt.Sprintf("sitetwin_broker_up = %v during the stall (%v)", up, err)
		}
		return ""
	})
	waitUntil(t, 15*time.Second, func() string {
		if !strings.Contains(e.out.String()[mark:], "broker unreachable") {
			return "the log does not say the broker is unreachable"
		}
		return ""
	})
	t.Logf("degraded %s into the stall", time.Since(frozen).Round(time.Millisecond))
	if e.exited() {
		t.Fatalf("%s exited during the stall: %v", e.name, e.err)
	}
	time.Sleep(time.Until(frozen.Add(20 * time.Second))) // the experiment: a 20 s stall
	broker.signal(t, syscall.SIGCONT)
	resumed := time.Now()

	waitUntil(t, 60*time.Second, func() string {
		if e.exited() {
			t.Fatalf("%s exited: %v", e.name, e.err)
		}
		log := e.out.String()[mark:]
		if i := strings.Index(log, "broker reachable again"); i < strings.Index(log, "broker unreachable") {
			return "the log does not say the broker is reachable again"
		}
		if up, err := e.metric("sitetwin_broker_up"); err != nil || up != 1 {
			return fmt.Sprintf("sitetwin_broker_up = %v after the stall (%v)", up, err)
		}
		if status, body, err := httpGet("http://" + e.http + "/healthz"); err != nil || status != http.StatusOK {
			return fmt.Sprintf("/healthz after the stall: %d %s %v", status, body, err)
		}
		return ""
	})
	t.Logf("healthy again %s after SIGCONT", time.Since(resumed).Round(time.Millisecond))
	waitCaughtUp(t, adm, 2*time.Minute, e)
	t.Logf("caught up %s after SIGCONT", time.Since(resumed).Round(time.Millisecond))
	compareRuns(t, finish(t, addr, e), ref)
}

// TestEmbeddedRestartKeepsState runs `sitetwin run` with its embedded
// broker on a data directory, stops it with SIGTERM (it must exit with
// status 0 within 10 s), starts it again on the same directory with no
// simulated city, and requires the same twins, byte for byte.
func TestEmbeddedRestartKeepsState(t *testing.T) {
	skipShort(t)
	dir := filepath.Join(t.TempDir(), "data")
	run := func(name, projects string) (*process, string, string) {
		t.Helper()
		kafka, api := freePort(t), freePort(t)
		p := startProcess(t, name, "run", "--http", api, "--kafka-listen", kafka, "--data-dir", dir,
			"--projects", projects, "--rate", "0", "--seed", "3", "--stats-every", "0")
		return p, kafka, api
	}
	first, kafka, api := run("embedded run 1", "12")
	first.waitLog(t, "simulated city registered", time.Minute)
	waitCaughtUp(t, admin(t, kafka), time.Minute)
	before := dumpState(t, kafka)
	if n := twinCount(t, before); n != 12 {
		t.Fatalf("%d twins in the dump, want the 12 simulated projects", n)
	}
	statsBefore := apiStats(t, api)
	first.terminate(t)

	second, kafka, api := run("embedded run 2", "0")
	waitUntil(t, time.Minute, func() string {
		if second.exited() {
			t.Fatalf("%s exited: %v", second.name, second.err)
		}
		status, body, err := httpGet("http://" + api + "/healthz")
		if err != nil || status != http.StatusOK {
			return fmt.Sprintf("/healthz: %d %s %v", status, body, err)
		}
		return ""
	})
	waitCaughtUp(t, admin(t, kafka), time.Minute)
	after := dumpState(t, kafka)
	if !bytes.Equal(after, before) {
		t.Errorf("state dump after the restart differs (%d vs %d bytes); first difference: %s%s", len(after), len(before), firstDiff(after, before), keepDumps(after, before))
	}
	if s := apiStats(t, api); s.Twins != statsBefore.Twins || s.Twins != 12 {
		t.Errorf("the restarted engine serves %d twins, the first served %d", s.Twins, statsBefore.Twins)
	}
	second.terminate(t)
}

func apiStats(t *testing.T, api string) engineStats {
	t.Helper()
	s, err := statsOf(api)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
