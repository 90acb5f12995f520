package dashboard

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sitetwin/sitetwin/twin"
)

// TestSharedRowsMatchPerClient: clients of many roles and selections,
// offered shared and merged row batches, each receive exactly the bytes
// that coalescing each client's rows on its own gives (the latest row per
// twin, removals included, sorted by id), and the coalesced rows are
// counted alike — through random changes, removals, takes and changes of
// subscription.
func TestSharedRowsMatchPerClient(t *testing.T) {
	src := newLiveSource(t)
	reg := prometheus.NewRegistry()
	s, err := New(Config{Source: src, Open: true, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	h := s.hub
	for _, v := range src.Twins() {
		h.update(v.ID, v)
	}
	principals := []Principal{{Role: RoleRegulator}, {Role: RoleContractor, Unit: "C-1"}, {Role: RoleContractor, Unit: "C-2"}, {Role: RolePublic}}
	type want struct {
		rows      map[string]json.RawMessage // what the client must get next; nil row: removed
		coalesced int
	}
	var clients []*client
	wants := map[*client]*want{}
	rng := rand.New(rand.NewPCG(1, 2))
	subscribe := func(c *client, op, topic, district string) {
		h.handle(c, &request{Op: op, Topic: topic, District: district})
	}
	for i := range 24 {
		c := &client{s: s, p: principals[i%len(principals)], wake: make(chan struct{}, 1), done: make(chan struct{}),
			subs: subs{districts: map[string]bool{}, twins: map[string]bool{}}}
		switch i / len(principals) % 3 {
		case 0:
			subscribe(c, "subscribe", "city", "")
		case 1:
			subscribe(c, "subscribe", "district", "Nanshan")
		case 2:
			subscribe(c, "subscribe", "district", "Nanshan")
			subscribe(c, "subscribe", "district", "Futian")
		}
		c.take() // the acks and snapshots
		h.clients[c] = struct{}{}
		clients = append(clients, c)
		wants[c] = &want{rows: map[string]json.RawMessage{}}
	}
	ids := []string{"P-001", "P-002", "P-003"}
	removed := map[string]bool{}
	minute := 0
	for step := range 3000 {
		switch op := rng.IntN(10); {
		case op < 5: // changes of one to three twins, then a drain
			before := map[string]*row{}
			for id, r := range h.rows {
				before[id] = r
			}
			var changed []string
			for _, id := range ids {
				if rng.IntN(2) == 0 {
					continue
				}
				changed = append(changed, id)
				switch {
				case removed[id]:
					src.mu.Lock()
					src.views[id] = src.twins.twins[id].View()
					src.mu.Unlock()
					delete(removed, id)
				case rng.IntN(8) == 0:
					src.mu.Lock()
					delete(src.views, id)
					src.mu.Unlock()
					removed[id] = true
				default:
					minute = (minute + 1) % 60
					src.apply(t, noise(id, 40+float64(rng.IntN(60)), minute))
				}
			}
			h.notify(changed, nil)
			h.drain()
			for _, c := range clients { // what offer did per client before rows were shared
				w := wants[c]
				for _, id := range ids {
					old, now := before[id], h.rows[id]
					if old == now {
						continue
					}
					var nb, ob json.RawMessage
					if c.wantsRow(now) {
						nb = h.rowFor(c.p, now)
					}
					if c.wantsRow(old) {
						ob = h.rowFor(c.p, old)
					}
					if nb == nil && ob == nil {
						continue
					}
					if _, waiting := w.rows[id]; waiting {
						w.coalesced++
					}
					w.rows[id] = nb
				}
			}
		case op < 8: // a client sends what waits
			c := clients[rng.IntN(len(clients))]
			w := wants[c]
			frames, _ := c.take()
			var got []byte
			for _, f := range frames {
				if bytes.HasPrefix(f, []byte(`{"type":"projects"`)) {
					got = f
				}
			}
			if exp := perClientRows(w.rows); !bytes.Equal(got, exp) {
				t.Fatalf("step %d, %s client %q: got\n%s\nwant\n%s", step, c.p.Role, c.key, got, exp)
			}
			clear(w.rows)
		default: // a client changes its subscriptions
			c := clients[rng.IntN(len(clients))]
			op := []string{"subscribe", "unsubscribe"}[rng.IntN(2)]
			if rng.IntN(3) == 0 {
				subscribe(c, op, "city", "")
			} else {
				subscribe(c, op, "district", []string{"Nanshan", "Futian"}[rng.IntN(2)])
			}
		}
	}
	total := 0
	for _, w := range wants {
		total += w.coalesced
	}
	if got := metricValue(t, reg, "sitetwin_ws_coalesced_total", "row"); got != float64(total) || total == 0 {
		t.Errorf("sitetwin_ws_coalesced_total{what=row} %v, want %d (> 0)", got, total)
	}
}

// perClientRows is the projects message of rows coalesced for one client,
// as it was assembled before rows were shared; nil when none wait.
func perClientRows(rows map[string]json.RawMessage) []byte {
	if len(rows) == 0 {
		return nil
	}
	var kept []json.RawMessage
	var removed []string
	for _, id := range sortedKeys(rows) {
		if rows[id] != nil {
			kept = append(kept, rows[id])
		} else {
			removed = append(removed, id)
		}
	}
	var buf bytes.Buffer
	buf.WriteString(`{"type":"projects"`)
	if len(kept) > 0 {
		buf.WriteString(`,"projects":`)
		joinRaw(&buf, kept)
	}
	if len(removed) > 0 {
		buf.WriteString(`,"removed":`)
		buf.Write(mustJSON(removed))
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// TestRowKey: clients that may be offered the same rows share a key, and
// the others do not.
func TestRowKey(t *testing.T) {
	mk := func(p Principal, city bool, districts ...string) *client {
		c := &client{p: p, subs: subs{city: city, districts: map[string]bool{}}}
		for _, d := range districts {
			c.subs.districts[d] = true
		}
		return c
	}
	reg, pub := Principal{Role: RoleRegulator}, Principal{Role: RolePublic}
	c1, c2 := Principal{Role: RoleContractor, Unit: "C-1"}, Principal{Role: RoleContractor, Unit: "C-2"}
	same := []struct {
		name string
		a, b *client
	}{
		{"city with districts is the city", mk(reg, true), mk(reg, true, "nanshan")},
		{"districts in any order", mk(pub, false, "nanshan", "futian"), mk(pub, false, "futian", "nanshan")},
		{"regulators whatever their unit", mk(reg, true), mk(Principal{Role: RoleRegulator, Unit: "x"}, true)},
	}
	for _, tc := range same {
		t.Run(tc.name, func(t *testing.T) {
			if a, b := tc.a.rowKey(), tc.b.rowKey(); a != b {
				t.Errorf("keys %q and %q differ", a, b)
			}
		})
	}
	distinct := []*client{
		mk(reg, true), mk(pub, true), mk(c1, true), mk(c2, true),
		mk(reg, false, "nanshan"), mk(reg, false, "futian"), mk(reg, false, "nanshan", "futian"),
		mk(c1, false, "nanshan"), mk(Principal{Role: RoleContractor, Unit: "C-1\x00"}, false, "nanshan"),
		mk(reg, false, "city"), mk(reg, false, "a", "b"), mk(reg, false, "a\x001:b"),
	}
	keys := map[string]int{}
	for i, c := range distinct {
		k := c.rowKey()
		if j, dup := keys[k]; dup {
			t.Errorf("clients %d and %d share key %q", j, i, k)
		}
		keys[k] = i
	}
	if k := mk(reg, false).rowKey(); k != "" {
		t.Errorf("no map topic: key %q, want empty", k)
	}
}

// TestTwinMessageAsMarshalled: the twin message assembled around the
// shared encoding is the bytes json.Marshal gives, for every form.
func TestTwinMessageAsMarshalled(t *testing.T) {
	src := newSource(t)
	s, err := New(Config{Source: src, Open: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range src.Twins() {
		s.hub.update(v.ID, v)
	}
	for _, p := range []Principal{{Role: RoleRegulator}, {Role: RoleContractor, Unit: "C-1"}, {Role: RolePublic}} {
		c := &client{s: s, p: p}
		for _, id := range []string{"P-001", "P-002", "P-003", "P-<gone>&"} {
			r := s.hub.rows[id]
			var v *twin.ProjectView
			if r != nil {
				v = r.view
			}
			want := mustJSON(message{Type: "twin", Project: id, Twin: s.twinJSON(p, v)})
			for range 2 { // encoded, then shared
				if got := c.twinMessage(id, r); !bytes.Equal(got, want) {
					t.Fatalf("%s, %s: got\n%s\nwant\n%s", p.Role, id, got, want)
				}
			}
		}
	}
}

// BenchmarkTwinMessages: one change of a twin sent to 100 clients of the
// twin topic, each encoding it (as before) or sharing one encoding.
func BenchmarkTwinMessages(b *testing.B) {
	src := newSource(b)
	s, err := New(Config{Source: src, Open: true})
	if err != nil {
		b.Fatal(err)
	}
	v, _ := src.Twin("P-001")
	c := &client{s: s, p: Principal{Role: RoleRegulator}}
	b.Run("per client", func(b *testing.B) {
		for b.Loop() {
			for range 100 {
				_ = mustJSON(message{Type: "twin", Project: v.ID, Twin: s.twinJSON(c.p, v)})
			}
		}
	})
	b.Run("shared", func(b *testing.B) {
		for b.Loop() {
			r := &row{view: v} // a new view: encoded once
			for range 100 {
				_ = c.twinMessage(v.ID, r)
			}
		}
	})
}
