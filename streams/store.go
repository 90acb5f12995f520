package streams

import (
	"slices"
	"sync"

	"github.com/sitetwin/sitetwin/twin"
)

// Store holds the latest read-only view of every twin the engine owns, and
// the most recent alerts, for readers such as the HTTP API. Partition
// workers publish into it after each batch; readers never wait for the
// engine and the engine never waits for readers beyond a short lock.
type Store struct {
	mu        sync.RWMutex
	views     map[string]*twin.ProjectView
	open      int // alarms at warn or stop, over all views
	alerts    []twin.Alert
	next      int // ring position of the next alert
	full      bool
	maxAlerts int
}

// NewStore returns an empty store that keeps the last maxAlerts alerts
// (default 10000 when <= 0).
func NewStore(maxAlerts int) *Store {
	if maxAlerts <= 0 {
		maxAlerts = 10000
	}
	return &Store{views: map[string]*twin.ProjectView{}, alerts: make([]twin.Alert, maxAlerts), maxAlerts: maxAlerts}
}

// Twin returns the view of one project twin.
func (s *Store) Twin(id string) (*twin.ProjectView, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.views[id]
	return v, ok
}

// Twins returns the views of every twin, sorted by project id. The views
// are shared and must not be modified.
func (s *Store) Twins() []*twin.ProjectView {
	s.mu.RLock()
	out := make([]*twin.ProjectView, 0, len(s.views))
	for _, v := range s.views {
		out = append(out, v)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *twin.ProjectView) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// Alerts returns up to n recent alerts, newest first (all kept when n <= 0).
func (s *Store) Alerts(n int) []twin.Alert {
	s.mu.RLock()
	defer s.mu.RUnlock()
	size := s.next
	if s.full {
		size = s.maxAlerts
	}
	if n <= 0 || n > size {
		n = size
	}
	out := make([]twin.Alert, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, s.alerts[(s.next-i+s.maxAlerts)%s.maxAlerts])
	}
	return out
}

// Counts returns the number of twins and of open alarms.
func (s *Store) Counts() (twins, openAlarms int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.views), s.open
}

// publish replaces views and appends alerts, in order.
func (s *Store) publish(views []*twin.ProjectView, alerts []twin.Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range views {
		if old, ok := s.views[v.ID]; ok {
			s.open -= len(old.Alarms)
		}
		s.views[v.ID] = v
		s.open += len(v.Alarms)
	}
	for _, a := range alerts {
		s.alerts[s.next] = a
		s.next++
		if s.next == s.maxAlerts {
			s.next, s.full = 0, true
		}
	}
}

// drop removes the views of twins this process no longer owns.
func (s *Store) drop(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if old, ok := s.views[id]; ok {
			s.open -= len(old.Alarms)
			delete(s.views, id)
		}
	}
}
