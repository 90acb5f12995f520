package twin

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestDefaultRules(t *testing.T) {
	r := pack()
	if r.Name != "shenzhen" || r.Location().String() != "Asia/Shanghai" {
		t.Fatalf("pack %s in %v", r.Name, r.Location())
	}
	if r.AllowedLateness.D() != 5*time.Minute || r.DedupHorizon.D() != 10*time.Minute || r.MaxFuture.D() != time.Hour {
		t.Errorf("lateness %v, horizon %v, max future %v", r.AllowedLateness.D(), r.DedupHorizon.D(), r.MaxFuture.D())
	}
	for _, k := range []string{"allowed_lateness", "dedup_horizon", "max_future"} {
		if r.Sources[k] == "" {
			t.Errorf("no sources note on %s", k)
		}
	}
	for _, sr := range r.Sensor {
		if sr.Source == "" || sr.Label == "" || sr.Action == "" {
			t.Errorf("rule %s lacks a source, label or action", sr.ID)
		}
	}
	// The thresholds the regulator's issue names.
	pm10 := r.RulesFor(SensorPM10)[0]
	if *pm10.Band.Warn != 150 || *pm10.Band.Stop != 200 || *pm10.Band.Clear != 150 || pm10.Window.D() != time.Hour || pm10.Aggregate != AggMean {
		t.Errorf("pm10 rule %+v", pm10.Band)
	}
	noise := r.RulesFor(SensorNoise)
	if len(noise) != 2 || *noise[0].Periods[0].Band.Stop != 70 || *noise[0].Periods[1].Band.Stop != 55 || *noise[1].Periods[0].Band.Stop != 55+15 {
		t.Errorf("noise rules %+v", noise)
	}
	if got := r.SeriesFor(SensorPitDisplacement).Bucket.D(); got != time.Hour {
		t.Errorf("pit bucket %v", got)
	}
	if got := r.SeriesFor(SensorVibration).Bucket.D(); got != time.Minute {
		t.Errorf("default bucket %v", got)
	}
	again, err := ParseRules(DefaultRulesJSON())
	if err != nil || again.Name != r.Name || len(again.Sensor) != len(r.Sensor) {
		t.Fatalf("ParseRules(DefaultRulesJSON()): %v", err)
	}
}

func TestBandNext(t *testing.T) {
	pm10 := pack().RulesFor(SensorPM10)[0].Band
	spi := &pack().Schedule.Band
	noClear := &Band{Warn: ptr(2.5), Stop: ptr(5)}
	stopOnly := &Band{Stop: ptr(70)}
	tests := []struct {
		name    string
		band    *Band
		cur     Level
		x       float64
		want    Level
		wantThr float64 // NaN for none
	}{
		{"pm10 150 is not above 150", pm10, LevelOK, 150, LevelOK, math.NaN()},
		{"pm10 150.1 warns", pm10, LevelOK, 150.1, LevelWarn, 150},
		{"pm10 200 only warns", pm10, LevelOK, 200, LevelWarn, 150},
		{"pm10 200.1 stops", pm10, LevelOK, 200.1, LevelStop, 200},
		{"pm10 warn holds at 150", pm10, LevelWarn, 150, LevelWarn, 150},
		{"pm10 warn clears at 149.9", pm10, LevelWarn, 149.9, LevelOK, math.NaN()},
		{"pm10 warn escalates at 201", pm10, LevelWarn, 201, LevelStop, 200},
		{"pm10 stop holds at 170", pm10, LevelStop, 170, LevelStop, 200},
		{"pm10 stop holds at 150", pm10, LevelStop, 150, LevelStop, 200},
		{"pm10 stop clears at 149", pm10, LevelStop, 149, LevelOK, math.NaN()},
		{"spi 0.90 is not below 0.90", spi, LevelOK, 0.9, LevelOK, math.NaN()},
		{"spi 0.89 warns", spi, LevelOK, 0.89, LevelWarn, 0.9},
		{"spi 0.79 stops", spi, LevelOK, 0.79, LevelStop, 0.8},
		{"spi warn holds at 0.91", spi, LevelWarn, 0.91, LevelWarn, 0.9},
		{"spi warn holds at 0.92", spi, LevelWarn, 0.92, LevelWarn, 0.9},
		{"spi warn clears above 0.92", spi, LevelWarn, 0.921, LevelOK, math.NaN()},
		{"spi stop holds at 0.81", spi, LevelStop, 0.81, LevelStop, 0.8},
		{"spi stop holds at 0.82 (stop_clear)", spi, LevelStop, 0.82, LevelStop, 0.8},
		{"spi stop eases to warn above 0.82", spi, LevelStop, 0.85, LevelWarn, 0.9},
		{"spi stop eases past warn to a held warn at 0.91", spi, LevelStop, 0.91, LevelWarn, 0.9},
		{"spi stop clears at 0.95", spi, LevelStop, 0.95, LevelOK, math.NaN()},
		{"no clear: clears below warn", noClear, LevelStop, 2.4, LevelOK, math.NaN()},
		{"no clear: holds at warn", noClear, LevelStop, 2.5, LevelStop, 5},
		{"stop only: 70 is ok", stopOnly, LevelOK, 70, LevelOK, math.NaN()},
		{"stop only: 70.1 stops", stopOnly, LevelOK, 70.1, LevelStop, 70},
		{"stop only: holds at 70", stopOnly, LevelStop, 70, LevelStop, 70},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, thr := tt.band.Next(tt.cur, tt.x)
			if got != tt.want || !(thr == tt.wantThr || math.IsNaN(thr) && math.IsNaN(tt.wantThr)) {
				t.Errorf("Next(%v, %v) = %v, %v; want %v, %v", tt.cur, tt.x, got, thr, tt.want, tt.wantThr)
			}
		})
	}
}

