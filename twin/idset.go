package twin

import "math/bits"

// idSet is a set of 64-bit id hashes, about a third of the memory of a
// map[uint64]struct{}: open addressing with linear probing in a
// power-of-two table kept between an eighth and three quarters full,
// deletion by shifting the rest of a run back (no tombstones). Slot value
// 0 marks an empty slot, so hash 0 is kept aside. The zero value is empty.
type idSet struct {
	slots []uint64
	n     int   // members in slots
	shift uint8 // 64 - log2(len(slots))
	zero  bool  // whether hash 0 is a member
}

const minIDSlots = 8

// home is the slot a hash probes first (Fibonacci hashing: the top bits of
// h times 2^64/φ, which spreads hashes that differ only in low bits).
func (s *idSet) home(h uint64) int { return int((h * 0x9e3779b97f4a7c15) >> s.shift) }

func (s *idSet) len() int {
	if s.zero {
		return s.n + 1
	}
	return s.n
}

func (s *idSet) has(h uint64) bool {
	if h == 0 {
		return s.zero
	}
	if s.n == 0 {
		return false
	}
	mask := len(s.slots) - 1
	for i := s.home(h); ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return true
		case 0:
			return false
		}
	}
}

func (s *idSet) add(h uint64) {
	if h == 0 {
		s.zero = true
		return
	}
	if (s.n+1)*4 > len(s.slots)*3 {
		s.rehash(max(minIDSlots, 2*len(s.slots)))
	}
	mask := len(s.slots) - 1
	for i := s.home(h); ; i = (i + 1) & mask {
		switch s.slots[i] {
		case h:
			return
		case 0:
			s.slots[i] = h
			s.n++
			return
		}
	}
}

func (s *idSet) remove(h uint64) {
	if h == 0 {
		s.zero = false
		return
	}
	if s.n == 0 {
		return
	}
	mask := len(s.slots) - 1
	i := s.home(h)
	for s.slots[i] != h {
		if s.slots[i] == 0 {
			return
		}
		i = (i + 1) & mask
	}
	// Shift back the members after i in its run that may move there: those
	// whose home is not cyclically within (i, j].
	for j := (i + 1) & mask; s.slots[j] != 0; j = (j + 1) & mask {
		k := s.home(s.slots[j])
		if (j-k)&mask >= (j-i)&mask {
			s.slots[i] = s.slots[j]
			i = j
		}
	}
	s.slots[i] = 0
	s.n--
	if len(s.slots) > minIDSlots && s.n*8 < len(s.slots) {
		s.rehash(len(s.slots) / 2)
	}
}

// rehash moves the members to a table of size slots (a power of two).
func (s *idSet) rehash(size int) {
	old := s.slots
	s.slots = make([]uint64, size)
	s.shift = uint8(64 - bits.TrailingZeros(uint(size)))
	s.n = 0
	mask := size - 1
	for _, h := range old {
		if h == 0 {
			continue
		}
		i := s.home(h)
		for s.slots[i] != 0 {
			i = (i + 1) & mask
		}
		s.slots[i] = h
		s.n++
	}
}

// reset empties the set, keeping a table for n members.
func (s *idSet) reset(n int) {
	size := minIDSlots
	for size*3 < n*4 {
		size *= 2
	}
	*s = idSet{}
	s.rehash(size)
}
