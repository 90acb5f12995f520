package streams

import (
	"slices"
	"sync"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Drills seen by the engine, as the store keeps them for screens: whoever
// started a drill (the dashboard's runner, `sitetwin drill run --live` in
// another process), the engine applies its events to forks of the twins
// (drill.go) and, after each commit, tells the store what changed.
const (
	// maxStoreDrills is how many drills the store keeps: the drill seen
	// first goes when one more comes.
	maxStoreDrills = 10
	// maxDrillAlerts is how many of a drill's latest alerts it keeps.
	maxDrillAlerts = 200
)

// DrillView is what the engine has seen of a drill (its events carry the
// drill's id; see drill.go). It is a copy: the caller's.
type DrillView struct {
	ID string `json:"id"`
	// FirstSeen and LastSeen are wall-clock times: the commits that first
	// and last made the drill's events final.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	// From and To are simulated: the earliest and latest event times of
	// the drill applied.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Events counts the drill's records applied (a city-wide one once).
	Events int64 `json:"events"`
	// Ended is set once the engine has applied the drill's last record
	// (the one with HeaderDrillEnd). Records of other partitions may still
	// come after it: the view goes on changing.
	Ended bool `json:"ended"`
	// Sites are the sites of the forks the drill changed, in order of
	// first sight, each with its level after the drill's latest events.
	Sites []DrillSite `json:"sites"`
	// Alerts are the drill's latest alerts (at most 200), oldest first;
	// AlertsTotal counts all of them.
	Alerts      []twin.Alert `json:"alerts"`
	AlertsTotal int          `json:"alerts_total"`
}

// DrillSite is a site of a drill's fork with its level in the drill: the
// worst of the site's alarms and of its project's alarms and risks that
// concern it.
type DrillSite struct {
	ID      string     `json:"id"`
	Project string     `json:"project"`
	Lat     float64    `json:"lat"`
	Lon     float64    `json:"lon"`
	Level   twin.Level `json:"level"`
}

// storeDrills is the store's part for drills, guarded by its own lock.
type storeDrills struct {
	mu     sync.RWMutex
	drills map[string]*storeDrill
	order  []string // by first sight, oldest first

	wmu      sync.RWMutex // held for reading while watchers are called
	watchers map[int]func(ids []string)
	nextW    int
}

// storeDrill is one drill's view with an index of its sites.
type storeDrill struct {
	v     DrillView
	index map[string]int // site id -> position in v.Sites
}

// Drills returns what the engine has seen of the drills kept (the last
// ten seen), newest first. The views are the caller's.
func (s *Store) Drills() []DrillView {
	d := &s.drills
	d.mu.RLock()
	defer d.mu.RUnlock()
	out := make([]DrillView, 0, len(d.order))
	for i := len(d.order) - 1; i >= 0; i-- {
		out = append(out, d.drills[d.order[i]].copy())
	}
	return out
}

// Drill returns what the engine has seen of one drill, and false when the
// store keeps no such drill. The view is the caller's.
func (s *Store) Drill(id string) (DrillView, bool) {
	d := &s.drills
	d.mu.RLock()
	defer d.mu.RUnlock()
	sd, ok := d.drills[id]
	if !ok {
		return DrillView{}, false
	}
	return sd.copy(), true
}

func (sd *storeDrill) copy() DrillView {
	v := sd.v
	v.Sites = slices.Clone(v.Sites)
	v.Alerts = slices.Clone(v.Alerts)
	return v
}

// WatchDrills registers fn to hear of the drills that changed (their ids;
// look them up with Drill), after the change is visible to readers. fn is
// called on the engine's goroutine that committed; it must return quickly
// without blocking. The ids slice is fn's. Once stop has returned, fn is
// not called again.
func (s *Store) WatchDrills(fn func(ids []string)) (stop func()) {
	d := &s.drills
	d.wmu.Lock()
	if d.watchers == nil {
		d.watchers = map[int]func([]string){}
	}
	id := d.nextW
	d.nextW++
	d.watchers[id] = fn
	d.wmu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			d.wmu.Lock()
			delete(d.watchers, id)
			d.wmu.Unlock()
		})
	}
}

// publishDrills merges what a commit made final of the drills (at wall
// time now), then tells the watchers.
func (s *Store) publishDrills(batches []drillBatch, now time.Time) {
	d := &s.drills
	var ids []string
	d.mu.Lock()
	if d.drills == nil {
		d.drills = map[string]*storeDrill{}
	}
	for _, b := range batches {
		sd, ok := d.drills[b.id]
		if !ok {
			for len(d.order) >= maxStoreDrills {
				delete(d.drills, d.order[0])
				d.order = d.order[1:]
			}
			sd = &storeDrill{v: DrillView{ID: b.id, FirstSeen: now}, index: map[string]int{}}
			d.drills[b.id] = sd
			d.order = append(d.order, b.id)
		}
		v := &sd.v
		v.LastSeen = now
		v.Events += b.events
		if !b.from.IsZero() && (v.From.IsZero() || b.from.Before(v.From)) {
			v.From = b.from
		}
		if b.to.After(v.To) {
			v.To = b.to
		}
		v.Ended = v.Ended || b.ended
		for _, site := range b.sites {
			if i, ok := sd.index[site.ID]; ok {
				v.Sites[i] = site
				continue
			}
			sd.index[site.ID] = len(v.Sites)
			v.Sites = append(v.Sites, site)
		}
		v.AlertsTotal += len(b.alerts)
		v.Alerts = append(v.Alerts, b.alerts...)
		if n := len(v.Alerts) - maxDrillAlerts; n > 0 {
			v.Alerts = slices.Delete(v.Alerts, 0, n)
		}
		if !slices.Contains(ids, b.id) {
			ids = append(ids, b.id)
		}
	}
	d.mu.Unlock()
	d.wmu.RLock()
	defer d.wmu.RUnlock()
	for _, fn := range d.watchers {
		fn(slices.Clone(ids))
	}
}
