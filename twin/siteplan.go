package twin

import (
	"math"
	"slices"
)

// sitePlan is the work a reading sets off at a site, worked out once
// instead of on every reading: for each series, the steps of its kind —
// which rule reads which series, in the order the site's rules are
// evaluated (the kind's rules in rule-pack order, each over the kind's
// series in key order), with the keys of their values and alarms, and for
// a wind-at-jib rule the site's tower cranes with the factor that brings
// the site's 10 m wind to each jib. The steps hang off each Series; the
// plan itself only says which steps are current: those of a series whose
// plan is the site's.
//
// The steps hold only what a reading cannot change other than by adding
// a series, so a reading that adds one makes a new plan, as does an event
// that adds equipment or (re)registers the site (terrain). A plan belongs
// to the rules it was built from, and the counts of series and equipment
// it saw guard against a site changed by other means. The steps also keep
// each rule value once found in the site's Values, which no event removes.
// None of it is written: a restored twin builds its own.
type sitePlan struct {
	rules             *Rules
	series, equipment int
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
	crane *craneStep // a wind-at-jib rule's; nil for a series rule
}

// craneStep is what a wind-at-jib rule reads: the site's own series of
// each of its kinds (nil where the site has none) and the site's tower
// cranes, in id order.
type craneStep struct {
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

// seriesFor returns a reading's series (nil when the site has none yet)
// with the steps a reading of it sets off, making the site's plan afresh
// when it has none that is current.
func (s *SiteTwin) seriesFor(r *Rules, kind, equipment string) (*Series, []planStep) {
	var ser *Series
	if equipment == "" {
		ser = s.Series[kind]
	} else {
		var buf [64]byte
		ser = s.Series[string(append(append(append(buf[:0], kind...), '@'), equipment...))]
	}
	if ser == nil {
		return nil, nil
	}
	p := s.plan
	if p == nil || p.rules != r || p.series != len(s.Series) || p.equipment != len(s.Equipment) || ser.plan != p {
		p = &sitePlan{rules: r, series: len(s.Series), equipment: len(s.Equipment)}
		kinds := map[string][]planStep{}
		for _, x := range s.Series {
			steps, ok := kinds[x.Kind]
			if !ok {
				steps = s.buildSteps(r, x.Kind)
				kinds[x.Kind] = steps
			}
			x.plan, x.steps = p, steps
		}
		s.plan = p
	}
	return ser, ser.steps
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
	var steps []planStep
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
	st := planStep{rule: rule, crane: &craneStep{}}
	alpha := r.TerrainAlpha[s.Terrain]
	if alpha == 0 {
		alpha = r.TerrainAlpha["C"]
	}
	for _, k := range rule.Kinds {
		st.crane.site = append(st.crane.site, s.Series[k])
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
		st.crane.cranes = append(st.crane.cranes, c)
	}
	return st
}
