package streams

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"math/bits"
)

// A twin that changes at every checkpoint (a busy site: its sensors'
// latest buckets, latest readings and remembered ids move, the rest stays)
// is not written whole each time. The worker keeps the snapshot it last
// wrote whole (the twin's base, under the twin's key) and writes, under
// the key id+deltaSuffix, the changes from that base to the twin's
// snapshot now: the runs of bytes the base already holds, by position, and
// the bytes it does not. Each delta replaces the one before (it is taken
// from the base, not from the last delta), so a compacted changelog keeps
// one base and at most one delta per twin, and ReadChangelog puts them
// together again. When the delta grows past half the snapshot, the twin is
// written whole again and becomes the new base; its old delta is deleted
// in the same transaction.
//
// The runs are found by content-defined chunking: cut points are where a
// rolling hash of the last bytes meets a mask, so a change moves only the
// chunks around it and the chunks after it are cut as in the base even
// when bytes were inserted or removed before them (a series' oldest bucket
// dropped, a reading id added). Chunks are looked up by a 64-bit hash and
// compared byte for byte before they are copied; past a copied chunk the
// bytes are compared a word at a time as far as they agree with the base,
// and chunking resumes only where they part. A delta names its base by
// the base's CRC-32C and length, checked before it is applied.
//
// A worker keeps bases only for the twins changed at the last checkpoint,
// within maxBaseBytes; a twin not changed at a checkpoint gives its base
// back and is written whole when it changes again.

// deltaSuffix ends the changelog key of a twin's delta. '~' cannot occur
// in a project id (see partitionKey).
const deltaSuffix = "~delta"

// deltaMagic starts a delta record, followed by its version byte.
const (
	deltaMagic = "\x00std"
	deltaV1    = 1
)

// Chunk bounds: a chunk is cut at 12 to 512 bytes, about 44 on average
// (smaller chunks cut deltas further, at the cost of a larger index).
const (
	minChunk  = 12
	maxChunk  = 512
	chunkMask = 1<<5 - 1
)

// maxSnapshot bounds the snapshot a delta may rebuild (a bad delta cannot
// make a restore allocate more).
const maxSnapshot = 256 << 20

// errBadDelta is wrapped when a delta does not apply to its base.
var errBadDelta = errors.New("bad twin snapshot delta")

// gear is the table of the rolling hash: a fixed pseudo-random word per
// byte value (splitmix64 from a fixed seed), so that cut points are the
// same in every process.
var gear = func() (t [256]uint64) {
	x := uint64(0x5173_7477_696e_0001)
	for i := range t {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
		z = (z ^ z>>27) * 0x94d049bb133111eb
		t[i] = z ^ z>>31
	}
	return t
}()

// chunker cuts bytes into chunks. The rolling hash runs over every byte,
// never reset at a cut, so it depends only on the last 64 bytes: after a
// change the cuts fall where the base's did again within a chunk or two.
type chunker struct {
	b   []byte
	off int
	h   uint64
}

// next returns the next chunk's bounds, ok false at the end.
func (c *chunker) next() (start, end int, ok bool) {
	start = c.off
	if start >= len(c.b) {
		return start, start, false
	}
	b := c.b[start:min(len(c.b), start+maxChunk)]
	h := c.h
	end = start + len(b)
	for i, x := range b {
		h = h<<1 + gear[x]
		if i+1 >= minChunk && h&chunkMask == 0 {
			end = start + i + 1
			break
		}
	}
	c.h, c.off = h, end
	return start, end, true
}

// seek makes the next chunk start at off, with the rolling hash of the 64
// bytes before it (all it depends on), so that the cuts after it fall
// where a chunker that ran over every byte would have put them, within a
// chunk or two.
func (c *chunker) seek(off int) {
	var h uint64
	for _, x := range c.b[max(0, off-64):off] {
		h = h<<1 + gear[x]
	}
	c.h, c.off = h, off
}

// matchLen returns how many bytes a and b share from their start.
func matchLen(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for ; i < n && a[i] == b[i]; i++ {
	}
	return i
}

// minExtend is the shortest run of equal bytes past a copied chunk that a
// delta copies at once, comparing words, instead of chunk by chunk: seeking
// the chunker past it costs 64 steps of the rolling hash.
const minExtend = 128

// chunkSeed seeds the hash of chunks; it is the process's own (the hashes
// never leave it).
var chunkSeed = maphash.MakeSeed()

// chunkHash is the hash a base indexes a chunk by.
func chunkHash(c []byte) uint64 { return maphash.Bytes(chunkSeed, c) }

