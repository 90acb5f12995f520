package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/dashboard"
	"github.com/sitetwin/sitetwin/streams"
	"github.com/sitetwin/sitetwin/twin"
)

// The websocket scenario (also `ws`): the engine applies the simulated
// city's live events as fast as it can (the producer keeps its lag
// bounded) or at the rate --rate holds, first without websocket clients,
// then with N clients subscribed to the city.
// A probe project's site is renamed every probeEvery ("probe-<k>"); each
// client notes when the row with probe k arrives, which gives the delivery
// latency from the produce call to the client's receipt (the engine's
// checkpoint interval, the feed and the client's rate limit included).

const (
	probeProject = "P-PROBE"
	probeSite    = "P-PROBE-S1"
	probeEvery   = 500 * time.Millisecond
)

func wsScenario(ctx context.Context, args []string, out io.Writer) error {
	fs := flagSet("websocket")
	nClients := fs.Int("clients", 1000, "websocket clients subscribed to the city")
	projects := fs.Int("projects", 300, "projects in the simulated city")
	seconds := fs.Int("seconds", 20, "length of each phase (without clients, with clients)")
	partitions := fs.Int("partitions", 6, "partitions of the topics")
	rate := fs.Float64("rate", 0, "live events per second the producer holds (e.g. 50000); 0: as fast as the engine applies them")
	checkpoint := fs.Duration("checkpoint", 0, "the engine's checkpoint interval (0: its default, "+streams.DefaultCheckpointInterval.String()+")")
	views := fs.Duration("view-every", 0, "the engine hands the store changed twins' views this often, before their checkpoint commits (0: at each commit)")
	updates := fs.Float64("updates-per-second", 0, "the dashboard's cap on change batches a second per client (0: its default, 10)")
	results := fs.String("results", "bench/RESULTS.md", "append the figures to this file (empty: do not)")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the phase with clients (engine, feed and clients) to this file (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nClients < 1 || *seconds < 1 || *projects < 1 || *projects > citysim.MaxProjects || *rate < 0 || *checkpoint < 0 || *views < 0 || *updates < 0 {
		return errors.New("--clients, --seconds and --projects must be positive (projects at most citysim.MaxProjects), --rate, --checkpoint, --view-every and --updates-per-second at least 0")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	b, err := streams.NewBroker(streams.BrokerConfig{Listen: "127.0.0.1:0", Partitions: *partitions})
	if err != nil {
		return err
	}
	defer b.Close()
	reg := prometheus.NewRegistry()
	eng, err := streams.NewEngine(streams.EngineConfig{
		Brokers: []string{b.Addr()}, Group: "bench-ws", Instance: "bench", Logger: log, Registerer: reg,
		TopicOptions: streams.TopicOptions{Partitions: int32(*partitions)}, CheckpointInterval: *checkpoint,
		ViewInterval: *views,
	})
	if err != nil {
		return err
	}
	api, err := dashboard.New(dashboard.Config{Source: eng.Store(), Open: true, Registerer: reg, Logger: log, UpdatesPerSecond: *updates,
		Load: func() dashboard.Load { s := eng.Stats(); return dashboard.Load{Events: s.Events, Lag: s.Lag} }})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	engErr := make(chan error, 1)
	wg.Add(2)
	go func() { defer wg.Done(); engErr <- eng.Run(ctx) }()
	go func() { defer wg.Done(); api.Run(ctx) }() //nolint:errcheck // returns nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // closed below
	defer func() {
		srv.Close()
		cancel()
		wg.Wait()
	}()
	select {
	case <-eng.Ready():
	case err := <-engErr:
		return fmt.Errorf("engine: %w", err)
	case <-time.After(2 * time.Minute):
		return errors.New("engine not ready after 2 minutes")
	}

	now := time.Now().UTC()
	city, err := citysim.New(citysim.Config{Projects: *projects, Seed: 1, Start: now, Rate: 50000})
	if err != nil {
		return err
	}
	pub, err := streams.NewPublisher([]string{b.Addr()}, streams.DefaultTopics(), "bench-ws")
	if err != nil {
		return err
	}
	defer pub.Close()
	boot := append(city.Bootstrap(), probeRegistration(now)...)
	if err := pub.Publish(ctx, boot...); err != nil {
		return err
	}
	if err := pub.Flush(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "city of %d projects registered (%d events); waiting for the engine ...\n", *projects, len(boot))
	for eng.Stats().Lag > 0 || eng.Stats().Twins < *projects {
		time.Sleep(50 * time.Millisecond)
	}

	phase := func(name string, clients int) (phaseResult, error) {
		fmt.Fprintf(out, "phase %s: %d clients, %d s ...\n", name, clients, *seconds)
		var col collector
		conns := make([]*websocket.Conn, 0, clients)
		for i := range clients {
			c, err := dialCity("ws://"+ln.Addr().String()+"/ws", &col)
			if err != nil {
				return phaseResult{}, fmt.Errorf("client %d: %w", i, err)
			}
			conns = append(conns, c)
		}
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		unwatch := eng.Store().Watch(func(ids []string, _ []twin.Alert) {
			if !slices.Contains(ids, probeProject) {
				return
			}
			at := time.Now()
			if v, ok := eng.Store().Twin(probeProject); ok && len(v.Sites) > 0 {
				if k, err := strconv.Atoi(strings.TrimPrefix(v.Sites[0].Name, "probe-")); err == nil {
					col.stored(k, at)
				}
			}
		})
		defer unwatch()
		pctx, stop := context.WithTimeout(ctx, time.Duration(*seconds)*time.Second)
		defer stop()
		stopProfile := func() {}
		if clients > 0 {
			end, err := startProfile(*profile)
			if err != nil {
				return phaseResult{}, err
			}
			stopProfile = sync.OnceFunc(end) // at the end of the producing, or on an error
		}
		defer stopProfile()
		ev0, t0 := eng.Stats().Events, time.Now()
		errc := make(chan error, 2)
		var produced int
		go func() {
			var err error
			if *rate > 0 {
				produced, err = producePaced(pctx, ctx, pub, city, *rate)
			} else {
				produced, err = produceFull(pctx, ctx, pub, city, eng)
			}
			errc <- err
		}()
		go func() { errc <- probe(pctx, ctx, pub, &col) }()
		for range 2 {
			if err := <-errc; err != nil {
				return phaseResult{}, err
			}
		}
		took := time.Since(t0).Seconds()
		stopProfile()
		r := phaseResult{name: name, clients: clients, rate: float64(eng.Stats().Events-ev0) / took, produced: float64(produced) / took}
		time.Sleep(time.Second) // the last probes arrive
		r.lat, r.probes, r.frames = col.summary()
		r.store = col.storeLatencies()
		r.feed = col.feedLatencies()
		return r, nil
	}
	load0 := loadAverage()
	without, err := phase("without clients", 0)
	if err != nil {
		return err
	}
	with, err := phase("with clients", *nClients)
	if err != nil {
		return err
	}
	coalesced, dropped := metricSum(reg, "sitetwin_ws_coalesced_total"), metricSum(reg, "sitetwin_ws_dropped_total")

	var sb strings.Builder
	target := "as fast as applied"
	if *rate > 0 {
		target = fmt.Sprintf("%.0f", *rate)
	}
	fmt.Fprintf(&sb, "| phase | clients | producer target events/s | produced events/s | engine events/s | produce → store p50 | p99 | probe deliveries | produce → client p50 | p99 | max | store → client p50 | p99 |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range []phaseResult{without, with} {
		p50, p99, mx, s50, s99, f50, f99 := "–", "–", "–", "–", "–", "–", "–"
		if len(r.lat) > 0 {
			p50, p99, mx = pct(r.lat, 0.5), pct(r.lat, 0.99), r.lat[len(r.lat)-1].Round(time.Millisecond).String()
		}
		if len(r.store) > 0 {
			s50, s99 = pct(r.store, 0.5), pct(r.store, 0.99)
		}
		if len(r.feed) > 0 {
			f50, f99 = pct(r.feed, 0.5), pct(r.feed, 0.99)
		}
		fmt.Fprintf(&sb, "| %s | %d | %s | %.0f | %.0f | %s | %s | %d | %s | %s | %s | %s | %s |\n", r.name, r.clients, target, r.produced, r.rate, s50, s99, len(r.lat), p50, p99, mx, f50, f99)
	}
	fmt.Fprintf(&sb, "\nLoad average at the start: %s (other work shared the machine).\n", load0)
	fmt.Fprintf(&sb, "\nWith clients the throughput is %.0f%% of that without. Websocket messages received: %d; updates coalesced: %.0f; dropped: %.0f.\n"+
		"Latency is from the produce call of a probe event to the engine's store (%s; checkpoints %s) and to a client's receipt of the row that carries it (the feed and each client's cap on batches, %s, added); store → client is the feed's share alone, from the store telling its watchers of the probe's new view to each client's receipt. Clients, engine and broker share the machine.\n",
		100*with.rate/max(without.rate, 1), with.frames, coalesced, dropped,
		orDefault("its view handed over every "+views.String()+", before its transaction commits", *views > 0, "its transaction committed"), orDefault("every "+checkpoint.String(), *checkpoint > 0, "at the engine's default interval"), orDefault(fmt.Sprintf("%g batches a second", *updates), *updates > 0, "the dashboard's default"))
	fmt.Fprint(out, sb.String())
	cmd := fmt.Sprintf("go run ./bench websocket --clients %d --projects %d --seconds %d --rate %g", *nClients, *projects, *seconds, *rate)
	if *checkpoint > 0 {
		cmd += fmt.Sprintf(" --checkpoint %s", *checkpoint)
	}
	if *views > 0 {
		cmd += fmt.Sprintf(" --view-every %s", *views)
	}
	if *updates > 0 {
		cmd += fmt.Sprintf(" --updates-per-second %g", *updates)
	}
	return appendResults(*results, "websocket clients", cmd, sb.String())
}

// orDefault returns set when the flag was given, else what its default is
// called.
func orDefault(set string, given bool, def string) string {
	if given {
		return set
	}
	return def
}

type phaseResult struct {
	name     string
	clients  int
	rate     float64         // events the engine applied per second
	produced float64         // live events produced per second
	lat      []time.Duration // sorted: produce to client
	store    []time.Duration // sorted: produce to the store (the engine's commit)
	feed     []time.Duration // sorted: the store to client
	probes   int
	frames   int64
}

func pct(sorted []time.Duration, q float64) string {
	i := min(len(sorted)-1, int(q*float64(len(sorted))))
	return sorted[i].Round(time.Millisecond).String()
}

// collector gathers what the clients saw.
type collector struct {
	mu       sync.Mutex
	sent     map[int]time.Time
	storedAt map[int]time.Time // when the store first showed probe k
	lat      []time.Duration
	store    []time.Duration
	got      []receipt
	frames   int64
}

// receipt is a client's receipt of probe k.
type receipt struct {
	k  int
	at time.Time
}

func (c *collector) stored(k int, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, seen := c.storedAt[k]; seen {
		return
	}
	if c.storedAt == nil {
		c.storedAt = map[int]time.Time{}
	}
	c.storedAt[k] = at
	if t, ok := c.sent[k]; ok {
		c.store = append(c.store, at.Sub(t))
	}
}

// feedLatencies returns, sorted, the time from the store showing a probe
// to each client's receipt of it. (The store tells the feed and the
// collector in either order, microseconds apart; were a receipt quicker
// than that, its latency would be negative.)
func (c *collector) feedLatencies() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Duration
	for _, r := range c.got {
		if t, ok := c.storedAt[r.k]; ok {
			out = append(out, r.at.Sub(t))
		}
	}
	slices.Sort(out)
	return out
}

func (c *collector) storeLatencies() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.store)
	slices.Sort(out)
	return out
}

