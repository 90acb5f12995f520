package predict

import (
	"bufio"
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Label names of the examples a history yields. Site and crane labels are
// suffixed with "@" and the site or crane id.
const (
	// LabelIncident30d is 1 when the site reported an incident within
	// IncidentHorizon after the sample, else 0 ("incident_30d@S-001-1").
	LabelIncident30d = "incident_30d"
	// LabelFinishDays is the days from the sample to the project's actual
	// finish (the completion of its last milestone), when it finished
	// within the history.
	LabelFinishDays = "finish_days"
	// LabelOnTime is 1 when the project finished by its deadline, 0 when it
	// finished after it or the deadline passed unfinished within the
	// history; absent when neither is known.
	LabelOnTime = "on_time"
	// LabelCraneExceed is 1 when a crane's jib wind went above its in-service
	// limit (a stop-work crane wind alarm) within CraneHorizon after a
	// sample taken under an active typhoon advisory, else 0
	// ("crane_exceed@TC-1").
	LabelCraneExceed = "crane_exceed"
)

// Horizons of the labels.
const (
	// IncidentHorizon is how far ahead an incident label looks: the 30 days
	// of the safety model's P(incident within 30 days).
	IncidentHorizon = 30 * 24 * time.Hour
	// CraneHorizon is how far ahead a crane label looks: the 72 hours of a
	// typhoon advisory's forecast track.
	CraneHorizon = 72 * time.Hour
)

// HistoryOptions say how a recorded history is sampled into examples.
type HistoryOptions struct {
	// Rules is the rule pack the twins run under (required).
	Rules *twin.Rules
	// Every is the time between samples (default 7 days: a week apart,
	// a site's examples are not near copies of each other).
	Every time.Duration
	// From is the first sample's time. Zero: 7 days (the sensor alarm
	// window) after the first sensor reading, at midnight UTC, so the
	// alarm counts of the first sample are complete.
	From time.Time
	// CraneRule is the id of the rule pack's sensor rule whose stop level
	// is a crane's in-service wind limit (default "crane_wind").
	CraneRule string
	// Progress, if set, is called now and then with the bytes read so far.
	Progress func(read int64)
}

// History is a recorded history replayed through twins: a view of every
// registered project at each sample time, and what happened next.
type History struct {
	// Samples are the sample times, ascending.
	Samples []time.Time
	// Examples are the views at each sample with their labels; a label
	// not yet known at the history's end (its horizon runs past End) is
	// absent.
	Examples []Example
	// First and End are the times of the first and last events.
	First, End time.Time
	// Events is the count of events read; Rejected of those the twins
	// rejected (as the engine would dead-letter them), with the first
	// rejections' reasons in Rejections.
	Events, Rejected int64
	Rejections       []string
	// Incidents and CraneStops count the outcomes seen.
	Incidents, CraneStops int
}

// sample is one view taken during the replay, labelled afterwards.
type sample struct {
	at       time.Time
	view     *twin.ProjectView
	advisory bool
}

// ReadHistory replays a recorded history (one CloudEvent per line, in
// event-time order, as `sitetwin simulate` writes it; gzip-compressed or
// not) through twins with the same twin.Apply the engine uses, takes a
// view of every registered project at each sample time, and labels each
// view with what actually happened after it. A line that is not a valid
// event is an error naming the line; an event the twins reject is counted
// (the engine would dead-letter it) and the replay goes on.
func ReadHistory(ctx context.Context, r io.Reader, opts HistoryOptions) (*History, error) {
	if opts.Rules == nil {
		return nil, errors.New("read history: no rule pack")
	}
	if opts.Every <= 0 {
		opts.Every = 7 * 24 * time.Hour
	}
	cr := &countingReader{r: r} // counts the bytes of the file, compressed or not
	in, err := openHistory(cr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan lineBatch, 4)
	go decodeLines(ctx, in, cr, batches) // decoding takes a third of a replay: it runs beside the twins
	h := &History{}
	rp := newReplayer(opts.Rules)
	rp.craneRule = cmp.Or(opts.CraneRule, "crane_wind")
	var samples []sample
	next := opts.From
	for b := range batches {
		if b.err != nil {
			return nil, b.err
		}
		if opts.Progress != nil {
			opts.Progress(b.read)
		}
		for i, e := range b.events {
			line := b.lines[i]
			if h.Events > 0 && e.Time.Before(h.End.Add(-opts.Rules.AllowedLateness.D())) {
				return nil, fmt.Errorf("history line %d: event %s at %s is before the line above (%s): a history is in event-time order",
					line, e.ID, e.Time.Format(time.RFC3339), h.End.Format(time.RFC3339))
			}
			if h.Events == 0 {
				h.First = e.Time
			}
			h.Events++
			if next.IsZero() && e.Type == twin.TypeSensorReading {
				next = e.Time.Add(twin.SensorAlarmWindow).Truncate(24 * time.Hour).Add(24 * time.Hour)
			}
			for !next.IsZero() && !e.Time.Before(next) {
				h.Samples = append(h.Samples, next)
				samples = append(samples, rp.sample(next)...)
				next = next.Add(opts.Every)
			}
			if e.Time.After(h.End) {
				h.End = e.Time
			}
			if err := rp.apply(e); err != nil {
				h.Rejected++
				if len(h.Rejections) < 10 {
					h.Rejections = append(h.Rejections, fmt.Sprintf("line %d: %s: %v", line, e.ID, err))
				}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.Incidents = rp.incidentCount
	for _, ts := range rp.craneStops {
		h.CraneStops += len(ts)
	}
	h.Examples = make([]Example, 0, len(samples))
	for _, s := range samples {
		h.Examples = append(h.Examples, Example{At: s.at, View: s.view, Label: rp.labels(s, h.End)})
	}
	return h, nil
}

// lineBatch is a run of decoded lines of a history, or the error that
// ended it.
type lineBatch struct {
	events []*twin.Event
	lines  []int
	read   int64 // bytes read so far
	err    error
}

// decodeLines reads and decodes a history into batches until its end, an
// error (sent as the last batch) or the end of ctx; it closes out.
func decodeLines(ctx context.Context, in io.Reader, cr *countingReader, out chan<- lineBatch) {
	defer close(out)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	const size = 2048
	b := lineBatch{}
	send := func() bool {
		b.read = cr.n
		select {
		case out <- b:
			b = lineBatch{}
			return true
		case <-ctx.Done():
			return false
		}
	}
	for line := 1; sc.Scan(); line++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		e, err := twin.Decode(raw)
		if err != nil {
			b.err = fmt.Errorf("history line %d: %w", line, err)
			send()
			return
		}
		b.events = append(b.events, e)
		b.lines = append(b.lines, line)
		if len(b.events) == size && !send() {
			return
		}
	}
	if err := sc.Err(); err != nil {
		b.err = fmt.Errorf("read history: %w", err)
	}
	send()
}

// replayer owns the twins of a replay and what happened to them.
type replayer struct {
	rules     *twin.Rules
	craneRule string
	twins     map[string]*twin.ProjectTwin
	order     []string // project ids in registration order
	city      []*twin.Event
	cityBy    map[string]int // index in city by the event's city key
	// outcomes
	incidents     map[string][]time.Time // by site: report times
	craneStops    map[string][]time.Time // by crane: times a stop-level crane wind alarm was raised
	incidentCount int
}

func newReplayer(r *twin.Rules) *replayer {
	return &replayer{rules: r, twins: map[string]*twin.ProjectTwin{}, cityBy: map[string]int{},
		incidents: map[string][]time.Time{}, craneStops: map[string][]time.Time{}}
}

// apply applies an event as the engine does: city-wide events to every
// twin (and to twins registered later, the latest per kind), others to
// their project's twin, a new twin on its registration.
func (rp *replayer) apply(e *twin.Event) error {
	e.Received = e.Time // a recorded event arrives when it happened
	if e.Project == twin.CityWide {
		key := twin.CityKey(e)
		if i, ok := rp.cityBy[key]; ok {
			rp.city[i] = e
		} else {
			rp.cityBy[key] = len(rp.city)
			rp.city = append(rp.city, e)
		}
		var first error
		for _, id := range rp.order {
			if err := rp.applyTo(rp.twins[id], e); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	p, known := rp.twins[e.Project]
	if !known {
		p = twin.NewProject(e.Project, rp.rules)
	}
	if err := rp.applyTo(p, e); err != nil {
		return err
	}
	if !known {
		rp.twins[p.ID] = p
		rp.order = append(rp.order, p.ID)
		for _, c := range rp.city {
			_ = rp.applyTo(p, c) // as the engine: a stale city event may be refused
		}
	}
	if e.Type == twin.TypeIncidentReported && e.Site != "" {
		rp.incidents[e.Site] = append(rp.incidents[e.Site], e.Time)
		rp.incidentCount++
	}
	return nil
}

func (rp *replayer) applyTo(p *twin.ProjectTwin, e *twin.Event) error {
	eff, err := twin.Apply(p, e, rp.rules)
	if err != nil {
		return err
	}
	for _, a := range eff.Alerts {
		if a.Equipment != "" && a.Rule == rp.craneRule && a.Level >= twin.LevelStop && a.From < twin.LevelStop {
			rp.craneStops[a.Equipment] = append(rp.craneStops[a.Equipment], a.Time)
		}
	}
	return nil
}

// sample takes a view of every registered project at t.
func (rp *replayer) sample(t time.Time) []sample {
	out := make([]sample, 0, len(rp.order))
	for _, id := range rp.order {
		p := rp.twins[id]
		if !p.Registered {
			continue
		}
		v := p.View()
		out = append(out, sample{at: t, view: v, advisory: v.Weather.Advisory != nil})
	}
	return out
}

// labels says what happened after a sample, as far as the history (which
// ends at end) knows.
func (rp *replayer) labels(s sample, end time.Time) map[string]float64 {
	l := map[string]float64{}
	final := rp.twins[s.view.ID]
	if end.Sub(s.at) >= IncidentHorizon {
		for _, site := range s.view.Sites {
			if !site.Registered {
				continue
			}
			l[LabelIncident30d+"@"+site.ID] = b2f(slices.ContainsFunc(rp.incidents[site.ID], func(t time.Time) bool {
				return t.After(s.at) && !t.After(s.at.Add(IncidentHorizon))
			}))
		}
	}
	if finish, ok := finished(final); ok {
		if finish.After(s.at) {
			l[LabelFinishDays] = finish.Sub(s.at).Hours() / 24
			if dl := projectDeadline(s.view); !dl.IsZero() {
				l[LabelOnTime] = b2f(!finish.After(dl))
			}
		}
	} else if dl := projectDeadline(s.view); !dl.IsZero() && dl.After(s.at) && dl.Before(end) {
		l[LabelOnTime] = 0 // the deadline passed unfinished
	}
	if s.advisory && end.Sub(s.at) >= CraneHorizon {
		for _, site := range s.view.Sites {
			for _, eq := range site.Equipment {
				if eq.Kind != twin.KindTowerCrane {
					continue
				}
				l[LabelCraneExceed+"@"+eq.ID] = b2f(slices.ContainsFunc(rp.craneStops[eq.ID], func(t time.Time) bool {
					return t.After(s.at) && !t.After(s.at.Add(CraneHorizon))
				}))
			}
		}
	}
	return l
}

// finished returns when a project completed its last milestone, if every
// baselined milestone is complete.
func finished(p *twin.ProjectTwin) (time.Time, bool) {
	var last time.Time
	n := 0
	for _, m := range p.Milestones {
		if !m.Baselined {
			continue
		}
		if m.Completed.IsZero() {
			return time.Time{}, false
		}
		n++
		last = later(last, m.Completed)
	}
	return last, n > 0
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// openHistory reads a history plainly or through gzip, by its first bytes.
func openHistory(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read history: %w", err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("read history: gzip: %w", err)
		}
		return zr, nil
	}
	return br, nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}
