package twin

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Incidents and the sensor-alarm memory of a site.
//
// An incident.reported is kept in its site's recent list (oldest first, by
// time then id) and raises a site alarm "incident@<id>" at the level the
// pack's incidents section gives its severity, until incidents.days of
// event time after the incident; the project's clock clears it. An
// incident older than a year behind the project's clock, or beyond the 50
// latest, leaves the list and is only counted (EarlierIncidents), so that
// the credit score, derived from the facts, still deducts it.
//
// Every sensor alarm raised at a site is remembered with its time for
// SensorAlarmWindow (7 days) of the site's clock, so that "sensor alarms in
// the last week" is a figure a model can read from the view.

// compareIncidents orders a site's incidents by time, then id.
func compareIncidents(x, y SiteIncident) int {
	if c := x.Time.Compare(y.Time); c != 0 {
		return c
	}
	return strings.Compare(x.ID, y.ID)
}

// noteSensorAlarm remembers that a sensor rule raised an alarm at the site
// with the current event, and forgets those older than SensorAlarmWindow
// behind the site's clock.
func (a *applier) noteSensorAlarm(s *SiteTwin, rule string) {
	al := SensorAlarm{Time: a.e.Time, Rule: rule}
	i, _ := slices.BinarySearchFunc(s.SensorAlarms, al, func(x, y SensorAlarm) int {
		if c := x.Time.Compare(y.Time); c != 0 {
			return c
		}
		return strings.Compare(x.Rule, y.Rule)
	})
	s.SensorAlarms = slices.Insert(s.SensorAlarms, i, al)
	if n := len(s.SensorAlarms); n > maxSensorAlarms {
		s.SensorAlarms = slices.Delete(s.SensorAlarms, 0, n-maxSensorAlarms)
	}
	s.pruneSensorAlarms(later(s.Clock, a.e.Time))
}

// pruneSensorAlarms forgets the sensor alarms at or before at minus the
// window.
func (s *SiteTwin) pruneSensorAlarms(at time.Time) {
	cutoff := at.Add(-SensorAlarmWindow)
	n := 0
	for n < len(s.SensorAlarms) && !s.SensorAlarms[n].Time.After(cutoff) {
		n++
	}
	if n == len(s.SensorAlarms) {
		s.SensorAlarms = nil
	} else if n > 0 {
		s.SensorAlarms = slices.Delete(s.SensorAlarms, 0, n)
	}
}

// evaluateIncidents moves the incidents that have left each site's recent
// list to its count of earlier ones, and sets the incident alarms at the
// project's clock.
func (a *applier) evaluateIncidents() {
	p, r := a.p, a.r
	at := p.Clock
	rule := &SensorRule{ID: "incident", Action: r.Incidents.Action}
	hold := time.Duration(r.Incidents.Days * float64(day))
	for _, id := range sortedKeys(p.Sites) {
		s := p.Sites[id]
		if len(s.Incidents) == 0 {
			continue
		}
		cutoff := at.Add(-incidentRetentionDays * day)
		n := 0
		for n < len(s.Incidents) && (!s.Incidents[n].Time.After(cutoff) || len(s.Incidents)-n > maxSiteIncidents) {
			n++
		}
		if n > 0 {
			a.incidentsMoved = true
		}
		for _, in := range s.Incidents[:n] {
			ei := s.EarlierIncidents
			if ei == nil {
				ei = &EarlierIncidents{Counts: map[string]int{}}
				s.EarlierIncidents = ei
			}
			ei.Counts[in.Severity]++
			ei.Latest = later(ei.Latest, in.Time)
			a.setAlarm(s.Alarms, s.ID, "incident@"+in.ID, rule, in.Equipment, LevelOK, 0, 0, "", "")
		}
		if n == len(s.Incidents) {
			s.Incidents = nil
		} else if n > 0 {
			s.Incidents = slices.Delete(s.Incidents, 0, n)
		}
		changed := n > 0
		for _, in := range s.Incidents {
			key := "incident@" + in.ID
			lvl := LevelOK
			until := in.Time.Add(hold)
			if hold > 0 && at.Before(until) {
				lvl = r.Incidents.Level[in.Severity]
			}
			if al, had := s.Alarms[key]; had && al.Level == lvl || !had && lvl == LevelOK {
				continue // nothing changes: most incidents are past their alarm
			}
			changed = true
			injured := ""
			if in.Injuries > 0 {
				injured = fmt.Sprintf(", %d injured", in.Injuries)
			}
			reason := fmt.Sprintf("%s incident %s (%s%s) at %s, alarm until %s", in.Severity, in.ID, in.Category, injured,
				in.Time.In(r.loc).Format("2006-01-02 15:04"), until.In(r.loc).Format("2006-01-02 15:04"))
			a.setAlarm(s.Alarms, s.ID, key, rule, in.Equipment, lvl, float64(in.Injuries), 0, "", reason)
		}
		if changed {
			s.updateHealth()
		}
	}
}

// sensorAlarmsSince counts the site's sensor alarms after from (and at or
// before at), in total and by rule.
func (s *SiteTwin) sensorAlarmsSince(from, at time.Time) (int, map[string]int) {
	n := 0
	var by map[string]int
	for _, al := range s.SensorAlarms {
		if al.Time.After(from) && !al.Time.After(at) {
			n++
			if by == nil {
				by = map[string]int{}
			}
			by[al.Rule]++
		}
	}
	return n, by
}

// incidentsSince counts the site's recent incidents after from (and at or
// before at).
func (s *SiteTwin) incidentsSince(from, at time.Time) int {
	n := 0
	for _, in := range s.Incidents {
		if in.Time.After(from) && !in.Time.After(at) {
			n++
		}
	}
	return n
}

// later returns the later of two times.
func later(x, y time.Time) time.Time {
	if x.After(y) {
		return x
	}
	return y
}
