package scenarios

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Team defaults (sitetwin defaults, not published figures: set a city's
// own in the scenario).
const (
	DefaultTeamSpeedKmh = 40.0             // an emergency vehicle's average road speed in a city
	DefaultOnScene      = 90 * time.Minute // work at the scene before the team is free again
)

// Incident is something the drill produces that needs teams: a collapse,
// a fire, injured people.
type Incident struct {
	ID          string    `json:"id"`
	Project     string    `json:"project"`
	Site        string    `json:"site"`
	District    string    `json:"district,omitempty"`
	Lat         float64   `json:"lat"`
	Lon         float64   `json:"lon"`
	Time        time.Time `json:"time"`
	Category    string    `json:"category"`
	Severity    string    `json:"severity"`
	Equipment   string    `json:"equipment,omitempty"`
	Injuries    int       `json:"injuries"`
	Description string    `json:"description"`
	// Needs are the capabilities it asks for, one team each.
	Needs []string `json:"needs"`
	// FirstResponse is the first team's arrival; ResponseMinutes the time
	// from the report to it.
	FirstResponse   time.Time `json:"first_response,omitzero"`
	ResponseMinutes float64   `json:"response_minutes"`
	// Unserved: no team arrived before the drill ended (Reason says why).
	Unserved bool   `json:"unserved"`
	Reason   string `json:"reason,omitempty"`
}

// Assignment is a team sent to an incident.
type Assignment struct {
	Incident   string `json:"incident"`
	Team       string `json:"team"`
	Capability string `json:"capability"`
	// Requested is when the incident asked; Dispatched when the team left
	// (later when every capable team was busy: the queue), Arrived and
	// Cleared at the scene; a medical team then takes the injured to
	// Hospital.
	Requested   time.Time `json:"requested"`
	Dispatched  time.Time `json:"dispatched"`
	Arrived     time.Time `json:"arrived"`
	Cleared     time.Time `json:"cleared"`
	RoadKm      float64   `json:"road_km"`
	TravelMin   float64   `json:"travel_minutes"`
	QueuedMin   float64   `json:"queued_minutes"`
	Hospital    string    `json:"hospital,omitempty"`
	AtHospital  time.Time `json:"at_hospital,omitzero"`
	ResponseMin float64   `json:"response_minutes"`
}

// DispatchEvent is a moment of the dispatch, for the timeline.
type DispatchEvent struct {
	Time     time.Time `json:"time"`
	What     string    `json:"what"` // dispatched, arrived, cleared, unserved
	Team     string    `json:"team,omitempty"`
	Incident string    `json:"incident"`
	Site     string    `json:"site"`
}

// Dispatch is the result of assigning teams to the drill's incidents.
type Dispatch struct {
	Incidents   []*Incident
	Assignments []Assignment
}

func (x *Dispatch) events() []DispatchEvent {
	var out []DispatchEvent
	site := map[string]string{}
	for _, in := range x.Incidents {
		site[in.ID] = in.Site
		if in.Unserved {
			out = append(out, DispatchEvent{Time: in.Time, What: "unserved", Incident: in.ID, Site: in.Site})
		}
	}
	for _, a := range x.Assignments {
		s := site[a.Incident]
		out = append(out,
			DispatchEvent{Time: a.Dispatched, What: "dispatched", Team: a.Team, Incident: a.Incident, Site: s},
			DispatchEvent{Time: a.Arrived, What: "arrived", Team: a.Team, Incident: a.Incident, Site: s},
			DispatchEvent{Time: a.Cleared, What: "cleared", Team: a.Team, Incident: a.Incident, Site: s})
	}
	slices.SortStableFunc(out, func(a, b DispatchEvent) int { return a.Time.Compare(b.Time) })
	return out
}

// detour is the scenario's road detour factor.
func (d *drill) detour() float64 { return cmp.Or(d.s.DetourFactor, DefaultDetourFactor) }

// newIncident builds an incident at site i; its needs follow its category.
func (d *drill) newIncident(id string, i int, at time.Time, category string, injuries int, equipment, desc string) *Incident {
	s := d.w.sites[i]
	in := &Incident{ID: id, Project: s.Project, Site: s.ID, District: s.District, Lat: s.Lat, Lon: s.Lon, Time: at,
		Category: category, Severity: twin.IncidentSerious, Equipment: equipment, Injuries: injuries, Description: desc}
	if injuries == 0 && category != twin.IncidentCrane && category != twin.IncidentCollapse {
		in.Severity = twin.IncidentMinor
	}
	if category == twin.IncidentFire {
		in.Needs = []string{CapFire}
	} else {
		in.Needs = []string{CapRescue}
	}
	if injuries > 0 {
		in.Needs = append(in.Needs, CapMedical)
	}
	return in
}

// event is the incident.reported event of an incident.
func (in *Incident) event(drill string) *twin.Event {
	sev := in.Severity
	return &twin.Event{ID: in.ID, Type: twin.TypeIncidentReported, Source: "sitetwin/drill/" + drill, Time: in.Time,
		Project: in.Project, Site: in.Site,
		Data: &twin.IncidentReported{Incident: in.ID, Severity: sev, Category: in.Category, Equipment: in.Equipment,
			Injuries: in.Injuries, Description: in.Description}}
}

// teamState is a team during the dispatch.
type teamState struct {
	t        *Team
	lat, lon float64
	free     time.Time
}

// dispatch assigns teams to the incidents in the order they come, one
// team per capability an incident needs: the nearest capable team by
// travel time among those free when it is reported; when every capable
// team is busy, the one that can arrive first once free (the incident
// queues). Travel time is the great-circle distance times the detour
// factor at the team's speed. A team works at the scene for its on-scene
// time; a medical team then takes the injured to the nearest hospital and
// is free there; other teams are free at the scene. An incident no team
// reaches before the drill ends is unserved.
func (d *drill) dispatch() error {
	x := &Dispatch{Incidents: d.h.incidents}
	d.dispatched = x
	teams := make([]*teamState, len(d.s.Resources.Teams))
	for i := range d.s.Resources.Teams {
		t := &d.s.Resources.Teams[i]
		teams[i] = &teamState{t: t, lat: t.Base.Lat, lon: t.Base.Lon, free: d.start}
	}
	detour := d.detour()
	travel := func(ts *teamState, lat, lon float64) (km float64, dt time.Duration) {
		km = twin.DistanceKm(ts.lat, ts.lon, lat, lon) * detour
		speed := cmp.Or(ts.t.SpeedKmh, DefaultTeamSpeedKmh)
		return km, time.Duration(km / speed * float64(time.Hour)).Round(time.Second)
	}
	for _, in := range x.Incidents {
		var reasons []string
		for _, need := range in.Needs {
			var best *teamState
			var bestArrive time.Time
			var bestKm float64
			var bestFree bool
			for _, ts := range teams {
				if !slices.Contains(ts.t.Capabilities, need) {
					continue
				}
				free := !ts.free.After(in.Time)
				leave := in.Time
				if !free {
					leave = ts.free
				}
				km, dt := travel(ts, in.Lat, in.Lon)
				arrive := leave.Add(dt)
				better := best == nil || free && !bestFree || free == bestFree && arrive.Before(bestArrive)
				if better {
					best, bestArrive, bestKm, bestFree = ts, arrive, km, free
				}
			}
			if best == nil {
				reasons = append(reasons, fmt.Sprintf("no team can do %s", need))
				continue
			}
			if bestArrive.After(d.end) {
				reasons = append(reasons, fmt.Sprintf("no %s team could arrive before the drill ended", need))
				continue
			}
			leave := in.Time
			if best.free.After(leave) {
				leave = best.free
			}
			a := Assignment{Incident: in.ID, Team: best.t.ID, Capability: need, Requested: in.Time, Dispatched: leave, Arrived: bestArrive,
				RoadKm: math.Round(bestKm*10) / 10, TravelMin: minutes(bestArrive.Sub(leave)), QueuedMin: minutes(leave.Sub(in.Time)),
				ResponseMin: minutes(bestArrive.Sub(in.Time))}
			a.Cleared = bestArrive.Add(cmp.Or(best.t.OnScene.D(), DefaultOnScene))
			best.lat, best.lon, best.free = in.Lat, in.Lon, a.Cleared
			if need == CapMedical && len(d.s.Resources.Hospitals) > 0 {
				h := nearestHospital(d.s.Resources.Hospitals, in.Lat, in.Lon)
				_, dt := travel(best, h.Lat, h.Lon)
				a.Hospital, a.AtHospital = h.ID, a.Cleared.Add(dt)
				best.lat, best.lon, best.free = h.Lat, h.Lon, a.AtHospital
			}
			x.Assignments = append(x.Assignments, a)
			if in.FirstResponse.IsZero() || a.Arrived.Before(in.FirstResponse) {
				in.FirstResponse = a.Arrived
				in.ResponseMinutes = a.ResponseMin
			}
		}
		if in.FirstResponse.IsZero() {
			in.Unserved = true
		}
		in.Reason = strings.Join(reasons, "; ")
	}
	return nil
}

func nearestHospital(hs []Hospital, lat, lon float64) Hospital {
	best, bestKm := hs[0], math.Inf(1)
	for _, h := range hs {
		if km := twin.DistanceKm(lat, lon, h.Lat, h.Lon); km < bestKm {
			best, bestKm = h, km
		}
	}
	return best
}

func minutes(d time.Duration) float64 { return math.Round(d.Minutes()*10) / 10 }
