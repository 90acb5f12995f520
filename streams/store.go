package streams

import (
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Store holds the latest read-only view of every twin the engine owns, the
// most recent alerts, the last hour of each sensor as the views showed it,
// and what the engine has seen of drills (Drills), for readers such as the
// HTTP API. Partition workers publish into it after each batch; readers
// never wait for the engine and the engine never waits for readers beyond
// a short lock. Watchers (Watch, WatchDrills) hear of every change.
type Store struct {
	mu        sync.RWMutex
	views     map[string]*twin.ProjectView
	open      int // alarms at warn or stop, over all views
	alerts    []twin.Alert
	next      int // ring position of the next alert
	full      bool
	maxAlerts int
	series    map[string]map[historyKey]*sensorHistory // by project, then series
	nSeries   int

	wmu      sync.RWMutex // held for reading while watchers are called
	watchers map[int]func(ids []string, alerts []twin.Alert)
	nextW    int

	drills storeDrills // what the engine saw of drills (store_drill.go)
}

// Sensor history kept by the store for charts: one point per minute of
// event time, for the hour up to a series' newest reading, for at most
// maxSeries series (further series are not kept until others go).
const (
	historyBucket = time.Minute
	historySpan   = time.Hour
	maxSeries     = 20000
)

// historyKey names a sensor series within a project: a kind at a site, or
// a kind of a piece of equipment there.
type historyKey struct{ site, kind, equipment string }

// sensorHistory is the recent history of one sensor series, in minute
// buckets, oldest first, built from the latest reading each published view
// carries (a reading replaced by a newer one before a commit is not seen).
type sensorHistory struct {
	last   string // event id of the newest reading taken
	points []twin.SensorPoint
	sums   []float64 // per point: the sum of the values, for the mean
}

// NewStore returns an empty store that keeps the last maxAlerts alerts
// (default 10000 when <= 0).
func NewStore(maxAlerts int) *Store {
	if maxAlerts <= 0 {
		maxAlerts = 10000
	}
	return &Store{
		views: map[string]*twin.ProjectView{}, alerts: make([]twin.Alert, maxAlerts), maxAlerts: maxAlerts,
		series: map[string]map[historyKey]*sensorHistory{}, watchers: map[int]func([]string, []twin.Alert){},
	}
}

// Watch registers fn to hear of every change: the ids of the twins whose
// views were replaced or removed (look them up with Twin), and the alerts
// appended, oldest first. fn is called after the change is visible to
// readers, on the goroutine that published it (an engine goroutine; two
// may call it at once), so it must be safe for concurrent use and return
// quickly without blocking. The ids slice is fn's; the alerts are shared
// and must not be modified. Calling stop unregisters fn: once stop has
// returned, fn is not called again.
func (s *Store) Watch(fn func(ids []string, alerts []twin.Alert)) (stop func()) {
	s.wmu.Lock()
	id := s.nextW
	s.nextW++
	s.watchers[id] = fn
	s.wmu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.wmu.Lock()
			delete(s.watchers, id)
			s.wmu.Unlock()
		})
	}
}

// notify calls the watchers.
func (s *Store) notify(ids []string, alerts []twin.Alert) {
	if len(ids) == 0 && len(alerts) == 0 {
		return
	}
	s.wmu.RLock()
	defer s.wmu.RUnlock()
	for _, fn := range s.watchers {
		fn(slices.Clone(ids), alerts)
	}
}

// Series returns the recent history of one sensor series of a site (key
// is the sensor kind, or kind@equipment), oldest first: per minute of
// event time, the mean and maximum of the readings the published views
// showed, over the hour up to the newest. It reports false when the store
// holds no such series. The points are the caller's.
func (s *Store) Series(project, site, key string) ([]twin.SensorPoint, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	kind, equipment, _ := strings.Cut(key, "@")
	h, ok := s.series[project][historyKey{site, kind, equipment}]
	if !ok {
		return nil, false
	}
	return slices.Clone(h.points), true
}

