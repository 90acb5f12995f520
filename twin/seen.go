package twin

import (
	"encoding/json"
)

// Seen remembers which events a twin has applied, so that a second copy of
// an event (a producer retry, a replay) changes nothing.
//
// Keep holds, for the life of the twin, the ids of events that must never
// count twice (payments, registrations, plans, hazards, acceptances, change
// orders) and semantic keys such as a change order's id. The ids of
// frequent events are kept as 64-bit hashes with their event time, in
// arrival order, for the rule pack's dedup horizon: Recent holds progress
// reports, forgotten by the twin's clock; Sites holds sensor readings per
// site, forgotten by that site's clock, which is the clock a reading's
// expiry is measured by (a site whose gateway lags behind the others keeps
// its readings' ids as long as their retries could still be applied).
type Seen struct {
	Keep   map[string]struct{} `json:"keep"`
	Recent SeenIDs             `json:"recent"`
	Sites  map[string]SeenIDs  `json:"sites,omitempty"`

	// index holds the hashes of Recent and Sites once indexed is set (it
	// is built on first use, not restored).
	index   idSet
	indexed bool
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
	s.index, s.indexed = idSet{}, false
	return nil
}

// hashID is the 64-bit FNV-1a hash of an id (the same value hash/fnv's
// New64a gives, which snapshots hold), computed without allocating.
func hashID(id string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= prime64
	}
	return h
}

func (s *Seen) buildIndex() {
	if s.indexed {
		return
	}
	n := s.Recent.Len()
	for _, ids := range s.Sites {
		n += ids.Len()
	}
	s.index.reset(n)
	for r := range s.Recent.All() {
		s.index.add(r.H)
	}
	for _, ids := range s.Sites {
		for r := range ids.All() {
			s.index.add(r.H)
		}
	}
	s.indexed = true
}

// has reports whether the id (or key) was seen.
func (s *Seen) has(id string, recent bool) bool {
	if !recent {
		_, ok := s.Keep[id]
		return ok
	}
	s.buildIndex()
	return s.index.has(hashID(id))
}

// add remembers an id; recent ids carry their event time, and the site of a
// sensor reading ("" for the twin's own list).
func (s *Seen) add(id string, recent bool, site string, tms int64) {
	if !recent {
		s.Keep[id] = struct{}{}
		return
	}
	s.buildIndex()
	h := hashID(id)
	s.index.add(h)
	if site == "" {
		s.Recent.push(SeenID{H: h, T: tms})
		return
	}
	if s.Sites == nil {
		s.Sites = map[string]SeenIDs{}
	}
	ids := s.Sites[site]
	ids.push(SeenID{H: h, T: tms})
	s.Sites[site] = ids
}

// forget drops recent ids of a site ("" for the twin's own list) from the
// front that are older than cutoff (Unix ms). Arrival order is nearly time
// order, so the front holds the oldest.
func (s *Seen) forget(site string, cutoff int64) {
	ids := s.Recent
	if site != "" {
		ids = s.Sites[site]
	}
	n := 0
	for n < ids.Len() && ids.At(n).T < cutoff {
		n++
	}
	if n == 0 {
		return
	}
	s.buildIndex()
	for i := range n {
		s.index.remove(ids.At(i).H)
	}
	ids.drop(n)
	if site == "" {
		s.Recent = ids
	} else if ids.Len() == 0 {
		delete(s.Sites, site)
	} else {
		s.Sites[site] = ids
	}
}
