package citysim

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Share of live events that are progress reports rather than sensor
// readings, when no scripted event is due.
const progressShare = 0.1

// liveState is the state of the live stream.
type liveState struct {
	rng   *rand.Rand
	off   float64 // seconds after Start of the next event
	n     uint64  // live events sent
	seq   uint64  // tie-breaker of due entries
	queue []entry // min-heap of due items, by time then seq
	rain  rainProc
	gust  gustProc
	dust  siteProc
	noise siteProc

	incNext time.Time // when the incident process is next evaluated
}

// Families of due items.
const (
	famMilestone  = iota // a: milestone index, b: step (completed, accepted, disbursed)
	famWage              // a: index into wagePlan
	famDeposit           // a: index into depositPlan
	famHazard            // a: hazard index (<0 for the specials), b: step, t0: arrival time
	famChange            // a: change order index, t0: approval time
	famInspection        // a: inspection number
	famRain              // a: warning level, b: 0 issue, 1 cancel; t0: valid until
	famIncident          // a: index into the project's incidents
)

// entry is an item due at a time.
type entry struct {
	at   time.Time
	seq  uint64
	fam  uint8
	p    int32 // project index, -1 for the city
	a, b int32
	t0   time.Time
}

func (c *City) push(e entry) {
	l := &c.live
	l.seq++
	e.seq = l.seq
	q := append(l.queue, e)
	i := len(q) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !entryLess(&q[i], &q[parent]) {
			break
		}
		q[i], q[parent] = q[parent], q[i]
		i = parent
	}
	l.queue = q
}

func (c *City) pop() entry {
	q := c.live.queue
	top := q[0]
	last := len(q) - 1
	q[0] = q[last]
	q = q[:last]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(q) && entryLess(&q[l], &q[m]) {
			m = l
		}
		if r < len(q) && entryLess(&q[r], &q[m]) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	c.live.queue = q
	return top
}

func entryLess(x, y *entry) bool {
	if c := x.at.Compare(y.at); c != 0 {
		return c < 0
	}
	return x.seq < y.seq
}

// startLive queues every project's first scripted item after Start and
// starts the city's weather and incident processes 2-12 hours before Start,
// so that some incidents are already under way at Start.
func (c *City) startLive() {
	l := &c.live
	l.rng = c.keyed(tagLive, 0, 0)
	for _, p := range c.projects {
		pi := int32(p.idx)
		for _, m := range p.ms {
			for b, at := range c.milestoneSteps(p, m) {
				if at.After(c.start) {
					c.push(entry{at: at, fam: famMilestone, p: pi, a: int32(m.i), b: int32(b)})
					break
				}
			}
		}
		for a, w := range c.wagePlan(p) {
			if w.at.After(c.start) {
				c.push(entry{at: w.at, fam: famWage, p: pi, a: int32(a)})
				break
			}
		}
		for a, d := range c.depositPlan(p) {
			if d.at.After(c.start) {
				c.push(entry{at: d.at, fam: famDeposit, p: pi, a: int32(a)})
				break
			}
		}
		c.eachHazard(p, func(h *hazard) bool {
			if h.found.After(c.start) {
				// the next arrival of the hazard process (the specials are
				// all found before Start)
				c.push(entry{at: h.found, fam: famHazard, p: pi, a: int32(h.k), t0: h.raw})
				return false
			}
			for b, st := range h.steps {
				if st.at.After(c.start) {
					c.push(entry{at: st.at, fam: famHazard, p: pi, a: int32(h.k), b: int32(b), t0: h.raw})
					break
				}
			}
			return true
		})
		k, at := 0, c.nextChange(p, 0, p.pStart)
		for !at.After(c.start) {
			k++
			at = c.nextChange(p, k, at)
		}
		if !at.After(p.end) {
			c.push(entry{at: at, fam: famChange, p: pi, a: int32(k), t0: at})
		}
		if at := c.nextInspection(p, 0, c.start); !at.After(p.end) {
			c.push(entry{at: at, fam: famInspection, p: pi})
		}
	}
	n := float64(len(c.sites))
	// Dust spikes: each site starts one at a rate of risk / 96 per working
	// hour (07:00-19:00 local, so about one in 8 working days at risk 1);
	// a spike lasts 30-60 minutes with PM10 at 210-380 µg/m³.
	l.dust = siteProc{
		next: c.start.Add(-2 * time.Hour), perHour: n * c.maxRisk / 96, fromHour: 7, toHour: 19,
		minDur: 30 * time.Minute, maxDur: 60 * time.Minute, lo: 210, hi: 380, dust: true,
	}
	// Night-time noisy work: on a night, a site starts noisy work with
	// probability 0.02 × risk, between 22:00 and 01:00 local; it lasts 1-3
	// hours at 58-72 dB(A) (with lifting and vibration).
	l.noise = siteProc{
		next: c.start.Add(-4 * time.Hour), perHour: n * c.maxRisk * 0.02 / 3, fromHour: 22, toHour: 1,
		minDur: time.Hour, maxDur: 3 * time.Hour, lo: 58, hi: 72,
	}
	l.rain.next = c.start.Add(-12 * time.Hour)
	l.gust.next = c.start.Add(-6 * time.Hour)
	l.incNext = c.start
	c.advance(c.start)
}

