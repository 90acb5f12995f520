package dashboard

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
)

// The map rows of the city and district topics go out in batches that
// clients share: a drain makes one batch per selection (audience and
// topics, see rowKey) and offers the same batch to every client of that
// selection; a client with rows still waiting gets the merge of what waits
// and the new batch, made once for every client that waited with the same
// batch. Each batch is encoded once, by the first client's writer that
// sends it; the others send the same bytes.

// rowEntry is one twin's map row as a selection sees it; row nil: the
// twin left the selection (or went), and the client must forget it.
type rowEntry struct {
	id  string
	row json.RawMessage
}

// rowBatch is a "projects" message waiting for clients: rows sorted by id.
// Its entries are fixed once made; its merges are made and read on the
// hub's goroutine only; its message is encoded once, on the first writer
// that needs it.
type rowBatch struct {
	entries []rowEntry
	merges  map[*rowBatch]rowMerge // by what waited before this batch came

	once sync.Once
	msg  []byte
}

// rowMerge is a batch merged into one that waited: the result, and how
// many of the waiting rows the new ones replaced (coalesced).
type rowMerge struct {
	b         *rowBatch
	coalesced int
}

// after returns the batch a client that had waiting gets when b comes: the
// latest row of each twin of both, and how many rows of waiting b
// replaced. The merge is made once for every client with the same waiting
// batch; it runs on the hub's goroutine.
func (b *rowBatch) after(waiting *rowBatch) (*rowBatch, int) {
	if m, ok := b.merges[waiting]; ok {
		return m.b, m.coalesced
	}
	out := make([]rowEntry, 0, len(waiting.entries)+len(b.entries))
	n := 0
	old, now := waiting.entries, b.entries
	for len(old) > 0 && len(now) > 0 {
		switch c := strings.Compare(old[0].id, now[0].id); {
		case c < 0:
			out = append(out, old[0])
			old = old[1:]
		case c > 0:
			out = append(out, now[0])
			now = now[1:]
		default: // the newer row wins
			out = append(out, now[0])
			old, now = old[1:], now[1:]
			n++
		}
	}
	out = append(append(out, old...), now...)
	m := &rowBatch{entries: out}
	if b.merges == nil {
		b.merges = map[*rowBatch]rowMerge{}
	}
	b.merges[waiting] = rowMerge{b: m, coalesced: n}
	return m, n
}

// message returns the batch's "projects" message, encoded on the first
// call; the bytes are shared and must not be modified. Safe for concurrent
// use.
func (b *rowBatch) message() []byte {
	b.once.Do(func() { b.msg = b.encode() })
	return b.msg
}

// encode assembles the message by hand: the rows are encoded already, and
// json.Marshal would validate every byte of them again.
func (b *rowBatch) encode() []byte {
	size, rows, removed := len(`{"type":"projects","projects":[],"removed":[]}`), 0, 0
	for _, e := range b.entries {
		if e.row != nil {
			size += len(e.row) + 1
			rows++
		} else {
			size += len(e.id) + 3 // quoted (ids rarely need escapes), a comma
			removed++
		}
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	buf.WriteString(`{"type":"projects"`)
	if rows > 0 {
		buf.WriteString(`,"projects":[`)
		first := true
		for _, e := range b.entries {
			if e.row == nil {
				continue
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			buf.Write(e.row)
		}
		buf.WriteByte(']')
	}
	if removed > 0 {
		ids := make([]string, 0, removed)
		for _, e := range b.entries {
			if e.row == nil {
				ids = append(ids, e.id)
			}
		}
		buf.WriteString(`,"removed":`)
		buf.Write(mustJSON(ids))
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// rowKey names a client's selection of map rows: who it is (the rows it
// may see and in which form) and its topics (the city, or its districts).
// Clients with the same key are offered the same rows. "" when the client
// follows no map topic. It reads c.subs: call it on the hub's goroutine
// (which alone changes them) or with c.mu held.
func (c *client) rowKey() string {
	if !c.subs.city && len(c.subs.districts) == 0 {
		return ""
	}
	var b []byte
	field := func(s string) { // length-prefixed: no two keys run together alike
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	field(string(c.p.Role))
	if c.p.Role != RoleRegulator && c.p.Role != RolePublic { // they see every row, in full or public form
		field(c.p.Unit)
	}
	if c.subs.city { // the city holds every district
		field("city")
		return string(b)
	}
	field("districts")
	for _, d := range sortedKeys(c.subs.districts) {
		field(d)
	}
	return string(b)
}

// rowBatch returns the rows of changes that the client's selection sees,
// nil when there are none. It reads c.subs like rowKey.
func (h *hub) rowBatch(c *client, changes []change) *rowBatch {
	var entries []rowEntry
	for _, ch := range changes {
		var now, before json.RawMessage
		if c.wantsRow(ch.new) {
			now = h.rowFor(c.p, ch.new)
		}
		if c.wantsRow(ch.old) {
			before = h.rowFor(c.p, ch.old)
		}
		if now == nil && before == nil {
			continue
		}
		entries = append(entries, rowEntry{id: ch.id, row: now}) // nil: the client must forget it
	}
	if len(entries) == 0 {
		return nil
	}
	return &rowBatch{entries: entries}
}