func (c *collector) sentProbe(k int, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sent == nil {
		c.sent = map[int]time.Time{}
	}
	c.sent[k] = at
}

func (c *collector) received(k int, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.sent[k]; ok {
		c.lat = append(c.lat, at.Sub(t))
		c.got = append(c.got, receipt{k, at})
	}
}

func (c *collector) summary() ([]time.Duration, int, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.lat)
	slices.Sort(out)
	return out, len(c.sent), c.frames
}

// messageBufs are the buffers the clients read a message into: taken for
// one message and given back, so that the clients reading at one moment
// (a few, on a few cores) hold them, not each of the 1,000 a buffer of its
// own, and no buffer grows from nothing for each message of 150 KB
// (websocket.Conn.ReadMessage's io.ReadAll did: 12 % of the machine's CPU
// in a profile of the phase with clients, taken from the engine).
var messageBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// probeTail is how far from the end of a "projects" message a client
// looks for the probe's row: the server sends rows sorted by id, and
// P-PROBE sorts after the simulated city's ids (P-001, ...), so its row
// (one site, a few hundred bytes) is the last when it is there. Scanning
// only the tail spares the clients, which share the engine's cores, a
// scan of each whole message (150 KB; 17 % of the CPU in a profile).
const probeTail = 4 << 10