// nextInspection returns when routine inspection k of a project after Start
// happens: a supervisor's inspection every 7 days on average (Poisson).
func (c *City) nextInspection(p *project, k int, prev time.Time) time.Time {
	r := c.keyed(tagLive, uint64(p.idx)+1, uint64(k))
	return prev.Add(time.Duration(expDays(r, 7) * float64(day))).Round(time.Second)
}

// Next returns the next live event, or nil when Rate is 0. Event times start
// at Start and grow by exponential gaps with mean 1/Rate seconds (a Poisson
// stream), rounded to the millisecond, so they never decrease. A scripted
// item whose time has come is sent first; otherwise 90% of events are
// sensor readings and 10% progress reports. Live events carry ids of the
// form "sim-<seed>-live-<Start unix>-<n>", unique across restarts; scripted
// items keep their Start-independent ids (see Bootstrap).
//
// Scripted items come at about 0.3 a day per project (inspections,
// hazards, payments, milestones); a Rate far below that (0.001/s for 300
// projects) delays them, since each takes the time of the next event.
// Incidents are found by evaluating the incident process every hour of
// event time (see incidents.go) and sent like scripted items, with their
// scripted-style ids.
func (c *City) Next() *twin.Event {
	if c.cfg.Rate == 0 {
		return nil
	}
	l := &c.live
	t := c.start.Add(time.Duration(math.Round(l.off*1e3)) * time.Millisecond)
	l.off += l.rng.ExpFloat64() / c.cfg.Rate
	l.n++
	c.advance(t)
	if len(l.queue) > 0 && !l.queue[0].at.After(t) {
		return c.due(c.pop(), t)
	}
	if l.rng.Float64() < progressShare {
		if e := c.liveProgress(t); e != nil {
			return e
		}
	}
	return c.reading(t)
}

// liveID returns the id of the current live event.
func (c *City) liveID() string { return c.livePre + strconv.FormatUint(c.live.n, 10) }

