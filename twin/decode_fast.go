package twin

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// The fast path of Decode. encoding/json spends most of a decode on
// reflection and on a general scanner; the events a gateway sends are the
// same few shapes. decodeFast reads the common shape directly: an object of
// the envelope's own attributes in lower case, each once, with strings
// free of escapes, and for a sensor reading a data object of its own four
// fields. Anything else — an unknown or extension attribute, a key in
// another case, a repeated key, an escape, a null, invalid UTF-8, a
// malformed value, an event that fails validation — makes it give up, and
// Decode runs encoding/json on the bytes as before, so every error and
// every unusual but valid event gets exactly the old treatment. A fuzz test
// (FuzzDecodeFast) checks that whatever the fast path accepts, the
// encoding/json path decodes to the same event.

// scanner reads JSON from a byte slice; ok turns false at the first thing
// it does not handle, and every read after that is a no-op.
type scanner struct {
	b  []byte
	i  int
	ok bool
}

func (s *scanner) fail() { s.ok = false }

// space skips JSON whitespace.
func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// expect consumes c after optional whitespace.
func (s *scanner) expect(c byte) {
	if !s.ok {
		return
	}
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != c {
		s.fail()
		return
	}
	s.i++
}

// peek returns the next byte after whitespace, or 0 at the end.
func (s *scanner) peek() byte {
	s.space()
	if !s.ok || s.i >= len(s.b) {
		return 0
	}
	return s.b[s.i]
}

// str reads a string without escapes and returns its bytes (a sub-slice of
// the input).
func (s *scanner) str() []byte {
	s.expect('"')
	if !s.ok {
		return nil
	}
	start := s.i
	ascii := true
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			if !ascii && !utf8.Valid(v) {
				s.fail() // encoding/json would replace the bad bytes
				return nil
			}
			return v
		case c == '\\' || c < 0x20:
			s.fail()
			return nil
		case c >= utf8.RuneSelf:
			ascii = false
		}
		s.i++
	}
	s.fail()
	return nil
}

// number reads a JSON number and parses it as encoding/json does
// (strconv.ParseFloat of its text).
func (s *scanner) number() float64 {
	if !s.ok {
		return 0
	}
	s.space()
	start := s.i
	if s.i < len(s.b) && s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		s.fail()
		return 0
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			s.fail()
			return 0
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			s.fail()
			return 0
		}
	}
	x, err := strconv.ParseFloat(string(s.b[start:s.i]), 64)
	if err != nil {
		s.fail() // out of range: encoding/json reports a type error
		return 0
	}
	return x
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// object returns the bytes of an object value, from '{' to its '}',
// without checking what lies between beyond strings and nesting: what
// reads them next checks them.
func (s *scanner) object() []byte {
	s.space()
	if !s.ok || s.i >= len(s.b) || s.b[s.i] != '{' {
		s.fail()
		return nil
	}
	start, depth := s.i, 0
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '"':
			s.i++
			for s.i < len(s.b) && s.b[s.i] != '"' {
				if s.b[s.i] == '\\' {
					s.i++
				}
				s.i++
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.i++
				return s.b[start:s.i]
			}
		}
		s.i++
	}
	s.fail()
	return nil
}

// members calls f with each key of an object, positioned at its value; f
// must read the value. Keys must be distinct (the caller checks with seen).
func (s *scanner) members(f func(key []byte)) {
	s.expect('{')
	if s.peek() == '}' {
		s.i++
		return
	}
	for s.ok {
		key := s.str()
		s.expect(':')
		if !s.ok {
			return
		}
		f(key)
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return
		default:
			s.fail()
		}
	}
}

// once marks bit in *seen, failing when it was already set (a repeated key,
// which encoding/json resolves as the last one wins).
func (s *scanner) once(seen *uint16, bit uint16) {
	if *seen&bit != 0 {
		s.fail()
	}
	*seen |= bit
}

// decodeFast decodes the common shape of an event (see above), or reports
// false for Decode to take the general path.
func decodeFast(b []byte) (*Event, bool) {
	s := scanner{b: b, ok: true}
	var env envelope
	var seen uint16
	s.members(func(key []byte) {
		var dst *string
		var bit uint16
		switch string(key) {
		case "specversion":
			dst, bit = &env.SpecVersion, 1<<0
		case "id":
			dst, bit = &env.ID, 1<<1
		case "type":
			dst, bit = &env.Type, 1<<2
		case "source":
			dst, bit = &env.Source, 1<<3
		case "time":
			dst, bit = &env.Time, 1<<4
		case "datacontenttype":
			dst, bit = &env.DataContentType, 1<<5
		case "project":
			dst, bit = &env.Project, 1<<6
		case "site":
			dst, bit = &env.Site, 1<<7
		case "drill":
			dst, bit = &env.Drill, 1<<8
		case "data":
			s.once(&seen, 1<<9)
			env.Data = s.object()
			return
		default:
			s.fail()
			return
		}
		s.once(&seen, bit)
		*dst = intern(s.str())
	})
	s.space()
	if !s.ok || s.i != len(b) {
		return nil, false
	}
	e, err := fromEnvelopeWith(&env, decodeDataFast)
	if err != nil {
		return nil, false
	}
	return e, true
}

// interned holds the strings that recur in nearly every event (the spec
// version, the content type, event types, sensor kinds and units), so that
// decoding one does not allocate a copy.
var interned = func() map[string]string {
	m := map[string]string{SpecVersion: SpecVersion, "application/json": "application/json"}
	for t := range types {
		m[t] = t
	}
	for k, spec := range sensorKinds {
		m[k] = k
		for _, u := range spec.units {
			m[u.unit] = u.unit
		}
	}
	return m
}()

// intern returns b as a string, shared when it is one of the interned.
func intern(b []byte) string {
	if s, ok := interned[string(b)]; ok {
		return s
	}
	return string(b)
}

// decodeDataFast reads a sensor reading's data itself and any other data
// with encoding/json; errFast makes Decode take the general path.
func decodeDataFast(info typeInfo, raw []byte) (Data, error) {
	if info.stream != StreamSensor {
		d := info.newData()
		if err := json.Unmarshal(raw, d); err != nil {
			return nil, errFast
		}
		return d, nil
	}
	s := scanner{b: raw, ok: true}
	d := new(SensorReading)
	var seen uint16
	s.members(func(key []byte) {
		switch string(key) {
		case "kind":
			s.once(&seen, 1<<0)
			d.Kind = intern(s.str())
		case "value":
			s.once(&seen, 1<<1)
			d.Value = s.number()
		case "unit":
			s.once(&seen, 1<<2)
			d.Unit = intern(s.str())
		case "equipment":
			s.once(&seen, 1<<3)
			d.Equipment = string(s.str())
		default:
			s.fail()
		}
	})
	if !s.ok || s.i != len(raw) {
		return nil, errFast
	}
	return d, nil
}