// dialCity connects a client subscribed to the city; its reader notes the
// probes it receives.
func dialCity(url string, col *collector) (*websocket.Conn, error) {
	c, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return nil, err
	}
	if err := c.WriteJSON(map[string]string{"op": "subscribe", "topic": "city"}); err != nil {
		c.Close()
		return nil, err
	}
	go func() {
		marker := []byte(`"name":"probe-`)
		for {
			_, r, err := c.NextReader()
			if err != nil {
				return
			}
			buf := messageBufs.Get().(*bytes.Buffer)
			buf.Reset()
			_, err = buf.ReadFrom(r)
			at := time.Now()
			if err != nil {
				return
			}
			b := buf.Bytes()
			col.mu.Lock()
			col.frames++
			col.mu.Unlock()
			if !bytes.HasPrefix(b, []byte(`{"type":"projects"`)) {
				messageBufs.Put(buf)
				continue
			}
			tail := b[max(0, len(b)-probeTail):]
			if i := bytes.Index(tail, marker); i >= 0 {
				rest := tail[i+len(marker):]
				j := bytes.IndexByte(rest, '"')
				if k, err := strconv.Atoi(string(rest[:max(j, 0)])); err == nil {
					col.received(k, at)
				}
			}
			messageBufs.Put(buf)
		}
	}()
	return c, nil
}