// due builds the event of a due item, sent at time t, and queues what
// follows it.
func (c *City) due(e entry, t time.Time) *twin.Event {
	if e.fam == famRain {
		return c.rainEvent(e, t)
	}
	p := c.projects[e.p]
	switch e.fam {
	case famMilestone:
		m := p.ms[e.a]
		steps := c.milestoneSteps(p, m)
		if e.b+1 < int32(len(steps)) {
			c.push(entry{at: steps[e.b+1], fam: famMilestone, p: e.p, a: e.a, b: e.b + 1})
		}
		return c.milestoneEvent(p, m, int(e.b), t)
	case famWage:
		plan := c.wagePlan(p)
		if int(e.a)+1 < len(plan) {
			c.push(entry{at: plan[e.a+1].at, fam: famWage, p: e.p, a: e.a + 1})
		}
		return c.wageEvent(p, plan[e.a], t)
	case famDeposit:
		plan := c.depositPlan(p)
		if int(e.a)+1 < len(plan) {
			c.push(entry{at: plan[e.a+1].at, fam: famDeposit, p: e.p, a: e.a + 1})
		}
		return c.depositEvent(p, plan[e.a], t)
	case famHazard:
		h := c.hazardSpec(p, int(e.a), e.t0)
		if int(e.b)+1 < len(h.steps) {
			c.push(entry{at: h.steps[e.b+1].at, fam: famHazard, p: e.p, a: e.a, b: e.b + 1, t0: e.t0})
		}
		if e.b == 0 && e.a >= 0 {
			if next := c.nextHazard(p, int(e.a)+1, e.t0); !next.After(p.end) {
				nh := c.hazardSpec(p, int(e.a)+1, next)
				c.push(entry{at: nh.found, fam: famHazard, p: e.p, a: e.a + 1, t0: next})
			}
		}
		return c.hazardEvent(p, h, int(e.b), t)
	case famIncident:
		in := p.incs[e.a]
		in.reported = t
		return c.incidentEvent(in, t)
	case famChange:
		if next := c.nextChange(p, int(e.a)+1, e.t0); !next.After(p.end) {
			c.push(entry{at: next, fam: famChange, p: e.p, a: e.a + 1, t0: next})
		}
		return c.changeEvent(p, int(e.a), e.t0, t)
	}
	// famInspection: a routine inspection; 90% pass, 10% note 1-3 minor
	// findings that are put right on the spot (no hazard is recorded).
	if next := c.nextInspection(p, int(e.a)+1, e.at); !next.After(p.end) {
		c.push(entry{at: next, fam: famInspection, p: e.p, a: e.a + 1})
	}
	ins := &twin.InspectionCompleted{Inspection: p.id + "-INS-" + strconv.FormatInt(c.start.Unix(), 10) + "-" + strconv.Itoa(int(e.a)+1), Result: "pass"}
	if l := &c.live; l.rng.Float64() < 0.1 {
		ins.Result, ins.Findings = "fail", 1+l.rng.IntN(3)
	}
	s := p.sites[c.live.rng.IntN(len(p.sites))]
	return &twin.Event{ID: c.liveID(), Type: twin.TypeInspectionCompleted, Source: srcSupervision, Time: t, Project: p.id, Site: s.id, Data: ins}
}

// liveProgress returns a progress report of a milestone under way at t, of
// a random project, or nil if the few projects tried have none.
func (c *City) liveProgress(t time.Time) *twin.Event {
	l := &c.live
	for range 4 {
		p := c.projects[l.rng.IntN(len(c.projects))]
		var cand [16]*milestone
		n := 0
		for _, m := range p.ms {
			if pct := p.percent(m, t); pct >= 0.05 && pct < 99.95 && n < len(cand) {
				cand[n] = m
				n++
			}
		}
		if n == 0 {
			continue
		}
		m := cand[l.rng.IntN(n)]
		return &twin.Event{
			ID: c.liveID(), Type: twin.TypeProgressReported, Source: srcProgress, Time: t, Project: p.id,
			Data: &twin.ProgressReported{Milestone: m.id, PercentComplete: round(p.percent(m, t), 1)},
		}
	}
	return nil
}

// advance runs the city's processes up to t.
func (c *City) advance(t time.Time) {
	c.advanceRain(t)
	c.advanceGust(t)
	c.advanceSites(&c.live.dust, t)
	c.advanceSites(&c.live.noise, t)
	c.advanceIncidents(t)
}

// siteProc is a process of incidents at sites: candidate starts come as a
// Poisson stream over the whole city; a candidate at a random site is kept
// when its local hour is in the process's window, with probability
// risk / max risk (thinning), and when the site has no such incident under
// way.
type siteProc struct {
	next             time.Time
	perHour          float64 // candidates per hour
	fromHour, toHour int     // local hours when incidents may start; toHour may wrap past midnight
	minDur, maxDur   time.Duration
	lo, hi           float64 // level
	dust             bool    // dust spike (else noisy night work)
}

