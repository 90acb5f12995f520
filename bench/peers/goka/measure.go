package main

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Result is the one JSON line the peer prints: N events applied in Seconds
// (from the first applied event to the Nth), and the latency from each
// record's Kafka timestamp to its application.
type Result struct {
	Events     int     `json:"events"`
	Seconds    float64 `json:"seconds"`
	EventsPerS float64 `json:"events_per_s"` // Events / Seconds; 0 when Seconds is 0
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
}

// tracker counts applied input records and measures them. A record is
// applied when its callback has returned and all the work it caused has
// been done too: for a city-wide event, its application to every project
// the city knew of; for a registration, the city's learning of the project
// and the replay of the active city-wide events to it. Such follow-up work
// travels through the loopback topic to other partitions, so the tracker
// is shared by every partition's goroutine.
type tracker struct {
	clock func() time.Time

	mu       sync.Mutex
	want     int
	applied  int
	rejected int
	first    time.Time
	last     time.Time
	lat      []time.Duration
	open     map[string]*openRecord // records with follow-up work under way, by token
	done     chan struct{}          // closed once want records are applied
}

// openRecord is a record waiting for its follow-up work.
type openRecord struct {
	at      time.Time // its Kafka timestamp
	pending int
}

func newTracker(want int, clock func() time.Time) *tracker {
	return &tracker{clock: clock, want: want, lat: make([]time.Duration, 0, min(want, 1<<24)),
		open: map[string]*openRecord{}, done: make(chan struct{})}
}

// record counts one applied record with the Kafka timestamp at.
func (t *tracker) record(at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recordLocked(at)
}

func (t *tracker) recordLocked(at time.Time) {
	if t.applied >= t.want {
		return // beyond the N asked for
	}
	now := t.clock()
	if t.applied == 0 {
		t.first = now
	}
	t.applied++
	t.last = now
	t.lat = append(t.lat, now.Sub(at))
	if t.applied == t.want {
		close(t.done)
	}
}

// reject counts a record that was not applied (it is still counted as
// applied by record: the work was done).
func (t *tracker) reject() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rejected++
	return t.rejected
}

// add notes n more pieces of work for the record of a token; the first
// call for a token opens it with the record's timestamp at.
func (t *tracker) add(token string, at time.Time, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.open[token]
	if !ok {
		o = &openRecord{at: at}
		t.open[token] = o
	}
	o.pending += n
}

// more notes n more pieces of work for an open token; unknown tokens
// are ignored.
func (t *tracker) more(token string, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o, ok := t.open[token]; ok {
		o.pending += n
	}
}

// finish notes one piece of work done for a token; the record is applied
// when none is left. Unknown tokens (redelivered after a restart) are
// ignored.
func (t *tracker) finish(token string) {
	if token == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.open[token]
	if !ok {
		return
	}
	if o.pending--; o.pending <= 0 {
		delete(t.open, token)
		t.recordLocked(o.at)
	}
}

// counts returns the records applied and rejected so far.
func (t *tracker) counts() (applied, rejected int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.applied, t.rejected
}

// result summarises the records applied so far.
func (t *tracker) result() Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := Result{Events: t.applied}
	if t.applied == 0 {
		return r
	}
	r.Seconds = round(t.last.Sub(t.first).Seconds(), 3)
	if s := t.last.Sub(t.first).Seconds(); s > 0 {
		r.EventsPerS = round(float64(t.applied)/s, 1)
	}
	lat := slices.Clone(t.lat)
	slices.Sort(lat)
	r.P50ms = round(ms(pct(lat, 0.50)), 3)
	r.P99ms = round(ms(pct(lat, 0.99)), 3)
	return r
}

// pct is the q-quantile of sorted durations, as the bench's ws scenario
// takes it.
func pct(sorted []time.Duration, q float64) time.Duration {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func round(x float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(x*p) / p
}