// produceFull produces live events as fast as the engine applies them,
// keeping its lag under a bound, until phase ends (records are produced
// with ctx, so that none fails when the phase ends). It returns how many
// it produced.
func produceFull(phase, ctx context.Context, pub *streams.Publisher, city *citysim.City, eng *streams.Engine) (int, error) {
	const chunk, maxLag = 2000, 20000
	n := 0
	for phase.Err() == nil {
		if eng.Stats().Lag > maxLag {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		evs := make([]*twin.Event, 0, chunk)
		for range chunk {
			if e := city.Next(); e != nil {
				evs = append(evs, e)
			}
		}
		if err := pub.Publish(ctx, evs...); err != nil {
			return n, err
		}
		if err := pub.Flush(ctx); err != nil {
			return n, err
		}
		n += len(evs)
	}
	return n, nil
}

// producePaced produces live events at rate events per second until phase
// ends: every tick the events due since the start, in one asynchronous
// batch. When the producer falls behind (the client's buffer full, the
// machine busy) by more than maxBehind it gives up the deficit rather than
// burst, so that the rate it returns (events produced) is what it held.
func producePaced(phase, ctx context.Context, pub *streams.Publisher, city *citysim.City, rate float64) (int, error) {
	const tick, maxBehind = 5 * time.Millisecond, 100 * time.Millisecond
	t := time.NewTicker(tick)
	defer t.Stop()
	start := time.Now()
	counted, n := 0, 0 // events produced or given up since start; events produced
	for {
		select {
		case <-phase.Done():
			return n, pub.Flush(ctx)
		case now := <-t.C:
			target := int(rate * now.Sub(start).Seconds())
			if limit := int(rate * maxBehind.Seconds()); target-counted > limit {
				counted = target - limit // the deficit beyond maxBehind is given up
			}
			due := target - counted
			if due <= 0 {
				continue
			}
			evs := make([]*twin.Event, 0, due)
			for range due {
				if e := city.Next(); e != nil {
					evs = append(evs, e)
				}
			}
			if err := pub.Publish(ctx, evs...); err != nil {
				return n, err
			}
			counted += due
			n += len(evs)
		}
	}
}

func probeRegistration(at time.Time) []*twin.Event {
	reg := fmt.Sprintf(`{"specversion":"1.0","id":"probe-reg","type":"project.registered","source":"bench","time":%q,"project":%q,"data":{"name":"probe","district":"Bench","kind":"housing","owner":"O","contractor":"C","supervisor":"S","budget_cny":1,"planned_start":"2026-01-01","planned_finish":"2027-01-01"}}`,
		at.Format(time.RFC3339Nano), probeProject)
	e, err := twin.Decode([]byte(reg))
	if err != nil {
		panic(err) // a constant event
	}
	return []*twin.Event{e, probeSiteEvent(0, at)}
}

func probeSiteEvent(k int, at time.Time) *twin.Event {
	js := fmt.Sprintf(`{"specversion":"1.0","id":"probe-%d","type":"site.added","source":"bench","time":%q,"project":%q,"site":%q,"data":{"name":"probe-%d","lat":22.5,"lon":114.0,"terrain":"C"}}`,
		k, at.Format(time.RFC3339Nano), probeProject, probeSite, k)
	e, err := twin.Decode([]byte(js))
	if err != nil {
		panic(err) // a constant event
	}
	return e
}

var probeSeq int

// probe renames the probe site every probeEvery and notes when, until
// phase ends.
func probe(phase, ctx context.Context, pub *streams.Publisher, col *collector) error {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		select {
		case <-phase.Done():
			return nil
		case <-t.C:
		}
		probeSeq++
		now := time.Now()
		col.sentProbe(probeSeq, now)
		if err := pub.Publish(ctx, probeSiteEvent(probeSeq, now.UTC())); err != nil {
			return err
		}
	}
}

func metricSum(reg *prometheus.Registry, name string) float64 {
	mfs, _ := reg.Gather() // partial figures on an error are still figures
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
