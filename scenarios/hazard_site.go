package scenarios

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// incident lays a crane collapse, a pit collapse or a fire at a site: the
// readings that come before it (a crane's tower tilting, a pit's wall
// moving), the incident report, the cordon, and the incident for dispatch.
func (d *drill) incident(h *hazard) error {
	spec := d.s.Incident
	i := d.w.siteIdx[spec.Site]
	s := d.w.sites[i]
	tw := d.w.byID[s.Project]
	site := tw.Sites[s.ID]
	at := d.start.Add(spec.After.D())
	eq := spec.Equipment
	category := twin.IncidentFire
	switch d.s.Kind {
	case KindCraneCollapse:
		eq, category = cmp.Or(eq, firstOf(site, twin.KindTowerCrane)), twin.IncidentCrane
	case KindPitCollapse:
		eq, category = cmp.Or(eq, firstOf(site, twin.KindFoundationPit)), twin.IncidentCollapse
	}
	src := "sitetwin/drill/" + d.s.ID
	if spec.Precursor == nil || *spec.Precursor {
		switch d.s.Kind {
		case KindCraneCollapse:
			// the tower leans from 1 ‰ to 5 ‰ over the two hours before
			for m := 120; m > 0; m -= 10 {
				t := at.Add(-time.Duration(m) * time.Minute)
				if t.Before(d.start) {
					continue
				}
				v := 1 + 4*float64(120-m)/110
				h.events = append(h.events, &twin.Event{ID: fmt.Sprintf("%s-tilt-%s-%d", d.s.ID, eq, m), Type: twin.TypeSensorReading, Source: src,
					Time: t, Project: s.Project, Site: s.ID, Data: &twin.SensorReading{Kind: twin.SensorCraneTilt, Value: round1(v), Unit: "‰", Equipment: eq}})
			}
		case KindPitCollapse:
			// the wall moves from half its alarm value to 1.3 times it
			// over the twelve hours before
			alarm := cmp.Or(site.Equipment[eq].AlarmCumulativeMM, 30)
			for hr := 12; hr > 0; hr-- {
				t := at.Add(-time.Duration(hr) * time.Hour)
				if t.Before(d.start) {
					continue
				}
				v := alarm * (0.5 + 0.8*float64(12-hr)/11)
				h.events = append(h.events, &twin.Event{ID: fmt.Sprintf("%s-disp-%s-%d", d.s.ID, eq, hr), Type: twin.TypeSensorReading, Source: src,
					Time: t, Project: s.Project, Site: s.ID, Data: &twin.SensorReading{Kind: twin.SensorPitDisplacement, Value: round1(v), Unit: "mm", Equipment: eq}})
			}
		}
	}
	what := map[string]string{KindCraneCollapse: "tower crane %s collapsed", KindPitCollapse: "foundation pit %s collapsed", KindFire: "fire at the site%s"}[d.s.Kind]
	arg := eq
	if d.s.Kind == KindFire {
		arg = ""
		if eq != "" {
			arg = " near " + eq
		}
	}
	in := d.newIncident(d.s.ID+"-incident", i, at, category, spec.Injuries, eq, fmt.Sprintf(what, arg))
	if spec.Severity != "" {
		in.Severity = spec.Severity
	}
	h.incidents = append(h.incidents, in)
	h.events = append(h.events, in.event(d.s.ID))
	h.actions = append(h.actions, &Action{Due: at, Site: s.ID, Project: s.Project, District: s.District, Kind: ActionCordon, Equipment: eq,
		What: "protect the scene, cordon it off, account for every worker, report to the district within 1 hour", Who: who(tw),
		Ordered: at, Done: at, HazardAt: at, InTime: true, Basis: in.Description})
	return nil
}

// Rainstorm defaults.
const (
	// DefaultPitFailureMM is the rainfall in 3 hours above which a pit may
	// fail: 100 mm, the Guangdong red rainstorm criterion (the rule pack's
	// rainfall_3h stop).
	DefaultPitFailureMM = 100.0
	// DefaultPitFailureProbability is the chance a pit fails there (a
	// sitetwin default for rehearsal).
	DefaultPitFailureProbability = 0.1
	// rainOrangeMM and rainRedMM in 3 hours are the Guangdong orange and
	// red rainstorm criteria (as the rule pack's rainfall_3h cites them).
	rainOrangeMM = 50.0
	rainRedMM    = 100.0
)

// rateAt is the rain rate (mm/h) of the field at a point and time.
func (r *RainstormSpec) rateAt(start time.Time, lat, lon float64, t time.Time) float64 {
	var sum float64
	for _, c := range r.Cells {
		from, until := start.Add(c.From.D()), start.Add(c.Until.D())
		if t.Before(from) || !t.Before(until) {
			continue
		}
		km := c.SpeedKmh * t.Sub(from).Hours()
		rad := c.HeadingDeg * math.Pi / 180
		clat := c.Lat + km*math.Cos(rad)/111.2
		clon := c.Lon + km*math.Sin(rad)/(111.2*math.Cos(c.Lat*math.Pi/180))
		dist := twin.DistanceKm(lat, lon, clat, clon)
		sum += c.PeakMMPerHour * math.Exp(-dist*dist/(2*c.RadiusKm*c.RadiusKm))
	}
	return sum
}

