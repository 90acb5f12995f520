package twin

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// The sensor buckets and the remembered reading ids are most of a twin's
// snapshot; they are written as base64 strings of a compact binary form
// instead of JSON arrays (about a sixth of the size, and faster to read
// back). The forms carry a version byte; both decode exactly to what was
// encoded, so a restored twin computes exactly what the original would.

const codecV1 = 1

var errCodec = errors.New("bad compact encoding")

const (
	bucketSingle = 1 << iota // one reading: all values equal, E is its energy
	bucketEnergy             // E is kept (decibel kinds)
)

// MarshalText writes the buckets in their compact form, base64 text (a
// JSON string in a snapshot).
func (bs Buckets) MarshalText() ([]byte, error) {
	var buf [2048]byte
	return base64Text(bs.appendCompact(append(buf[:0], codecV1))), nil
}

// appendCompact appends the count and the buckets in the compact form.
func (bs *Buckets) appendCompact(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(bs.s)))
	var prev int64
	for i := range bs.s {
		k := &bs.s[i]
		e := bs.energyAt(i)
		var flags byte
		if e != 0 {
			flags |= bucketEnergy
		}
		single := k.n == 1 && k.sum == k.min && k.min == k.max && k.max == k.fv && k.fv == k.lv && k.ft == k.lt &&
			(e == 0 || e == energy(k.sum))
		if single {
			flags |= bucketSingle
		}
		b = append(b, flags)
		b = binary.AppendVarint(b, k.start-prev)
		prev = k.start
		b = binary.AppendVarint(b, int64(k.ft))
		if single {
			b = appendFloat(b, k.sum)
			continue
		}
		b = binary.AppendUvarint(b, uint64(k.n))
		b = binary.AppendVarint(b, int64(k.lt)-int64(k.ft))
		b = appendFloat(b, k.sum)
		if flags&bucketEnergy != 0 {
			b = appendFloat(b, e)
		}
		b = appendFloat(b, k.min)
		b = appendFloat(b, k.max)
		b = appendFloat(b, k.fv)
		b = appendFloat(b, k.lv)
	}
	return b
}

// base64Text returns the base64 text of a compact form.
func base64Text(b []byte) []byte {
	out := make([]byte, base64.RawStdEncoding.EncodedLen(len(b)))
	base64.RawStdEncoding.Encode(out, b)
	return out
}

// UnmarshalJSON reads the compact form. It refuses buckets out of start
// order and readings outside their bucket, which a series never holds.
func (bs *Buckets) UnmarshalJSON(data []byte) error {
	var buf [2048]byte
	d, ok, err := compactBytes(data, buf[:])
	if err != nil || !ok {
		*bs = Buckets{}
		return err
	}
	return bs.readCompact(&d)
}

// readCompact reads the count and the buckets of the compact form, which
// must take all of d.
func (bs *Buckets) readCompact(d *decoder) error {
	n, err := d.uvarint()
	if err != nil || n > uint64(len(d.b)) {
		return fmt.Errorf("buckets: %w", errCodec)
	}
	out := Buckets{s: make([]slot, 0, n)}
	var prev int64
	for i := range int(n) {
		flags, err := d.byte()
		if err != nil {
			return err
		}
		delta, err1 := d.varint()
		ft, err2 := d.varint()
		if err := errors.Join(err1, err2); err != nil {
			return err
		}
		start := prev + delta
		if i > 0 && start <= prev || ft < 0 || ft > maxOffset {
			return fmt.Errorf("buckets: bucket %d out of order or a reading outside it: %w", i, errCodec)
		}
		prev = start
		k := slot{start: start, ft: uint32(ft)}
		var e float64
		if flags&bucketSingle != 0 {
			v, err := d.float()
			if err != nil {
				return err
			}
			k.n, k.sum, k.min, k.max, k.fv, k.lv, k.lt = 1, v, v, v, v, v, k.ft
			if flags&bucketEnergy != 0 {
				e = energy(v)
			}
		} else {
			cnt, err1 := d.uvarint()
			span, err2 := d.varint()
			if err := errors.Join(err1, err2); err != nil {
				return err
			}
			if span < -ft || span > maxOffset-ft {
				return fmt.Errorf("buckets: bucket %d: a reading outside it: %w", i, errCodec)
			}
			k.lt = uint32(ft + span)
			k.n = int64(cnt)
			fs := [6]*float64{&k.sum, &e, &k.min, &k.max, &k.fv, &k.lv}
			for j, f := range fs {
				if j == 1 && flags&bucketEnergy == 0 {
					continue
				}
				if *f, err = d.float(); err != nil {
					return err
				}
			}
		}
		if e != 0 && out.e == nil {
			out.e = make([]float64, i, n)
		}
		out.s = append(out.s, k)
		if out.e != nil {
			out.e = append(out.e, e)
		}
	}
	if len(d.b) != 0 {
		return fmt.Errorf("buckets: %d bytes left over: %w", len(d.b), errCodec)
	}
	*bs = out
	return nil
}

