package statefun_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/statefun"
	"github.com/sitetwin/sitetwin/twin"
)

// runtime plays the StateFun runtime against a Server over HTTP, as Flink
// drives a remote module: it keeps each function instance's state, sends
// the messages waiting for an instance in batches with that state,
// registers the specs an IncompleteInvocationContext asks for, applies the
// returned mutations, queues the outgoing messages, and collects the
// egress records and the delayed messages. Delivery is depth first: drain
// sends until nothing waits, so that everything an event causes happens
// before the next ingress record (the order the Kafka engine applies).
type runtime struct {
	t        testing.TB
	url      string
	batch    int // most messages per request
	state    map[address]map[string]*typedValue
	queue    []queued
	records  map[string][]kafkaRecord // egress records by topic
	delayed  []delayed
	requests int
}

type queued struct {
	target address
	inv    invocation
}

func newRuntime(t testing.TB, srv *statefun.Server, batch int) *runtime {
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return &runtime{t: t, url: hs.URL, batch: batch, state: map[address]map[string]*typedValue{}, records: map[string][]kafkaRecord{}}
}

// newServer returns a Server that logs nothing unless the test runs with -v.
func newServer(t testing.TB, cfg statefun.Config) *statefun.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			cfg.Logger = slog.Default()
		}
	}
	s, err := statefun.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func projectAddr(id string) address { return address{"sitetwin", "project", id} }

var cityAddr = address{"sitetwin", "city", "*"}

// ingress queues a record of an input topic, as the Kafka ingress routes
// it: to sitetwin/project with the record key as id.
func (r *runtime) ingress(stream, key string, value []byte) {
	r.queue = append(r.queue, queued{projectAddr(key), invocation{Arg: typedValue{statefun.IngressTypeName(stream), true, value}}})
}

// event queues an event on its topic, keyed by its project.
func (r *runtime) event(e *twin.Event) {
	r.ingress(twin.StreamOf(e.Type), e.Project, encode(r.t, e))
}

// drain sends batches until no message waits.
func (r *runtime) drain() {
	for len(r.queue) > 0 {
		target := r.queue[0].target
		var invs []invocation
		rest := r.queue[:0:0]
		for _, q := range r.queue {
			if q.target == target && len(invs) < r.batch {
				invs = append(invs, q.inv)
			} else {
				rest = append(rest, q)
			}
		}
		r.queue = rest
		r.call(target, invs)
	}
}

// request builds the ToFunction of a batch with the instance's state.
func (r *runtime) request(target address, invs []invocation) toFunction {
	req := toFunction{Target: target, Invocations: invs}
	specs := r.state[target]
	for _, name := range sortedKeys(specs) {
		req.State = append(req.State, persisted{Name: name, Value: specs[name]})
	}
	return req
}

// call sends one batch, registering missing specs first, and takes in the
// response.
func (r *runtime) call(target address, invs []invocation) *response {
	r.t.Helper()
	from := post(r.t, r.url, r.request(target, invs))
	r.requests++
	if from.Missing != nil {
		if r.state[target] == nil {
			r.state[target] = map[string]*typedValue{}
		}
		for _, m := range from.Missing {
			r.state[target][m.Name] = nil
		}
		from = post(r.t, r.url, r.request(target, invs))
		r.requests++
	}
	if from.Result == nil {
		r.t.Fatalf("%s: no InvocationResult (missing %v)", target, from.Missing)
	}
	r.take(target, from.Result)
	return from.Result
}

// take applies a response: state mutations, messages, egress, timers.
func (r *runtime) take(target address, res *response) {
	for _, m := range res.Mutations {
		switch m.Type {
		case mutModify:
			r.state[target][m.Name] = m.Value
		case mutDelete:
			r.state[target][m.Name] = nil
		}
	}
	caller := target
	for _, m := range res.Messages {
		r.queue = append(r.queue, queued{m.Target, invocation{Caller: &caller, Arg: m.Arg}})
	}
	for _, e := range res.Egress {
		k, err := decodeKafkaRecord(e)
		if err != nil || e.Namespace != "sitetwin" || e.Type != "kafka" {
			r.t.Fatalf("egress %s/%s: %v", e.Namespace, e.Type, err)
		}
		r.records[k.Topic] = append(r.records[k.Topic], k)
	}
	r.delayed = append(r.delayed, res.Delayed...)
}

// fire delivers a delayed message now, as the runtime does when its delay
// has passed.
func (r *runtime) fire(d delayed) {
	r.queue = append(r.queue, queued{*d.Target, invocation{Caller: d.Target, Arg: *d.Arg}})
	r.drain()
}

// projectState decodes a project instance's state (nil when it has none).
func (r *runtime) projectState(id string) *statefun.ProjectState {
	r.t.Helper()
	v := r.state[projectAddr(id)]["project"]
	if v == nil {
		return nil
	}
	if v.Typename != statefun.ProjectStateTypeName {
		r.t.Fatalf("state of %s has type %q", id, v.Typename)
	}
	st, err := statefun.DecodeProjectState(v.Value)
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

// twins returns the canonical JSON of every twin held, by project id
// (predictions left out, as a state dump does).
func (r *runtime) twins() map[string]string {
	out := map[string]string{}
	for a := range r.state {
		if a.Type != "project" {
			continue
		}
		if st := r.projectState(a.ID); st != nil && st.Twin != nil {
			out[a.ID] = canonical(r.t, st.Twin)
		}
	}
	return out
}

// deadLetters decodes the dead-letter records.
func (r *runtime) deadLetters() []statefun.DeadLetter {
	var out []statefun.DeadLetter
	for _, k := range r.records["sitetwin.deadletter"] {
		var dl statefun.DeadLetter
		if err := json.Unmarshal([]byte(k.Value), &dl); err != nil {
			r.t.Fatalf("dead letter %s: %v", k.Value, err)
		}
		out = append(out, dl)
	}
	return out
}

func canonical(t testing.TB, p *twin.ProjectTwin) string {
	t.Helper()
	c := *p
	c.Predictions = twin.Predictions{}
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func encode(t testing.TB, e *twin.Event) []byte {
	t.Helper()
	b, err := twin.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

var t0 = time.Date(2026, 6, 1, 3, 0, 0, 0, time.UTC) // 11:00 in Shenzhen: day limits

func mustWhen(s string) twin.When {
	w, ok := twin.ParseWhen(s)
	if !ok {
		panic("bad date " + s)
	}
	return w
}

// registration returns the registration of a project with one site.
func registration(project string, at time.Time) []*twin.Event {
	return []*twin.Event{
		{ID: "reg-" + project, Type: twin.TypeProjectRegistered, Source: "test", Time: at, Project: project, Data: &twin.ProjectRegistered{
			Name: "Project " + project, District: "Nanshan", Kind: "housing", Owner: "O-1", Contractor: "C-1", Supervisor: "S-1",
			BudgetCNY: 5e8, PlannedStart: mustWhen("2026-05-01"), PlannedFinish: mustWhen("2027-06-30"),
		}},
		{ID: "site-" + project, Type: twin.TypeSiteAdded, Source: "test", Time: at, Project: project, Site: project + "-S1", Data: &twin.SiteAdded{Name: "Main", Lat: 22.52, Lon: 113.93, Terrain: "C"}},
	}
}

func noise(id, project string, at time.Time, db float64) *twin.Event {
	return &twin.Event{ID: id, Type: twin.TypeSensorReading, Source: "gw", Time: at, Project: project, Site: project + "-S1", Data: &twin.SensorReading{Kind: "noise", Value: db, Unit: "dB(A)"}}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