func (c *City) advanceSites(sp *siteProc, t time.Time) {
	l := &c.live
	if sp.perHour <= 0 {
		return
	}
	for !sp.next.After(t) {
		at := sp.next
		sp.next = at.Add(time.Duration(l.rng.ExpFloat64() / sp.perHour * float64(time.Hour)))
		s := c.sites[l.rng.IntN(len(c.sites))]
		h := at.In(cst).Hour()
		in := h >= sp.fromHour && h < sp.toHour
		if sp.toHour < sp.fromHour {
			in = h >= sp.fromHour || h < sp.toHour
		}
		keep := l.rng.Float64() < s.p.contractor.risk/c.maxRisk
		dur := sp.minDur + time.Duration(l.rng.Float64()*float64(sp.maxDur-sp.minDur))
		level := round(uni(l.rng, sp.lo, sp.hi), 1)
		if !in || !keep {
			continue
		}
		if sp.dust {
			if at.Before(s.dustUntil) {
				continue
			}
			s.dustFrom, s.dustUntil, s.dustLevel = at, at.Add(dur), level
		} else {
			if at.Before(s.noiseUntil) {
				continue
			}
			s.noiseFrom, s.noiseUntil, s.noiseLevel = at, at.Add(dur), level
		}
		s.noteAlarm(at)
	}
}

// rainProc is the city's rain: episodes follow each other as a renewal
// process (the gap after an episode is exponential with a mean of 1 / the
// month's episodes per day). An episode is a convective burst (30% from
// April to September, 10% otherwise: 1-3 hours) or stratiform rain (2-8
// hours); intensities are exponential, a burst's mean 4 times the
// stratiform mean, which is set so the month gets its normal rainfall
// (capped at 80 mm/h); each site gets 0.7-1.3 times the city's intensity.
// An episode heavy enough for a signal (Shenzhen criteria, see facts.go)
// raises a city-wide rainstorm warning 30 minutes after it starts, valid
// until an hour after it ends, and cancelled then.
type rainProc struct {
	next time.Time
	eps  []episode // recent episodes, oldest first
}

type episode struct {
	from, to time.Time
	mmph     float64
}

var rainLevels = [...]string{twin.RainYellow, twin.RainOrange, twin.RainRed}

func (c *City) advanceRain(t time.Time) {
	l := &c.live
	rp := &l.rain
	for !rp.next.After(t) {
		from := rp.next
		mon := from.In(cst).Month() - 1
		conv := 0.1
		if mon >= 3 && mon <= 8 {
			conv = 0.3
		}
		// mean rain per episode, mm: the month's total over its episodes,
		// counting the time episodes take from the gaps between them
		meanHours := conv*2 + (1-conv)*5
		perEpisode := climateRain[mon] / 30 * (1/rainEpisodes[mon] + meanHours/24)
		stratiform := perEpisode / (conv*2*4 + (1-conv)*5)
		dur, mean := uni(l.rng, 2, 8), stratiform
		if l.rng.Float64() < conv {
			dur, mean = uni(l.rng, 1, 3), 4*stratiform
		}
		ep := episode{from: from, to: from.Add(time.Duration(dur * float64(time.Hour))), mmph: round(min(80, l.rng.ExpFloat64()*mean), 2)}
		rp.eps = append(rp.eps, ep)
		a3, a6 := ep.mmph*min(dur, 3), ep.mmph*min(dur, 6)
		level := -1
		switch {
		case a3 >= rainRed3h:
			level = 2
		case a3 >= rainOrange3h:
			level = 1
		case a6 >= rainYellow6h:
			level = 0
		}
		until := ep.to.Add(time.Hour).Round(time.Minute)
		if level >= 0 && until.After(c.start) {
			issue := from.Add(30 * time.Minute).Round(time.Minute)
			c.push(entry{at: issue, fam: famRain, p: -1, a: int32(level), t0: until})
			c.push(entry{at: until, fam: famRain, p: -1, a: int32(level), b: 1, t0: until})
		}
		gap := l.rng.ExpFloat64() / rainEpisodes[mon] * float64(day)
		rp.next = ep.to.Add(time.Duration(gap))
	}
	cut := t.Add(-30 * time.Hour)
	n := 0
	for n < len(rp.eps) && rp.eps[n].to.Before(cut) {
		n++
	}
	if n > 0 {
		rp.eps = append(rp.eps[:0], rp.eps[n:]...)
	}
}