// MarshalText writes the ids in their compact form, base64 text (a JSON
// string in a snapshot).
func (ids SeenIDs) MarshalText() ([]byte, error) {
	var buf [4096]byte
	return base64Text(ids.appendCompact(append(buf[:0], codecV1))), nil
}

// appendCompact appends the count and the ids in the compact form.
func (ids *SeenIDs) appendCompact(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(ids.n))
	var prev int64
	for i := range ids.n {
		id := ids.At(i)
		b = binary.LittleEndian.AppendUint64(b, id.H)
		b = binary.AppendVarint(b, id.T-prev)
		prev = id.T
	}
	return b
}

// UnmarshalJSON reads the compact form.
func (ids *SeenIDs) UnmarshalJSON(data []byte) error {
	var buf [4096]byte
	d, ok, err := compactBytes(data, buf[:])
	if err != nil || !ok {
		*ids = SeenIDs{}
		return err
	}
	out, err := readSeenIDs(&d)
	if err != nil {
		return err
	}
	*ids = out
	return nil
}

// readSeenIDs reads the count and the ids of the compact form, which must
// take all of d.
func readSeenIDs(d *decoder) (SeenIDs, error) {
	n, err := d.uvarint()
	if err != nil || n > uint64(len(d.b)) {
		return SeenIDs{}, fmt.Errorf("seen ids: %w", errCodec)
	}
	out := make([]SeenID, 0, n)
	var prev int64
	for range n {
		if len(d.b) < 8 {
			return SeenIDs{}, fmt.Errorf("seen ids: %w", errCodec)
		}
		h := binary.LittleEndian.Uint64(d.b)
		d.b = d.b[8:]
		delta, err := d.varint()
		if err != nil {
			return SeenIDs{}, err
		}
		prev += delta
		out = append(out, SeenID{H: h, T: prev})
	}
	if len(d.b) != 0 {
		return SeenIDs{}, fmt.Errorf("seen ids: %d bytes left over: %w", len(d.b), errCodec)
	}
	return SeenIDs{buf: out, n: len(out)}, nil
}

// decoder reads a compact form.
type decoder struct{ b []byte }

// compactBytes decodes the JSON string of a compact form, into buf when it
// fits, and checks its version; null gives ok false.
func compactBytes(data, buf []byte) (d decoder, ok bool, err error) {
	if string(data) == "null" {
		return decoder{}, false, nil
	}
	var text []byte
	if n := len(data); n >= 2 && data[0] == '"' && data[n-1] == '"' && bytes.IndexByte(data[1:n-1], '\\') < 0 {
		text = data[1 : n-1] // a JSON string without escapes is its own text
	} else {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return decoder{}, false, fmt.Errorf("compact form must be a base64 string: %w", err)
		}
		text = []byte(s)
	}
	enc := base64.RawStdEncoding
	if m := enc.DecodedLen(len(text)); m > len(buf) {
		buf = make([]byte, m)
	}
	n, err := enc.Decode(buf, text)
	if err != nil {
		return decoder{}, false, fmt.Errorf("compact form: %w", err)
	}
	b := buf[:n]
	if len(b) == 0 || b[0] != codecV1 {
		return decoder{}, false, fmt.Errorf("compact form: unknown version: %w", errCodec)
	}
	return decoder{b: b[1:]}, true, nil
}

func (d *decoder) byte() (byte, error) {
	if len(d.b) == 0 {
		return 0, errCodec
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c, nil
}

func (d *decoder) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		return 0, errCodec
	}
	d.b = d.b[n:]
	return v, nil
}

func (d *decoder) varint() (int64, error) {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		return 0, errCodec
	}
	d.b = d.b[n:]
	return v, nil
}

func (d *decoder) float() (float64, error) {
	if len(d.b) < 8 {
		return 0, errCodec
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v, nil
}

func appendFloat(b []byte, f float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
}
