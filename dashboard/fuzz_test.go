package dashboard

import (
	"encoding/json"
	"testing"
)

// FuzzParseTokens: a tokens file never panics the parser, and what it
// accepts authenticates its tokens.
func FuzzParseTokens(f *testing.F) {
	for _, s := range []string{testTokens, "", "#\n", "abcdefghijklmnopq contractor", "abcdefghijklmnopq public x y z", "\x00\xff regulator", "abcdefghijklmnopqrstu regulator\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, err := ParseTokens(b)
		if err != nil {
			return
		}
		if tk.Len() == 0 {
			t.Fatal("accepted a file without tokens")
		}
	})
}

// FuzzWSRequest: whatever a client sends, the hub answers it with an ack
// or an error and never panics.
func FuzzWSRequest(f *testing.F) {
	for _, s := range []string{
		`{"op":"subscribe","topic":"city"}`, `{"op":"subscribe","topic":"twin","project":"P-001"}`,
		`{"op":"subscribe","topic":"district","district":"nanshan"}`, `{"op":"subscribe","topic":"alerts","level":"stop","kind":"sensor"}`,
		`{"op":"unsubscribe","topic":"twin","project":"P-999"}`, `{"op":"subscribe","topic":"alerts","level":"purple"}`,
		`{"op":42}`, `[]`, `null`, `{"op":"subscribe","topic":"summary","id":"\u0000"}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	src := newSource(f)
	f.Fuzz(func(t *testing.T, b []byte, role uint8) {
		s, err := New(Config{Source: src, Open: true})
		if err != nil {
			t.Fatal(err)
		}
		h := s.hub
		for _, v := range src.Twins() {
			h.update(v.ID, v)
		}
		p := []Principal{{Role: RoleRegulator}, {Role: RoleContractor, Unit: "C-2"}, {Role: RolePublic}}[int(role)%3]
		c := &client{s: s, p: p, wake: make(chan struct{}, 1), done: make(chan struct{}),
			subs: subs{districts: map[string]bool{}, twins: map[string]bool{}}}
		var req request
		if json.Unmarshal(b, &req) != nil {
			return // answered with an error before the hub
		}
		h.handle(c, &req)
		if len(c.pend.msgs) == 0 {
			t.Fatal("request not answered")
		}
		var first map[string]any
		if err := json.Unmarshal(c.pend.msgs[0], &first); err != nil || (first["type"] != "ack" && first["type"] != "error") {
			t.Fatalf("answer %s", c.pend.msgs[0])
		}
		frames, _ := c.take()
		for _, fr := range frames {
			if !json.Valid(fr) {
				t.Fatalf("invalid frame %s", fr)
			}
		}
	})
}
