package citysim

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

var truthStart = time.Date(2026, 1, 1, 0, 0, 0, 0, cst)

func testCity(t *testing.T, cfg Config) *City {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The rain process over a year should give Shenzhen's climate: about
// 1,900 mm, most of it from April to September, and a handful to a few
// dozen rainstorm warnings, each cancelled after it is issued.
func TestRainClimatology(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		c := testCity(t, Config{Projects: 1, Seed: seed, Start: truthStart, Rate: 1})
		c.live.queue = nil // keep only the warnings the year raises
		var total, wet float64
		var last time.Time
		for h := range 365 * 24 {
			c.advanceRain(truthStart.Add(time.Duration(h) * time.Hour))
			for _, ep := range c.live.rain.eps {
				if ep.from.After(last) {
					mm := ep.mmph * ep.to.Sub(ep.from).Hours()
					total += mm
					if m := ep.from.In(cst).Month(); m >= time.April && m <= time.September {
						wet += mm
					}
					last = ep.from
				}
			}
		}
		issued := map[time.Time]time.Time{} // valid-until -> issued
		var cancels int
		for len(c.live.queue) > 0 {
			e := c.pop()
			if e.fam != famRain {
				t.Fatalf("unexpected due item %+v", e)
			}
			if e.b == 0 {
				issued[e.t0] = e.at
			} else {
				cancels++
				if at, ok := issued[e.t0]; !ok || !at.Before(e.at) {
					t.Errorf("seed %d: cancellation at %v without an earlier warning", seed, e.at)
				}
			}
		}
		t.Logf("seed %d: %.0f mm a year, %.0f%% April-September, %d warnings", seed, total, 100*wet/total, len(issued))
		if total < 1300 || total > 2700 {
			t.Errorf("seed %d: %.0f mm of rain in a year, want about 1,900", seed, total)
		}
		if wet < 0.7*total {
			t.Errorf("seed %d: only %.0f of %.0f mm in the wet season", seed, wet, total)
		}
		if len(issued) < 3 || len(issued) > 40 || cancels != len(issued) {
			t.Errorf("seed %d: %d warnings, %d cancellations", seed, len(issued), cancels)
		}
	}
}

// A rainstorm warning is city-wide, round-trips, and moves every twin to
// the warning's level until it is cancelled.
func TestRainWarningEvents(t *testing.T) {
	c := testCity(t, Config{Projects: 2, Seed: 1, Start: truthStart, Rate: 1})
	rules := twin.DefaultRules()
	tw := twin.NewProject("P-001", rules)
	for _, e := range c.Bootstrap() {
		if e.Project == "P-001" {
			if _, err := twin.Apply(tw, e, rules); err != nil {
				t.Fatal(err)
			}
		}
	}
	at := c.Start().Add(time.Hour)
	tests := []struct {
		name  string
		e     entry
		level string
	}{
		{"red", entry{at: at, fam: famRain, p: -1, a: 2, t0: at.Add(4 * time.Hour)}, twin.RainRed},
		{"cancelled", entry{at: at.Add(4 * time.Hour), fam: famRain, p: -1, a: 2, b: 1, t0: at.Add(4 * time.Hour)}, ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.live.n = uint64(i + 1)
			e := c.due(tt.e, tt.e.at)
			if e.Project != twin.CityWide || e.Type != twin.TypeRainfallWarning {
				t.Fatalf("event %+v", e)
			}
			b, err := twin.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			d, err := twin.Decode(b)
			if err != nil || !reflect.DeepEqual(d, e) {
				t.Fatalf("round trip of %s: %v", b, err)
			}
			if _, err := twin.Apply(tw, d, rules); err != nil {
				t.Fatal(err)
			}
			if tw.Weather.Rainstorm != tt.level {
				t.Errorf("rainstorm %q, want %q", tw.Weather.Rainstorm, tt.level)
			}
		})
	}
}

// Pits move as drawn: the trending ones at 2.6-3.4 mm/d over the day
// before Start (enough for the 2 mm/d rate alarm), the rest slowly.
func TestPitTruth(t *testing.T) {
	c := testCity(t, Config{Seed: 4, Start: truthStart})
	var trending int
	for _, s := range c.sites {
		for _, pt := range s.pits {
			moved := pt.displacement(1) - pt.displacement(0)
			switch {
			case pt.trend:
				trending++
				if moved < 2.6 || moved > 3.4 {
					t.Errorf("trending pit %s moved %.2f mm in the last day", pt.id, moved)
				}
			case moved < 0 || moved > 0.5:
				t.Errorf("pit %s moved %.2f mm in the last day", pt.id, moved)
			}
			if d := pt.displacement(10); d >= pt.alarmMM && !pt.trend {
				t.Errorf("pit %s reaches %.1f mm within 10 days", pt.id, d)
			}
		}
	}
	if trending != 2 {
		t.Errorf("%d trending pits, want 2", trending)
	}
}

// Dust spikes and noisy nights start at the documented rates: risk/96 per
// site and working hour, and 0.02 × risk per site and night.
func TestIncidentRates(t *testing.T) {
	c := testCity(t, Config{Seed: 5, Start: truthStart, Rate: 1})
	var risk float64
	for _, s := range c.sites {
		risk += s.p.contractor.risk
	}
	risk /= float64(len(c.sites))
	// Incidents last at least 30 minutes, so sampling every 15 minutes sees
	// every start.
	const days = 30
	dust, noise := 0, 0
	lastDust := make([]time.Time, len(c.sites))
	lastNoise := make([]time.Time, len(c.sites))
	for m := range days * 24 * 4 {
		at := truthStart.Add(time.Duration(m) * 15 * time.Minute)
		c.advanceSites(&c.live.dust, at)
		c.advanceSites(&c.live.noise, at)
		for i, s := range c.sites {
			if !s.dustFrom.Equal(lastDust[i]) {
				dust++
				lastDust[i] = s.dustFrom
				if h := s.dustFrom.In(cst).Hour(); h < 7 || h >= 19 {
					t.Errorf("dust spike at %v, outside working hours", s.dustFrom.In(cst))
				}
			}
			if !s.noiseFrom.Equal(lastNoise[i]) {
				noise++
				lastNoise[i] = s.noiseFrom
				if h := s.noiseFrom.In(cst).Hour(); h >= 1 && h < 22 {
					t.Errorf("night work starting at %v", s.noiseFrom.In(cst))
				}
			}
		}
	}
	siteDays := float64(len(c.sites) * days)
	dustRate := float64(dust) / (siteDays * 12)
	noiseRate := float64(noise) / siteDays
	t.Logf("mean risk %.2f: %.4f dust spikes per site-working-hour (documented %.4f), %.4f noisy nights per site-night (documented %.4f)",
		risk, dustRate, risk/96, noiseRate, 0.02*risk)
	// A site with a spike under way cannot start another, so the observed
	// rate is a little below the documented one.
	if math.Abs(dustRate-risk/96) > 0.15*risk/96 {
		t.Errorf("dust spike rate %.4f, want about %.4f", dustRate, risk/96)
	}
	if math.Abs(noiseRate-0.02*risk) > 0.2*0.02*risk {
		t.Errorf("noisy night rate %.4f, want about %.4f", noiseRate, 0.02*risk)
	}
}