// baseSum is what a delta names its base by: the base's CRC-32C and its
// length, the same in every process.
func baseSum(b []byte) uint64 {
	return uint64(crc32.Checksum(b, castagnoli)) | uint64(len(b))<<32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// deltaBase is a twin's base: the snapshot last written whole, its sum
// (which a delta names), and its chunks by hash.
type deltaBase struct {
	b      []byte
	sum    uint64
	chunks map[uint64]int32 // chunk hash → 1 + the chunk's offset in b (the first chunk of that hash)
}

func newDeltaBase(b []byte) *deltaBase {
	d := &deltaBase{b: b, sum: baseSum(b), chunks: make(map[uint64]int32, len(b)/64)}
	for c := (chunker{b: b}); ; {
		off, end, ok := c.next()
		if !ok {
			break
		}
		if h := chunkHash(b[off:end]); d.chunks[h] == 0 {
			d.chunks[h] = int32(off) + 1
		}
	}
	return d
}

// size is about what the base holds in memory.
func (d *deltaBase) size() int { return len(d.b) + len(d.chunks)*24 }

// appendDelta appends the delta from the base to cur: the magic, version,
// the base's hash and cur's length, then operations, each a uvarint of
// length<<1|copy: a copy is followed by the uvarint offset in the base of
// the bytes, a literal by the bytes.
func (d *deltaBase) appendDelta(out, cur []byte) []byte {
	out = append(out, deltaMagic...)
	out = append(out, deltaV1)
	out = binary.LittleEndian.AppendUint64(out, d.sum)
	out = binary.AppendUvarint(out, uint64(len(cur)))
	lit := 0           // start of the literal bytes not written yet
	cpOff, cpN := 0, 0 // a copy not written yet (merged with the next when contiguous)
	flushCopy := func() {
		if cpN > 0 {
			out = binary.AppendUvarint(out, uint64(cpN)<<1|1)
			out = binary.AppendUvarint(out, uint64(cpOff))
			cpN = 0
		}
	}
	for ch := (chunker{b: cur}); ; {
		off, end, more := ch.next()
		if !more {
			break
		}
		n := end - off
		c := cur[off:end]
		at := -1
		if next := cpOff + cpN; cpN > 0 && lit == off && next+n <= len(d.b) && bytes.Equal(d.b[next:next+n], c) {
			at = next // the run of the base goes on (also where a chunk repeats)
		} else if i := int(d.chunks[chunkHash(c)]) - 1; i >= 0 && i+n <= len(d.b) && bytes.Equal(d.b[i:i+n], c) {
			at = i
		}
		if at >= 0 {
			if lit < off {
				flushCopy()
				out = binary.AppendUvarint(out, uint64(off-lit)<<1)
				out = append(out, cur[lit:off]...)
			}
			if cpN > 0 && cpOff+cpN == at {
				cpN += n
			} else {
				flushCopy()
				cpOff, cpN = at, n
			}
			lit = off + n
			// Most of a snapshot is as in the base: past a copied chunk,
			// the bytes are compared a word at a time as far as they
			// agree, and chunking resumes where they part.
			if k := matchLen(d.b[at+n:], cur[lit:]); k >= minExtend {
				cpN += k
				lit += k
				ch.seek(lit)
			}
		}
	}
	if lit < len(cur) {
		flushCopy()
		out = binary.AppendUvarint(out, uint64(len(cur)-lit)<<1)
		out = append(out, cur[lit:]...)
	}
	flushCopy()
	return out
}

// applyDelta rebuilds a snapshot from its base and a delta, checking that
// the delta was taken from this base and that it rebuilds exactly the
// length it names.
func applyDelta(base, delta []byte) ([]byte, error) {
	if !bytes.HasPrefix(delta, []byte(deltaMagic)) || len(delta) < len(deltaMagic)+1+8 {
		return nil, fmt.Errorf("%w: not a delta", errBadDelta)
	}
	delta = delta[len(deltaMagic):]
	if delta[0] != deltaV1 {
		return nil, fmt.Errorf("%w: version %d (this build reads %d)", errBadDelta, delta[0], deltaV1)
	}
	if sum := binary.LittleEndian.Uint64(delta[1:]); sum != baseSum(base) {
		return nil, fmt.Errorf("%w: taken from another base", errBadDelta)
	}
	delta = delta[9:]
	size, k := binary.Uvarint(delta)
	if k <= 0 || size > maxSnapshot {
		return nil, fmt.Errorf("%w: bad length", errBadDelta)
	}
	delta = delta[k:]
	out := make([]byte, 0, size)
	for len(delta) > 0 {
		op, k := binary.Uvarint(delta)
		if k <= 0 {
			return nil, fmt.Errorf("%w: bad operation", errBadDelta)
		}
		delta = delta[k:]
		n := op >> 1
		if n == 0 || n > size-uint64(len(out)) {
			return nil, fmt.Errorf("%w: an operation past the length", errBadDelta)
		}
		if op&1 == 0 {
			if n > uint64(len(delta)) {
				return nil, fmt.Errorf("%w: literal cut short", errBadDelta)
			}
			out = append(out, delta[:n]...)
			delta = delta[n:]
			continue
		}
		at, k := binary.Uvarint(delta)
		if k <= 0 || at > uint64(len(base)) || n > uint64(len(base))-at {
			return nil, fmt.Errorf("%w: a copy outside the base", errBadDelta)
		}
		delta = delta[k:]
		out = append(out, base[at:at+n]...)
	}
	if uint64(len(out)) != size {
		return nil, fmt.Errorf("%w: rebuilt %d bytes of %d", errBadDelta, len(out), size)
	}
	return out, nil
}