// record adds the latest readings of a view to the sensor histories.
func (s *Store) record(v *twin.ProjectView) {
	hs := s.series[v.ID]
	for i := range v.Sites {
		site := &v.Sites[i]
		for _, sv := range site.Sensors {
			if sv.Time.IsZero() {
				continue
			}
			key := historyKey{site.ID, sv.Kind, sv.Equipment}
			h, ok := hs[key]
			if !ok {
				if s.nSeries >= maxSeries {
					continue
				}
				if hs == nil {
					hs = map[historyKey]*sensorHistory{}
					s.series[v.ID] = hs
				}
				h = &sensorHistory{}
				hs[key] = h
				s.nSeries++
			}
			if sv.Event == h.last {
				continue
			}
			h.last = sv.Event
			h.add(sv.Time, sv.Value)
		}
	}
}

// add puts a reading into its minute and forgets minutes more than the
// span before the newest.
func (h *sensorHistory) add(t time.Time, v float64) {
	start := t.Truncate(historyBucket).UTC()
	// Readings mostly come in time order: into the newest minute, or
	// starting the next one.
	n := len(h.points)
	if n > 0 && h.points[n-1].Start.Equal(start) {
		h.addTo(n-1, v)
		return
	}
	if n == 0 || h.points[n-1].Start.Before(start) {
		h.points = append(h.points, twin.SensorPoint{Start: start, Mean: v, Max: v, N: 1})
		h.sums = append(h.sums, v)
		h.forget()
		return
	}
	i, found := slices.BinarySearchFunc(h.points, start, func(p twin.SensorPoint, t time.Time) int { return p.Start.Compare(t) })
	switch {
	case found:
		h.addTo(i, v)
	case start.Before(h.points[n-1].Start.Add(-historySpan)):
		// older than the span
	default:
		h.points = slices.Insert(h.points, i, twin.SensorPoint{Start: start, Mean: v, Max: v, N: 1})
		h.sums = slices.Insert(h.sums, i, v)
	}
}

// addTo adds a reading to point i.
func (h *sensorHistory) addTo(i int, v float64) {
	p := &h.points[i]
	p.N++
	h.sums[i] += v
	p.Mean = h.sums[i] / float64(p.N)
	p.Max = max(p.Max, v)
}

// forget drops the points more than the span before the newest.
func (h *sensorHistory) forget() {
	newest := h.points[len(h.points)-1].Start
	drop := 0
	for drop < len(h.points) && h.points[drop].Start.Before(newest.Add(-historySpan)) {
		drop++
	}
	h.points, h.sums = h.points[drop:], h.sums[drop:]
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

// publish replaces views and appends alerts, in order, then tells the
// watchers.
func (s *Store) publish(views []*twin.ProjectView, alerts []twin.Alert) {
	ids := make([]string, 0, len(views))
	s.mu.Lock()
	for _, v := range views {
		if old, ok := s.views[v.ID]; ok {
			s.open -= len(old.Alarms)
		}
		s.views[v.ID] = v
		s.open += len(v.Alarms)
		s.record(v)
		ids = append(ids, v.ID)
	}
	for _, a := range alerts {
		s.alerts[s.next] = a
		s.next++
		if s.next == s.maxAlerts {
			s.next, s.full = 0, true
		}
	}
	s.mu.Unlock()
	s.notify(ids, alerts)
}

// drop removes the views of twins this process no longer owns, then tells
// the watchers.
func (s *Store) drop(ids []string) {
	var gone []string
	s.mu.Lock()
	for _, id := range ids {
		if old, ok := s.views[id]; ok {
			s.open -= len(old.Alarms)
			delete(s.views, id)
			gone = append(gone, id)
		}
		s.nSeries -= len(s.series[id])
		delete(s.series, id)
	}
	s.mu.Unlock()
	s.notify(gone, nil)
}