// rainstorm lays a rain field over the city: a rainfall reading per site
// and step, district rainstorm signals from the rain coming in the next 3
// hours, the plan (secure the site and evacuate its pits before 50 mm in
// 3 hours), and pits that fail above PitFailureMM.
func (d *drill) rainstorm(h *hazard) error {
	spec := d.s.Rainstorm
	n, ns := d.n, len(d.w.sites)
	h.rain = make([][]float64, n)
	for k := range n {
		h.rain[k] = make([]float64, ns)
		mid := d.start.Add(time.Duration(k)*d.step + d.step/2)
		for i, s := range d.w.sites {
			h.rain[k][i] = round1(spec.rateAt(d.start, s.Lat, s.Lon, mid) * d.step.Hours())
		}
	}
	src := "sitetwin/drill/" + d.s.ID
	win := max(1, int(3*time.Hour/d.step)) // steps in 3 hours
	back := make([][]float64, n)           // the 3 hours up to the end of step k
	ahead := make([][]float64, n)          // the 3 hours from the start of step k
	for k := range n {
		back[k], ahead[k] = make([]float64, ns), make([]float64, ns)
		for i := range ns {
			for j := max(0, k-win+1); j <= k; j++ {
				back[k][i] += h.rain[j][i]
			}
			for j := k; j < min(n, k+win); j++ {
				ahead[k][i] += h.rain[j][i]
			}
		}
	}
	for k := range n {
		mid := d.start.Add(time.Duration(k)*d.step + d.step/2)
		for i, s := range d.w.sites {
			if v := h.rain[k][i]; v >= 0.1 {
				h.events = append(h.events, &twin.Event{ID: fmt.Sprintf("%s-rain-%s-%d", d.s.ID, s.ID, k), Type: twin.TypeSensorReading, Source: src,
					Time: mid, Project: s.Project, Site: s.ID, Data: &twin.SensorReading{Kind: twin.SensorRainfall, Value: v, Unit: "mm"}})
			}
		}
	}
	// district signals
	var districts []string
	seen := map[string]bool{}
	for _, s := range d.w.sites {
		if !seen[s.District] {
			seen[s.District] = true
			districts = append(districts, s.District)
		}
	}
	for _, dn := range districts {
		level := ""
		for k := range n {
			var worst float64
			for i, s := range d.w.sites {
				if s.District == dn {
					worst = max(worst, ahead[k][i], back[k][i])
				}
			}
			next := level
			switch {
			case worst >= rainRedMM:
				next = twin.RainRed
			case worst >= rainOrangeMM:
				next = twin.RainOrange
			case level != "" && level != twin.RainCancelled:
				next = twin.RainCancelled
			}
			if next == level || next == "" {
				continue
			}
			level = next
			t := d.start.Add(time.Duration(k) * d.step)
			h.events = append(h.events, &twin.Event{ID: fmt.Sprintf("%s-signal-%s-%d", d.s.ID, slug(dn), k), Type: twin.TypeRainfallWarning, Source: src,
				Time: t, Project: twin.CityWide, Data: &twin.RainfallWarning{Level: level, Issued: twin.TimeWhen(t), District: dn}})
		}
	}
	// the plan: the field is the forecast, known from the start
	plan := newPlanner(d)
	for i := range d.w.sites {
		var forecast, arrives time.Time
		for k := range n {
			if forecast.IsZero() && ahead[k][i] >= rainOrangeMM {
				forecast = d.start.Add(time.Duration(k) * d.step)
			}
			if arrives.IsZero() && back[k][i] >= rainOrangeMM {
				arrives = d.stepTime(k)
			}
		}
		if forecast.IsZero() {
			continue
		}
		why := fmt.Sprintf("rain field: %.0f mm or more in 3 h from %s", rainOrangeMM, forecast.Format("01-02 15:04Z"))
		plan.want(i, ActionSecureSite, "", d.start, forecast, why)
		plan.hazardAt(i, ActionSecureSite, "", arrives)
		for _, pit := range d.w.pits[i] {
			plan.want(i, ActionEvacuatePit, pit, d.start, forecast, why)
			plan.hazardAt(i, ActionEvacuatePit, pit, arrives)
		}
	}
	h.actions = plan.finish()
	// pits that fail
	failMM := cmp.Or(spec.PitFailureMM, DefaultPitFailureMM)
	p := cmp.Or(spec.PitFailureProbability, DefaultPitFailureProbability)
	rng := rand.New(rand.NewPCG(d.s.Seed, 0x9175_4a11))
	for i := range d.w.sites {
		var at time.Time
		for k := range n {
			if back[k][i] > failMM {
				at = d.stepTime(k)
				break
			}
		}
		for _, pit := range d.w.pits[i] {
			draw := rng.Float64()
			if at.IsZero() || p < 0 || draw >= p {
				continue
			}
			injuries := 1 + rng.IntN(3)
			if a := plan.find(i, ActionEvacuatePit, pit); a != nil && !a.Done.After(at) {
				injuries = 0
			}
			in := d.newIncident(fmt.Sprintf("%s-pit-%s", d.s.ID, pit), i, at, twin.IncidentCollapse, injuries, pit,
				fmt.Sprintf("foundation pit %s failed after more than %.0f mm of rain in 3 h", pit, failMM))
			h.incidents = append(h.incidents, in)
			h.events = append(h.events, in.event(d.s.ID))
		}
	}
	return nil
}
