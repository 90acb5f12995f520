package twin

import (
	"math"
	"slices"
	"strings"
)

// sitePlan is the work a reading of each kind sets off at a site, worked
// out once instead of on every reading: which rule reads which series, in
// the order evaluateSite takes them (the kind's rules in rule-pack order,
// each over the kind's series in key order), with the keys of their values
// and alarms, and for a wind-at-jib rule the site's tower cranes with the
// factor that brings the site's 10 m wind to each jib.
//
// It holds only what a reading cannot change other than by adding a
// series, so a reading that adds one drops it, as does an event that adds
// equipment or (re)registers the site (terrain); it is rebuilt on the next
// reading. It also keeps each rule value once found in the site's Values,
// which no event removes. It belongs to the rules it was built from, and the counts of
// series and equipment it saw guard against a site changed by other means.
// It is never written: a restored twin builds its own.
type sitePlan struct {
	rules             *Rules
	series, equipment int
	kinds             map[string][]planStep // by kind; "" for every rule
	// bySeries finds a reading's series and its kind's steps without
	// building the series' key.
	bySeries map[seriesRef]seriesPlan
}

// seriesRef names a series by its kind and equipment ("" for the site's own
// sensor), as a reading does.
type seriesRef struct{ kind, equipment string }

// seriesPlan is a series with the steps a reading of its kind sets off.
type seriesPlan struct {
	ser   *Series
	steps []planStep
}

// planStep is one rule over one series, or one wind-at-jib rule over the
// site's cranes.
type planStep struct {
	rule *SensorRule
	// A series rule's series, the equipment it belongs to (nil for a
	// site's own sensor) and the key of its value and alarm: the rule id,
	// or rule@equipment.
	ser   *Series
	eq    *Equipment
	key   string
	unit  string     // the unit of the rule's value: the series' unit, per day for a rate
	value *RuleValue // its value in the site's Values once it has one
	// A wind-at-jib rule's site series of each of its kinds (nil where the
	// site has none) and its cranes.
	site   []*Series
	cranes []cranePlan
}

// cranePlan is a tower crane as a wind-at-jib rule reads it.
type cranePlan struct {
	id    string
	eq    *Equipment
	key   string     // rule@crane
	value *RuleValue // its value in the site's Values once it has one
	own   []*Series  // the crane's own series of each of the rule's kinds, nil where it has none
	// lift is (height / 10 m)^alpha, the GB 50009 power-law factor from
	// the site's 10 m wind to the jib; 0 when the height is unknown.
	lift float64
}

// current returns the site's plan, built afresh when it has none that is
// current.
func (s *SiteTwin) current(r *Rules) *sitePlan {
	p := s.plan
	if p == nil || p.rules != r || p.series != len(s.Series) || p.equipment != len(s.Equipment) {
		p = &sitePlan{rules: r, series: len(s.Series), equipment: len(s.Equipment), kinds: map[string][]planStep{}}
		p.bySeries = make(map[seriesRef]seriesPlan, len(s.Series))
		for k, ser := range s.Series {
			// by the key, as a reading's seriesKey names it
			kind, equipment, _ := strings.Cut(k, "@")
			p.bySeries[seriesRef{kind, equipment}] = seriesPlan{ser: ser, steps: p.steps(s, ser.Kind)}
		}
		s.plan = p
	}
	return p
}

// planFor returns the steps a reading of kind (every rule when kind is "")
// sets off at the site.
func (s *SiteTwin) planFor(r *Rules, kind string) []planStep {
	return s.current(r).steps(s, kind)
}

// seriesFor returns a reading's series, with the steps it sets off, and
// false when the site has no such series yet.
func (s *SiteTwin) seriesFor(r *Rules, kind, equipment string) (seriesPlan, bool) {
	sp, ok := s.current(r).bySeries[seriesRef{kind, equipment}]
	return sp, ok
}

// steps returns the steps of a kind, worked out on first use.
func (p *sitePlan) steps(s *SiteTwin, kind string) []planStep {
	steps, ok := p.kinds[kind]
	if !ok {
		steps = s.buildSteps(p.rules, kind)
		p.kinds[kind] = steps
	}
	return steps
}

// buildSteps works out the steps of one kind (every rule when kind is "").
func (s *SiteTwin) buildSteps(r *Rules, kind string) []planStep {
	var rules []*SensorRule
	if kind == "" {
		for i := range r.Sensor {
			rules = append(rules, &r.Sensor[i])
		}
	} else {
		rules = r.RulesFor(kind)
	}
	keys := make([]string, 0, len(s.Series))
	for k, ser := range s.Series {
		if kind == "" || ser.Kind == kind {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	steps := []planStep{}
	for _, rule := range rules {
		if rule.Scope == ScopeCraneJib {
			steps = append(steps, s.craneStep(r, rule))
			continue
		}
		for _, k := range rule.Kinds {
			if kind != "" && k != kind {
				continue
			}
			for _, key := range keys {
				ser := s.Series[key]
				if ser.Kind != k {
					continue
				}
				st := planStep{rule: rule, ser: ser, key: rule.ID, unit: ser.Unit}
				if ser.Equipment != "" {
					st.key += "@" + ser.Equipment
					st.eq = s.Equipment[ser.Equipment]
				}
				if rule.Aggregate == AggRatePerDay {
					st.unit += "/d"
				}
				steps = append(steps, st)
			}
		}
	}
	return steps
}

// craneStep works out a wind-at-jib rule's step: the site's own series of
// the rule's kinds, and its tower cranes in id order.
func (s *SiteTwin) craneStep(r *Rules, rule *SensorRule) planStep {
	st := planStep{rule: rule}
	alpha := r.TerrainAlpha[s.Terrain]
	if alpha == 0 {
		alpha = r.TerrainAlpha["C"]
	}
	for _, k := range rule.Kinds {
		st.site = append(st.site, s.Series[k])
	}
	for _, id := range sortedKeys(s.Equipment) {
		eq := s.Equipment[id]
		if eq.Kind != KindTowerCrane {
			continue
		}
		c := cranePlan{id: id, eq: eq, key: rule.ID + "@" + id}
		for _, k := range rule.Kinds {
			c.own = append(c.own, s.Series[seriesKey(k, id)])
		}
		if eq.HeightM > 0 {
			c.lift = math.Pow(eq.HeightM/10, alpha)
		}
		st.cranes = append(st.cranes, c)
	}
	return st
}
