package twin

import (
	"encoding/json"
	"hash/fnv"
)

// Seen remembers which events a twin has applied, so that a second copy of
// an event (a producer retry, a replay) changes nothing.
//
// Keep holds, for the life of the twin, the ids of events that must never
// count twice (payments, registrations, plans, hazards, acceptances, change
// orders) and semantic keys such as a change order's id. Recent holds a
// 64-bit hash of the ids of frequent events (sensor readings, progress
// reports) with their event time, in arrival order, and forgets those older
// than the rule pack's dedup horizon behind the twin's clock.
type Seen struct {
	Keep   map[string]struct{} `json:"keep"`
	Recent []SeenID            `json:"recent"`

	index map[uint64]struct{}
}

// SeenID is a remembered event id hash with its event time (Unix ms).
type SeenID struct {
	H uint64 `json:"h"`
	T int64  `json:"t"`
}

// UnmarshalJSON restores the set and rebuilds its index.
func (s *Seen) UnmarshalJSON(b []byte) error {
	type plain Seen
	var v plain
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Seen(v)
	if s.Keep == nil {
		s.Keep = map[string]struct{}{}
	}
	s.index = nil
	return nil
}

func hashID(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

func (s *Seen) buildIndex() {
	if s.index != nil {
		return
	}
	s.index = make(map[uint64]struct{}, len(s.Recent))
	for _, r := range s.Recent {
		s.index[r.H] = struct{}{}
	}
}

// has reports whether the id (or key) was seen.
func (s *Seen) has(id string, recent bool) bool {
	if !recent {
		_, ok := s.Keep[id]
		return ok
	}
	s.buildIndex()
	_, ok := s.index[hashID(id)]
	return ok
}

// add remembers an id; recent ids carry their event time.
func (s *Seen) add(id string, recent bool, tms int64) {
	if !recent {
		s.Keep[id] = struct{}{}
		return
	}
	s.buildIndex()
	h := hashID(id)
	s.index[h] = struct{}{}
	s.Recent = append(s.Recent, SeenID{H: h, T: tms})
}

// forget drops recent ids from the front that are older than cutoff (Unix
// ms). Arrival order is nearly time order, so the front holds the oldest.
func (s *Seen) forget(cutoff int64) {
	n := 0
	for n < len(s.Recent) && s.Recent[n].T < cutoff {
		n++
	}
	if n == 0 {
		return
	}
	s.buildIndex()
	for _, r := range s.Recent[:n] {
		delete(s.index, r.H)
	}
	s.Recent = append(s.Recent[:0], s.Recent[n:]...)
}
