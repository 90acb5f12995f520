package twin

import (
	"math"
	"testing"
)

// TestSitePlanFollowsTheSite checks that what a site's evaluation plan
// holds is worked out again when the site changes after readings have
// started: a crane installed, the site re-registered in another terrain, a
// crane reinstalled higher, an anemometer fitted to a crane. Each step's
// value is the GB 50009 power law over the current site, as a twin that
// never kept a plan would compute it.
func TestSitePlanFollowsTheSite(t *testing.T) {
	p := siteTwin(t)
	r := pack()
	jib := func(v10, heightM float64, terrain string) float64 {
		return round6(v10 * math.Pow(heightM/10, r.TerrainAlpha[terrain]))
	}
	value := func(key string) float64 {
		t.Helper()
		v, ok := p.Sites[testSite].Values[key]
		if !ok {
			t.Fatalf("no value %s; values %v", key, p.Sites[testSite].Values)
		}
		return v.Value
	}
	steps := []struct {
		name  string
		event *Event
		want  float64 // crane_wind@TC1
	}{
		{"site wind before any crane", reading("2026-06-12T02:00:00Z", SensorWindSpeed, 8, "m/s", ""), math.NaN()},
		{"crane installed at 60 m", craneInstalled("2026-06-12T02:01:00Z", "TC1", 60, 20), jib(8, 60, "C")},
		{"next site reading", reading("2026-06-12T02:02:00Z", SensorWindSpeed, 9, "m/s", ""), jib(9, 60, "C")},
		{"site re-registered in terrain D", siteAdded("2026-06-12T02:03:00Z", testSite, "D"), jib(9, 60, "C")},
		{"reading after the terrain changed", reading("2026-06-12T02:04:00Z", SensorWindSpeed, 9, "m/s", ""), jib(9, 60, "D")},
		{"crane reinstalled at 120 m", craneInstalled("2026-06-12T02:05:00Z", "TC1", 120, 20), jib(9, 120, "D")},
		{"reading after the reinstallation", reading("2026-06-12T02:06:00Z", SensorWindSpeed, 9, "m/s", ""), jib(9, 120, "D")},
		{"the crane's own anemometer reads more", reading("2026-06-12T02:07:00Z", SensorWindSpeed, 19, "m/s", "TC1"), 19},
	}
	for _, st := range steps {
		applyOne(t, p, st.event)
		if math.IsNaN(st.want) {
			if _, ok := p.Sites[testSite].Values["crane_wind@TC1"]; ok {
				t.Fatalf("%s: a crane value before any crane", st.name)
			}
			continue
		}
		if got := value("crane_wind@TC1"); got != st.want {
			t.Errorf("%s: crane_wind@TC1 = %v, want %v", st.name, got, st.want)
		}
	}
	// Whatever the plan held, the twin written and read back (with no
	// plan) goes on to the same value.
	again := restore(t, twinJSON(t, p))
	e := reading("2026-06-12T02:08:00Z", SensorWindSpeed, 12, "m/s", "")
	applyOne(t, p, e)
	applyOne(t, again, e)
	if a, b := value("crane_wind@TC1"), again.Sites[testSite].Values["crane_wind@TC1"].Value; a != b {
		t.Errorf("after a restore: %v, never restored: %v", b, a)
	}
}
