package streams

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

func storeView(id string, readings ...twin.SensorView) *twin.ProjectView {
	return &twin.ProjectView{ID: id, Sites: []twin.SiteView{{ID: id + "-S1", Sensors: readings}}}
}

func TestStoreWatch(t *testing.T) {
	s := NewStore(10)
	var mu sync.Mutex
	var got [][]string
	var alerts int
	stop := s.Watch(func(ids []string, as []twin.Alert) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, ids)
		alerts += len(as)
	})
	s.publish([]*twin.ProjectView{storeView("P-1"), storeView("P-2")}, []twin.Alert{{ID: "P-1#1"}})
	s.drop([]string{"P-2", "P-9"})
	s.publish(nil, nil) // nothing changed: no call
	stop()
	stop() // idempotent
	s.publish([]*twin.ProjectView{storeView("P-3")}, nil)
	want := [][]string{{"P-1", "P-2"}, {"P-2"}}
	if !slices.EqualFunc(got, want, slices.Equal) || alerts != 1 {
		t.Fatalf("watcher heard %v and %d alerts, want %v and 1", got, alerts, want)
	}
}

func TestStoreSeries(t *testing.T) {
	s := NewStore(10)
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	read := func(min int, sec int, v float64, id string) {
		s.publish([]*twin.ProjectView{storeView("P-1", twin.SensorView{Kind: "pm10", Value: v, Time: t0.Add(time.Duration(min)*time.Minute + time.Duration(sec)*time.Second), Event: id})}, nil)
	}
	read(0, 10, 100, "e1")
	read(0, 40, 200, "e2")
	read(0, 40, 200, "e2") // the same reading again: not counted twice
	read(1, 0, 50, "e3")
	read(61, 0, 80, "e4") // the first minute falls out of the hour
	pts, ok := s.Series("P-1", "P-1-S1", "pm10")
	if !ok || len(pts) != 2 {
		t.Fatalf("series %v %v, want 2 points", pts, ok)
	}
	if pts[0].Start != t0.Add(time.Minute) || pts[0].Mean != 50 || pts[1].Mean != 80 {
		t.Errorf("first point %+v", pts[0])
	}
	s2 := NewStore(10)
	s = s2
	read(0, 10, 100, "e1")
	read(0, 40, 200, "e2")
	pts, _ = s.Series("P-1", "P-1-S1", "pm10")
	if len(pts) != 1 || pts[0].Mean != 150 || pts[0].Max != 200 || pts[0].N != 2 {
		t.Errorf("minute bucket %+v, want mean 150 max 200 n 2", pts)
	}
	if _, ok := s.Series("P-1", "P-1-S1", "noise"); ok {
		t.Error("a series never seen is reported")
	}
	// Readings out of time order: one into an earlier minute that has
	// none, one into an earlier minute that has some, one older than the
	// hour before the newest (not kept).
	read(5, 0, 10, "e5")
	read(3, 30, 20, "e6")
	read(0, 50, 300, "e7")
	read(-58, 0, 1, "e8")
	pts, _ = s.Series("P-1", "P-1-S1", "pm10")
	starts := make([]time.Duration, len(pts))
	for i, p := range pts {
		starts[i] = p.Start.Sub(t0)
	}
	if !slices.Equal(starts, []time.Duration{0, 3 * time.Minute, 5 * time.Minute}) || pts[0].Max != 300 || pts[0].N != 3 || pts[1].Mean != 20 {
		t.Errorf("out of order: points at %v: %+v", starts, pts)
	}
	// a series of a piece of equipment is named kind@equipment
	s.publish([]*twin.ProjectView{storeView("P-1", twin.SensorView{Kind: "crane_load", Equipment: "TC1", Value: 40, Time: t0, Event: "e9"})}, nil)
	if pts, ok := s.Series("P-1", "P-1-S1", "crane_load@TC1"); !ok || len(pts) != 1 || pts[0].Max != 40 {
		t.Errorf("equipment series %v %v", pts, ok)
	}
	if _, ok := s.Series("P-1", "P-1-S1", "crane_load"); ok {
		t.Error("the equipment's series is reported as the site's")
	}
	s.drop([]string{"P-1"})
	if _, ok := s.Series("P-1", "P-1-S1", "pm10"); ok || s.nSeries != 0 {
		t.Error("series of a dropped twin kept")
	}
}