// editPack returns the default pack's JSON after edit changed it as a
// generic value.
func editPack(t *testing.T, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(DefaultRulesJSON(), &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sensorRule returns the pack's sensor rule with the id, as a generic map.
func sensorRule(m map[string]any, id string) map[string]any {
	for _, r := range m["sensor_rules"].([]any) {
		if rm := r.(map[string]any); rm["id"] == id {
			return rm
		}
	}
	panic("no rule " + id)
}

func TestParseRulesErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(m map[string]any)
		want string // part of the error text
	}{
		{"unknown field", func(m map[string]any) { m["sensor_rule"] = []any{} }, "unknown field"},
		{"no name", func(m map[string]any) { delete(m, "name") }, "name is required"},
		{"bad timezone", func(m map[string]any) { m["timezone"] = "Mars/Olympus" }, "timezone"},
		{"zero lateness", func(m map[string]any) { m["allowed_lateness"] = "0s" }, "allowed_lateness"},
		{"lateness as number", func(m map[string]any) { m["allowed_lateness"] = 300 }, "duration must be a string"},
		{"horizon shorter than lateness", func(m map[string]any) { m["dedup_horizon"] = "1m" }, "dedup_horizon"},
		{"no max_future", func(m map[string]any) { delete(m, "max_future") }, "max_future must be positive"},
		{"zero max_future", func(m map[string]any) { m["max_future"] = "0s" }, "max_future must be positive"},
		{"negative max_future", func(m map[string]any) { m["max_future"] = "-1h" }, "max_future must be positive"},
		{"no default series", func(m map[string]any) { delete(m["series"].(map[string]any), "default") }, `"default"`},
		{"series of an unknown kind", func(m map[string]any) {
			m["series"].(map[string]any)["co2"] = map[string]any{"bucket": "1m", "retention": "1h"}
		}, `series "co2"`},
		{"terrain alpha missing", func(m map[string]any) { delete(m["terrain_alpha"].(map[string]any), "D") }, "terrain D"},
		{"duplicate rule id", func(m map[string]any) { sensorRule(m, "pm25_hourly")["id"] = "pm10_hourly" }, "unique"},
		{"rule without source", func(m map[string]any) { delete(sensorRule(m, "heat"), "source") }, "source is required"},
		{"rule of an unknown kind", func(m map[string]any) { sensorRule(m, "heat")["kinds"] = []any{"co2"} }, `"co2" is not a sensor kind`},
		{"window longer than retention", func(m map[string]any) { sensorRule(m, "pm10_hourly")["window"] = "2h" }, "longer than the retention"},
		{"unknown aggregate", func(m map[string]any) { sensorRule(m, "heat")["aggregate"] = "median" }, "unknown aggregate"},
		{"rate without min_span", func(m map[string]any) { delete(sensorRule(m, "pit_rate"), "min_span") }, "min_span"},
		{"unknown scope", func(m map[string]any) { sensorRule(m, "heat")["scope"] = "district" }, "unknown scope"},
		{"band and relative", func(m map[string]any) {
			sensorRule(m, "heat")["relative"] = sensorRule(m, "pit_rate")["relative"]
		}, "exactly one of band"},
		{"clear above warn", func(m map[string]any) {
			sensorRule(m, "heat")["band"] = map[string]any{"warn": 37, "stop": 40, "clear": 38}
		}, "clear must not be beyond"},
		{"stop below warn", func(m map[string]any) {
			sensorRule(m, "heat")["band"] = map[string]any{"warn": 40, "stop": 37}
		}, "stop must be beyond warn"},
		{"period clock 25:00", func(m map[string]any) {
			p := sensorRule(m, "noise_leq")["periods"].([]any)[0].(map[string]any)
			p["to"] = "25:00"
		}, "HH:MM"},
		{"leq of a kind that is not in decibels", func(m map[string]any) {
			r := sensorRule(m, "pm10_hourly")
			r["aggregate"] = "leq"
		}, "leq"},
		{"relative base unknown", func(m map[string]any) {
			sensorRule(m, "pit_rate")["relative"].(map[string]any)["base"] = "depth_m"
		}, "not an equipment limit"},
		{"bad level name", func(m map[string]any) {
			m["funds"].(map[string]any)["level"] = "red"
		}, "level must be ok, warn or stop"},
		{"rectification without a critical level", func(m map[string]any) {
			delete(m["rectification"].(map[string]any)["overdue"].(map[string]any), "critical")
		}, "critical"},
		{"zero credit", func(m map[string]any) { m["credit"].(map[string]any)["initial"] = 0 }, "credit.initial"},
		{"zero pay cycle", func(m map[string]any) { m["wages"].(map[string]any)["max_cycle_days"] = 0 }, "max_cycle_days"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRules(editPack(t, tt.edit))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseRules error %v, want one that mentions %q", err, tt.want)
			}
		})
	}
}

func TestLevelJSON(t *testing.T) {
	for _, l := range []Level{LevelOK, LevelWarn, LevelStop} {
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var back Level
		if err := json.Unmarshal(b, &back); err != nil || back != l {
			t.Errorf("%v -> %s -> %v, %v", l, b, back, err)
		}
	}
	var l Level
	if err := json.Unmarshal([]byte(`"red"`), &l); err == nil {
		t.Error("level red accepted")
	}
	if HealthOf(LevelStop) != Red || HealthOf(LevelWarn) != Amber || HealthOf(LevelOK) != Green {
		t.Error("HealthOf")
	}
}
