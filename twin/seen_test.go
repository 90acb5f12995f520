package twin

import (
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestHashIDIsFNV1a guards the ids snapshots hold: hashID must stay the
// FNV-1a hash of hash/fnv.
func TestHashIDIsFNV1a(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	ids := []string{"", "a", "gw-0142-dust-01-20260612T0318", "µg/m³"}
	for range 1000 {
		b := make([]byte, rng.IntN(80))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		ids = append(ids, string(b))
	}
	for _, id := range ids {
		h := fnv.New64a()
		h.Write([]byte(id))
		if got, want := hashID(id), h.Sum64(); got != want {
			t.Fatalf("hashID(%q) = %x, hash/fnv %x", id, got, want)
		}
	}
}

// TestIDSetMatchesMap runs seeded adds, removes and lookups on an idSet
// and on a map[uint64]struct{}: hashes drawn from a small pool (so that
// they come back), 0, and hashes that share their home slot.
func TestIDSetMatchesMap(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var s idSet
		ref := map[uint64]struct{}{}
		pool := make([]uint64, 1+rng.IntN(2000))
		for i := range pool {
			switch rng.IntN(10) {
			case 0:
				pool[i] = 0
			case 1: // the same top bits as another: the same home slot
				pool[i] = pool[rng.IntN(i+1)] ^ uint64(1+rng.IntN(1000))
			default:
				pool[i] = rng.Uint64()
			}
		}
		for op := range 20000 {
			h := pool[rng.IntN(len(pool))]
			switch r := rng.IntN(10); {
			case r < 5:
				s.add(h)
				ref[h] = struct{}{}
			case r < 8:
				s.remove(h)
				delete(ref, h)
			default:
				if _, want := ref[h]; s.has(h) != want {
					t.Fatalf("seed %d op %d: has(%x) = %v", seed, op, h, !want)
				}
			}
			if s.len() != len(ref) {
				t.Fatalf("seed %d op %d: %d members, map %d", seed, op, s.len(), len(ref))
			}
			if n := len(s.slots); n > minIDSlots && (s.n*8 < n || s.n*4 > n*3) {
				t.Fatalf("seed %d op %d: %d members in %d slots", seed, op, s.n, n)
			}
		}
		for h := range ref {
			if !s.has(h) {
				t.Fatalf("seed %d: lost %x", seed, h)
			}
		}
	}
}

// legacySeen is Seen as it was with a map index and lists compacted by
// copying at every forget: the model Seen must agree with.
type legacySeen struct {
	Recent []SeenID
	Sites  map[string][]SeenID
	index  map[uint64]struct{}
}

func (s *legacySeen) has(id string) bool { _, ok := s.index[hashID(id)]; return ok }

func (s *legacySeen) add(id, site string, tms int64) {
	h := hashID(id)
	s.index[h] = struct{}{}
	if site == "" {
		s.Recent = append(s.Recent, SeenID{H: h, T: tms})
		return
	}
	if s.Sites == nil {
		s.Sites = map[string][]SeenID{}
	}
	s.Sites[site] = append(s.Sites[site], SeenID{H: h, T: tms})
}

func (s *legacySeen) forget(site string, cutoff int64) {
	ids := s.Recent
	if site != "" {
		ids = s.Sites[site]
	}
	n := 0
	for n < len(ids) && ids[n].T < cutoff {
		n++
	}
	if n == 0 {
		return
	}
	for _, r := range ids[:n] {
		delete(s.index, r.H)
	}
	ids = append(ids[:0], ids[n:]...)
	if site == "" {
		s.Recent = ids
	} else if len(ids) == 0 {
		delete(s.Sites, site)
	} else {
		s.Sites[site] = ids
	}
}

// TestSeenMatchesLegacy remembers and forgets seeded ids at three sites and
// the twin's own list, some ids coming back, through snapshots and
// restores, and checks every lookup and every snapshot against the
// map-indexed Seen it replaced; a list's ring is never more than twice
// what it holds, and a few.
func TestSeenMatchesLegacy(t *testing.T) {
	sites := []string{"", "S1", "S2", "S3"}
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 11))
		s := &Seen{Keep: map[string]struct{}{}}
		ref := &legacySeen{index: map[uint64]struct{}{}}
		clock := map[string]int64{}
		for op := range 20000 {
			site := sites[rng.IntN(len(sites))]
			id := "id-" + strconv.Itoa(rng.IntN(op+1)) // often one seen before
			got, want := s.has(id, true), ref.has(id)
			if got != want {
				t.Fatalf("seed %d op %d: has(%s) = %v, legacy %v", seed, op, id, got, want)
			}
			clock[site] += int64(rng.IntN(3000))
			tms := clock[site] - int64(rng.IntN(2000)) // nearly in time order
			// As Apply: a duplicate is not remembered again.
			if !got {
				s.add(id, true, site, tms)
				ref.add(id, site, tms)
			}
			if rng.IntN(3) == 0 {
				cutoff := clock[site] - 600_000
				s.forget(site, cutoff)
				ref.forget(site, cutoff)
			}
			for _, ids := range s.Sites {
				if len(ids.buf) > 2*ids.n+8 {
					t.Fatalf("seed %d op %d: %d ids in room for %d", seed, op, ids.n, len(ids.buf))
				}
			}
			if op%500 == 0 {
				got, _ := json.Marshal(s)
				legacy := &Seen{Keep: map[string]struct{}{}, Recent: seenIDsOf(ref.Recent...)}
				for site, ids := range ref.Sites {
					if legacy.Sites == nil {
						legacy.Sites = map[string]SeenIDs{}
					}
					legacy.Sites[site] = seenIDsOf(ids...)
				}
				want, _ := json.Marshal(legacy)
				if string(got) != string(want) {
					t.Fatalf("seed %d op %d: snapshot\n%s\nlegacy\n%s", seed, op, got, want)
				}
				s = &Seen{}
				if err := json.Unmarshal(got, s); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}