// rainEvent builds a city-wide rainstorm warning or its cancellation.
func (c *City) rainEvent(e entry, t time.Time) *twin.Event {
	w := &twin.RainfallWarning{Level: rainLevels[e.a], Issued: twin.TimeWhen(e.at), ValidUntil: twin.TimeWhen(e.t0)}
	if e.b == 1 {
		w = &twin.RainfallWarning{Level: twin.RainCancelled, Issued: twin.TimeWhen(e.at)}
	}
	return &twin.Event{ID: c.liveID(), Type: twin.TypeRainfallWarning, Source: srcWeather, Time: t, Project: twin.CityWide, Data: w}
}

// rainAt returns the city's rain intensity at t, mm/h, before the site
// factor.
func (c *City) rainAt(t time.Time) float64 {
	for _, ep := range c.live.rain.eps {
		if !t.Before(ep.from) && t.Before(ep.to) {
			return ep.mmph
		}
	}
	return 0
}

// gustProc is the city's gusty spells (squall lines, monsoon surges): a
// renewal process with the month's rate (0.25 a day from April to
// September, 0.12-0.15 otherwise); a spell lasts 1-3 hours over a circle of
// 8-20 km radius around a random district centre; inside, the mean wind is
// 1.6-2.2 times stronger (fading to nothing at the edge from half the
// radius) and gusts are 1.5-1.9 times the mean instead of 1.3-1.6.
type gustProc struct {
	next  time.Time
	spell spell
}

type spell struct {
	from, to           time.Time
	lat, lon, radiusKm float64
	mult, gust         float64
}

func (c *City) advanceGust(t time.Time) {
	l := &c.live
	gp := &l.gust
	for !gp.next.After(t) {
		from := gp.next
		mon := from.In(cst).Month() - 1
		d := &districts[l.rng.IntN(len(districts))]
		gp.spell = spell{
			from: from, to: from.Add(time.Duration(uni(l.rng, 1, 3) * float64(time.Hour))),
			lat: d.lat, lon: d.lon, radiusKm: uni(l.rng, 8, 20),
			mult: uni(l.rng, 1.6, 2.2), gust: uni(l.rng, 1.5, 1.9),
		}
		gp.next = gp.spell.to.Add(time.Duration(l.rng.ExpFloat64() / gustSpells[mon] * float64(day)))
		c.noteWindAlarms(from)
	}
}

// noteWindAlarms notes a sensor-alarm episode at every site where a gusty
// spell starting at t brings the top of the gust range at a crane's jib
// (the spell's mean wind × its gust factor, brought to the jib by the
// power law) above 80% of the crane's in-service limit: the crane_wind
// warning.
func (c *City) noteWindAlarms(t time.Time) {
	sp := &c.live.gust.spell
	for _, s := range c.sites {
		if len(s.cranes) == 0 || twin.DistanceKm(s.lat, s.lon, sp.lat, sp.lon) >= sp.radiusKm {
			continue
		}
		_, _, hi := c.gustAt(s, t)
		gust := c.windMean(s, t) * hi
		for _, cr := range s.cranes {
			if !t.Before(cr.installed) && gust*math.Pow(cr.height/10, s.alpha) > 0.8*cr.inService {
				s.noteAlarm(t)
				break
			}
		}
	}
}

// gustAt returns the wind multiplier and the gust factor range at a site.
func (c *City) gustAt(s *site, t time.Time) (mult, gustLo, gustHi float64) {
	sp := &c.live.gust.spell
	if t.Before(sp.from) || !t.Before(sp.to) {
		return 1, 1.3, 1.6
	}
	km := twin.DistanceKm(s.lat, s.lon, sp.lat, sp.lon)
	switch {
	case km >= sp.radiusKm:
		return 1, 1.3, 1.6
	case km <= sp.radiusKm/2:
		return sp.mult, 1.5, sp.gust
	}
	f := (sp.radiusKm - km) / (sp.radiusKm / 2)
	return 1 + (sp.mult-1)*f, 1.3 + 0.2*f, 1.6 + (sp.gust-1.6)*f
}
