package twin

import "iter"

// SeenIDs is a list of remembered id hashes with their event times, in
// arrival order. It is a ring: ids are forgotten from the front and
// remembered at the back without moving the others, and its array grows
// by an eighth when full and is given back when it is less than half used.
// The zero value is empty.
type SeenIDs struct {
	buf  []SeenID
	head int // index in buf of the first id
	n    int
}

// seenIDsOf returns a list of the ids, in order.
func seenIDsOf(ids ...SeenID) SeenIDs {
	l := SeenIDs{buf: make([]SeenID, len(ids)), n: len(ids)}
	copy(l.buf, ids)
	return l
}

// Len returns the number of ids.
func (l *SeenIDs) Len() int { return l.n }

// At returns id i, the first (oldest) being 0.
func (l *SeenIDs) At(i int) SeenID {
	j := l.head + i
	if j >= len(l.buf) {
		j -= len(l.buf)
	}
	return l.buf[j]
}

// All yields the ids in order.
func (l *SeenIDs) All() iter.Seq[SeenID] {
	return func(yield func(SeenID) bool) {
		for i := range l.n {
			if !yield(l.At(i)) {
				return
			}
		}
	}
}

// push remembers an id at the back.
func (l *SeenIDs) push(id SeenID) {
	if l.n == len(l.buf) {
		l.resize(l.n + l.n/8 + 4)
	}
	j := l.head + l.n
	if j >= len(l.buf) {
		j -= len(l.buf)
	}
	l.buf[j] = id
	l.n++
}

// drop forgets the first k ids.
func (l *SeenIDs) drop(k int) {
	l.head += k
	if l.head >= len(l.buf) {
		l.head -= len(l.buf)
	}
	l.n -= k
	if l.n == 0 {
		l.head = 0
	}
	if len(l.buf) > 2*l.n+8 {
		l.resize(l.n + l.n/8 + 4)
	}
}

// resize moves the ids, in order, to an array of size c (at least n).
func (l *SeenIDs) resize(c int) {
	buf := make([]SeenID, c)
	k := copy(buf, l.buf[l.head:min(l.head+l.n, len(l.buf))])
	copy(buf[k:], l.buf[:l.n-k])
	l.buf, l.head = buf, 0
}
