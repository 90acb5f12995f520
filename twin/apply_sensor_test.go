package twin

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// readings returns one reading of a kind every step from the time from, a
// value each.
func readings(from string, step time.Duration, kind, unit, equipment string, values ...float64) []*Event {
	t0 := ts(from)
	out := make([]*Event, len(values))
	for i, v := range values {
		out[i] = reading(t0.Add(time.Duration(i)*step).Format(time.RFC3339), kind, v, unit, equipment)
	}
	return out
}

// spike returns background readings every step from the time from, with
// the reading at index i replaced by peak.
func spike(from string, step time.Duration, n int, background float64, i int, peak float64) []*Event {
	vs := make([]float64, n)
	for j := range vs {
		vs[j] = background
	}
	vs[i] = peak
	return readings(from, step, SensorNoise, "dB(A)", "", vs...)
}

func join(groups ...[]*Event) []*Event {
	var out []*Event
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func one(e *Event) []*Event { return []*Event{e} }

const (
	// day and night in Shenzhen (UTC+8)
	day10   = "2026-06-12T02:00:00Z" // 10:00 local
	night23 = "2026-06-12T15:00:00Z" // 23:00 local
)

func TestApplySensorRules(t *testing.T) {
	crane := one(craneInstalled("2026-06-12T00:00:00Z", "TC1", 60, 0))
	crane25 := one(craneInstalled("2026-06-12T00:00:00Z", "TC1", 60, 25))
	pit := one(pitInstalled("2026-06-11T00:00:00Z", "P2", 0, 0))
	pit35 := one(pitInstalled("2026-06-11T00:00:00Z", "P2", 35, 3))
	hourly := func(kind, unit string, values ...float64) []*Event {
		return readings("2026-06-12T00:00:00Z", time.Hour, kind, unit, "", values...)
	}
	pitHourly := func(values ...float64) []*Event {
		return readings("2026-06-12T00:00:00Z", time.Hour, SensorPitDisplacement, "mm", "P2", values...)
	}
	tests := []struct {
		name   string
		setup  []*Event // applied first; their alerts are not checked
		events []*Event
		key    string // site alarm checked at the end
		want   Level
		alerts string           // the alerts of events, as alertSummary writes them; "" with want not ok: "<key> raised <want>"
		reason string           // part of the alarm's reason, when want is not ok
		also   map[string]Level // other site alarms and their levels
	}{
		// PM10: hourly mean, warn > 150, stop > 200, clear < 150. Readings
		// an hour apart: each window holds one reading.
		{name: "pm10 150 is not above 150", events: hourly(SensorPM10, "µg/m³", 150), key: "pm10_hourly", want: LevelOK},
		{name: "pm10 150.4 warns", events: hourly(SensorPM10, "µg/m³", 150.4), key: "pm10_hourly", want: LevelWarn,
			alerts: "pm10_hourly raised warn", reason: "PM10 hourly mean 150.4 µg/m³ > 150.0 warning"},
		{name: "pm10 230 stops", events: hourly(SensorPM10, "µg/m³", 230), key: "pm10_hourly", want: LevelStop,
			alerts: "pm10_hourly raised stop", reason: "PM10 hourly mean 230 µg/m³ > 200 stop-work"},
		{name: "pm10 0.23 mg/m³ stops", events: hourly(SensorPM10, "mg/m³", 0.23), key: "pm10_hourly", want: LevelStop, alerts: "pm10_hourly raised stop"},
		{name: "pm10 warn holds at 150, escalates at 201, clears at 149.9", events: hourly(SensorPM10, "µg/m³", 160, 150, 201, 149.9), key: "pm10_hourly", want: LevelOK,
			alerts: "pm10_hourly raised warn; pm10_hourly escalated stop; pm10_hourly cleared ok"},
		{name: "pm10 stop holds at 170", events: hourly(SensorPM10, "µg/m³", 250, 170), key: "pm10_hourly", want: LevelStop,
			alerts: "pm10_hourly raised stop", reason: "PM10 hourly mean 170 µg/m³, stop-work held until < 150"},
		{name: "pm10 stop holds at 150, clears at 149", events: hourly(SensorPM10, "µg/m³", 250, 170, 150, 149), key: "pm10_hourly", want: LevelOK,
			alerts: "pm10_hourly raised stop; pm10_hourly cleared ok"},
		{name: "pm10 reading in the bucket before the window is out", events: join(one(reading("2026-06-12T09:04:59Z", SensorPM10, 1000, "µg/m³", "")), one(reading("2026-06-12T10:00:00Z", SensorPM10, 100, "µg/m³", ""))),
			key: "pm10_hourly", want: LevelOK, alerts: "pm10_hourly raised stop; pm10_hourly cleared ok"},
		{name: "pm10 reading one hour older is out of the window", events: join(one(reading("2026-06-12T09:00:00Z", SensorPM10, 1000, "µg/m³", "")), one(reading("2026-06-12T10:00:00Z", SensorPM10, 100, "µg/m³", ""))),
			key: "pm10_hourly", want: LevelOK, alerts: "pm10_hourly raised stop; pm10_hourly cleared ok"},
		// PM10 buckets are 5 minutes: the hourly window at 10:00 is the 12
		// buckets 09:05 to 10:00.
		{name: "pm10 reading one bucket newer is in", events: join(one(reading("2026-06-12T09:05:00Z", SensorPM10, 1000, "µg/m³", "")), one(reading("2026-06-12T10:00:00Z", SensorPM10, 100, "µg/m³", ""))),
			key: "pm10_hourly", want: LevelStop, alerts: "pm10_hourly raised stop", reason: "550 µg/m³ > 200"},
		{name: "pm2.5 76 warns", events: hourly(SensorPM25, "µg/m³", 76), key: "pm25_hourly", want: LevelWarn, alerts: "pm25_hourly raised warn"},
		{name: "pm2.5 400 only warns", events: hourly(SensorPM25, "µg/m³", 400), key: "pm25_hourly", want: LevelWarn, alerts: "pm25_hourly raised warn"},

		// Noise: Leq 20 min against 70 dB(A) by day, 55 by night (22:00 to
		// 06:00 Asia/Shanghai), and a night maximum of 55 + 15.
		{name: "noise 72 by day stops", events: one(reading(day10, SensorNoise, 72, "dB(A)", "")), key: "noise_leq", want: LevelStop,
			alerts: "noise_leq raised stop", reason: "noise Leq 20 min 72.0 dB(A) > 70.0 day limit"},
		{name: "noise 70 by day is at the limit", events: one(reading(day10, SensorNoise, 70, "dB(A)", "")), key: "noise_leq", want: LevelOK},
		{name: "noise 21:59:59 local is day", events: one(reading("2026-06-12T13:59:59Z", SensorNoise, 60, "dB(A)", "")), key: "noise_leq", want: LevelOK},
		{name: "noise 22:00 local is night", events: one(reading("2026-06-12T14:00:00Z", SensorNoise, 60, "dB(A)", "")), key: "noise_leq", want: LevelStop,
			alerts: "noise_leq raised stop", reason: "noise Leq 20 min 60.0 dB(A) > 55.0 night limit"},
		{name: "noise 05:59:59 local is night", events: one(reading("2026-06-12T21:59:59Z", SensorNoise, 60, "dB(A)", "")), key: "noise_leq", want: LevelStop, alerts: "noise_leq raised stop"},
		{name: "noise 06:00 local is day", events: one(reading("2026-06-12T22:00:00Z", SensorNoise, 60, "dB(A)", "")), key: "noise_leq", want: LevelOK},
		{name: "night alarm clears at 06:00", events: readings("2026-06-12T21:50:00Z", 10*time.Minute, SensorNoise, "dB(A)", "", 60, 60), key: "noise_leq", want: LevelOK,
			alerts: "noise_leq raised stop; noise_leq cleared ok"},
		{name: "night maximum 71 over a quiet Leq", events: spike(night23, 10*time.Second, 120, 40, 60, 71), key: "noise_night_max", want: LevelStop,
			alerts: "noise_night_max raised stop", reason: "noise maximum 71.0 dB(A) > 70.0 night maximum", also: map[string]Level{"noise_leq": LevelOK}},
		{name: "night maximum 70 is at the limit", events: spike(night23, 10*time.Second, 120, 40, 60, 70), key: "noise_night_max", want: LevelOK},
		{name: "no night maximum by day", events: spike(day10, 10*time.Second, 120, 40, 60, 71), key: "noise_night_max", want: LevelOK, also: map[string]Level{"noise_leq": LevelOK}},
		{name: "single 95 by day is red", events: spike(day10, time.Minute, 20, 55, 19, 95), key: "noise_leq", want: LevelStop, alerts: "noise_leq raised stop"},
		{name: "single 95 by night is red", events: spike(night23, time.Minute, 20, 45, 19, 95), key: "noise_night_max", want: LevelStop,
			alerts: "noise_leq raised stop; noise_night_max raised stop", also: map[string]Level{"noise_leq": LevelStop}},

		// Tower crane wind at the jib: stop above the in-service limit
		// (default 20 m/s), warn above 80% of it.
		{name: "crane anemometer 20 m/s only warns", setup: crane, events: one(reading(day10, SensorWindSpeed, 20, "m/s", "TC1")), key: "crane_wind@TC1", want: LevelWarn,
			alerts: "crane_wind@TC1 raised warn", reason: "crane TC1 wind at jib 20.0 m/s > 16.0 warning"},
		{name: "crane anemometer 20.5 m/s stops", setup: crane, events: one(reading(day10, SensorWindSpeed, 20.5, "m/s", "TC1")), key: "crane_wind@TC1", want: LevelStop,
			alerts: "crane_wind@TC1 raised stop", reason: "crane TC1 wind at jib 20.5 m/s > 20.0 in-service limit"},
		{name: "crane gust counts", setup: crane, events: one(reading(day10, SensorWindGust, 21, "m/s", "TC1")), key: "crane_wind@TC1", want: LevelStop},
		{name: "crane wind in km/h", setup: crane, events: one(reading(day10, SensorWindSpeed, 75, "km/h", "TC1")), key: "crane_wind@TC1", want: LevelStop, reason: "20.8 m/s"},
		{name: "crane own limit 25: 21 warns", setup: crane25, events: one(reading(day10, SensorWindSpeed, 21, "m/s", "TC1")), key: "crane_wind@TC1", want: LevelWarn, reason: "> 20.0 warning"},
		{name: "crane own limit 25: 25.5 stops", setup: crane25, events: one(reading(day10, SensorWindSpeed, 25.5, "m/s", "TC1")), key: "crane_wind@TC1", want: LevelStop, reason: "> 25.0 in-service limit"},
		// Site 10 m wind at 60 m in terrain C: x (60/10)^0.22 = x 1.48316.
		{name: "site 10 m wind 13.5 is 20.02 at a 60 m jib", setup: crane, events: one(reading(day10, SensorWindSpeed, 13.5, "m/s", "")), key: "crane_wind@TC1", want: LevelStop,
			reason: "crane TC1 wind at jib 20.02 m/s > 20.00 in-service limit"},
		{name: "site 10 m wind 13.4 is 19.87 at a 60 m jib", setup: crane, events: one(reading(day10, SensorWindSpeed, 13.4, "m/s", "")), key: "crane_wind@TC1", want: LevelWarn, reason: "19.9 m/s"},
		// Terrain A: (6)^0.12 = 1.2399; terrain D: (6)^0.30 = 1.7118.
		{name: "terrain A: 13.5 is 16.7 at the jib", setup: join(one(siteAdded("2026-06-11T00:00:00Z", testSite, "A")), crane), events: one(reading(day10, SensorWindSpeed, 13.5, "m/s", "")),
			key: "crane_wind@TC1", want: LevelWarn, reason: "16.7 m/s"},
		{name: "terrain D: 12 is 20.5 at the jib", setup: join(one(siteAdded("2026-06-11T00:00:00Z", testSite, "D")), crane), events: one(reading(day10, SensorWindSpeed, 12, "m/s", "")),
			key: "crane_wind@TC1", want: LevelStop, reason: "20.5 m/s"},
		{name: "crane wind 10 min older is out", setup: crane, events: readings("2026-06-12T02:00:00Z", 10*time.Minute, SensorWindSpeed, "m/s", "TC1", 25, 10), key: "crane_wind@TC1", want: LevelOK,
			alerts: "crane_wind@TC1 raised stop; crane_wind@TC1 cleared ok"},
		{name: "crane wind 9 min older is in", setup: crane, events: readings("2026-06-12T02:00:00Z", 9*time.Minute, SensorWindSpeed, "m/s", "TC1", 25, 10), key: "crane_wind@TC1", want: LevelStop,
			alerts: "crane_wind@TC1 raised stop"},
		{name: "installing a crane evaluates the wind already measured", setup: one(reading("2026-06-12T01:59:00Z", SensorWindSpeed, 14, "m/s", "")),
			events: crane, key: "crane_wind@TC1", want: LevelStop, alerts: "crane_wind@TC1 raised stop"},

		// Foundation pit: cumulative displacement (default 30 mm) and rate
		// (default 2 mm/d over at least 6 h of hourly readings).
		{name: "pit 24 mm is not above 80%", setup: pit, events: pitHourly(24), key: "pit_cumulative@P2", want: LevelOK},
		{name: "pit 24.5 mm warns", setup: pit, events: pitHourly(24.5), key: "pit_cumulative@P2", want: LevelWarn, alerts: "pit_cumulative@P2 raised warn"},
		{name: "pit 30.5 mm stops", setup: pit, events: pitHourly(30.5), key: "pit_cumulative@P2", want: LevelStop,
			alerts: "pit_cumulative@P2 raised stop", reason: "pit P2 displacement 30.5 mm > 30.0 alarm"},
		{name: "pit -31 mm stops", setup: pit, events: pitHourly(-31), key: "pit_cumulative@P2", want: LevelStop},
		{name: "pit 0.0305 m stops", setup: pit, events: readings("2026-06-12T00:00:00Z", time.Hour, SensorPitDisplacement, "m", "P2", 0.0305), key: "pit_cumulative@P2", want: LevelStop},
		{name: "pit own alarm 35: 31 warns", setup: pit35, events: pitHourly(31), key: "pit_cumulative@P2", want: LevelWarn, reason: "> 28.0 warning"},
		{name: "pit rate 3.1 mm/d", setup: pit, events: pitHourly(0, 0.13, 0.26, 0.39, 0.52, 0.65, 0.775), key: "pit_rate@P2", want: LevelStop,
			alerts: "pit_rate@P2 raised stop", reason: "pit P2 displacement rate 3.1 mm/d > 2.0 alarm", also: map[string]Level{"pit_cumulative@P2": LevelOK}},
		{name: "pit rate needs 6 h of readings", setup: pit, events: pitHourly(0, 1, 2, 3, 4, 5), key: "pit_rate@P2", want: LevelOK},
		{name: "pit rate 2.0 mm/d only warns", setup: pit, events: pitHourly(0, 0, 0, 0, 0, 0, 0.5), key: "pit_rate@P2", want: LevelWarn, alerts: "pit_rate@P2 raised warn"},
		{name: "pit own rate alarm 3: 2.8 warns", setup: pit35, events: pitHourly(0, 0, 0, 0, 0, 0, 0.7), key: "pit_rate@P2", want: LevelWarn, reason: "> 2.4 warning"},

		// Rainfall: 3 h sum, warn > 50 mm, stop > 100 mm.
		{name: "rain 50.5 mm in 3 h warns", events: hourly(SensorRainfall, "mm", 20, 20, 10.5), key: "rainfall_3h", want: LevelWarn,
			alerts: "rainfall_3h raised warn", reason: "rainfall in 3 h 50.5 mm > 50.0 warning"},
		{name: "rain 3 h older leaves the sum", events: hourly(SensorRainfall, "mm", 20, 20, 10.5, 0), key: "rainfall_3h", want: LevelOK,
			alerts: "rainfall_3h raised warn; rainfall_3h cleared ok"},
		{name: "rain 101 mm in 3 h stops", events: hourly(SensorRainfall, "mm", 60, 41), key: "rainfall_3h", want: LevelStop, alerts: "rainfall_3h raised warn; rainfall_3h escalated stop"},

		// Heat, vibration, crane load and tilt.
		{name: "heat 37 is not above 37", events: hourly(SensorTemperature, "°C", 37), key: "heat", want: LevelOK},
		{name: "heat 37.5 warns", events: hourly(SensorTemperature, "°C", 37.5), key: "heat", want: LevelWarn, alerts: "heat raised warn"},
		{name: "heat 40.5 stops", events: hourly(SensorTemperature, "°C", 40.5), key: "heat", want: LevelStop, reason: "air temperature 40.5 °C > 40.0 stop-work"},
		{name: "vibration 2.5 is not above 2.5", events: hourly(SensorVibration, "mm/s", 2.5), key: "vibration", want: LevelOK},
		{name: "vibration 3 warns", events: hourly(SensorVibration, "mm/s", 3), key: "vibration", want: LevelWarn},
		{name: "vibration 5.1 stops", events: hourly(SensorVibration, "mm/s", 5.1), key: "vibration", want: LevelStop, reason: "vibration PPV 5.1 mm/s > 5.0 stop-work"},
		{name: "crane load 90% is not above 90", setup: crane, events: one(reading(day10, SensorCraneLoad, 90, "%", "TC1")), key: "crane_load@TC1", want: LevelOK},
		{name: "crane load 95% warns", setup: crane, events: one(reading(day10, SensorCraneLoad, 95, "%", "TC1")), key: "crane_load@TC1", want: LevelWarn},
		{name: "crane load 101% stops", setup: crane, events: one(reading(day10, SensorCraneLoad, 101, "%", "TC1")), key: "crane_load@TC1", want: LevelStop,
			reason: "crane TC1 load moment 101 % > 100 stop-work"},
		{name: "crane load clears a minute later", setup: crane, events: readings(day10, time.Minute, SensorCraneLoad, "%", "TC1", 101, 50), key: "crane_load@TC1", want: LevelOK,
			alerts: "crane_load@TC1 raised stop; crane_load@TC1 cleared ok"},
		{name: "crane tilt 0.25 degrees stops", setup: crane, events: one(reading(day10, SensorCraneTilt, 0.25, "deg", "TC1")), key: "crane_tilt@TC1", want: LevelStop,
			reason: "crane TC1 tower tilt 4.4 ‰ > 4.0 stop-work"},
		{name: "crane tilt -3.5 permille warns", setup: crane, events: one(reading(day10, SensorCraneTilt, -3.5, "‰", "TC1")), key: "crane_tilt@TC1", want: LevelWarn},
		{name: "humidity has no rule", events: hourly(SensorHumidity, "%", 100), key: "humidity", want: LevelOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := siteTwin(t)
			mustApply(t, p, tt.setup...)
			got := alertSummary(allAlerts(mustApply(t, p, tt.events...)))
			wantAlerts := tt.alerts
			if wantAlerts == "" && tt.want != LevelOK {
				wantAlerts = fmt.Sprintf("%s raised %s", tt.key, tt.want)
			}
			if got != wantAlerts {
				t.Errorf("alerts %q, want %q", got, wantAlerts)
			}
			if lvl := siteAlarm(p, testSite, tt.key); lvl != tt.want {
				t.Fatalf("%s is %v, want %v (alarms %v)", tt.key, lvl, tt.want, p.Sites[testSite].Reasons)
			}
			for k, want := range tt.also {
				if lvl := siteAlarm(p, testSite, k); lvl != want {
					t.Errorf("%s is %v, want %v", k, lvl, want)
				}
			}
			s := p.Sites[testSite]
			if tt.want == LevelOK {
				return
			}
			al := s.Alarms[tt.key]
			if !strings.Contains(al.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", al.Reason, tt.reason)
			}
			if s.Health != HealthOf(max(tt.want, worst(s.Alarms))) || p.Health != s.Health {
				t.Errorf("site health %s, project health %s", s.Health, p.Health)
			}
			if !hasReason(p.Reasons, testSite+": "+al.Reason) {
				t.Errorf("project reasons %q lack the site's %q", p.Reasons, al.Reason)
			}
			if al.Responsible != "cscec-3b" {
				t.Errorf("responsible %q", al.Responsible)
			}
			twinJSON(t, p)
		})
	}
}

func worst(m map[string]*Alarm) Level {
	l := LevelOK
	for _, al := range m {
		l = max(l, al.Level)
	}
	return l
}

func TestApplyAlertFields(t *testing.T) {
	p := siteTwin(t)
	e := reading("2026-06-12T02:00:00Z", SensorPM10, 230, "µg/m³", "")
	e.Drill = "drill-7"
	eff := applyOne(t, p, e)
	if len(eff.Alerts) != 1 {
		t.Fatalf("alerts %+v", eff.Alerts)
	}
	a := eff.Alerts[0]
	want := Alert{
		ID: "P1#1", Project: "P1", District: "Nanshan", Site: "S1", Rule: "pm10_hourly", Key: "pm10_hourly",
		Change: ChangeRaised, Level: LevelStop, From: LevelOK, Reason: "PM10 hourly mean 230 µg/m³ > 200 stop-work",
		Action: pack().RulesFor(SensorPM10)[0].Action, Value: 230, Threshold: 200, Unit: "µg/m³",
		Time: ts("2026-06-12T02:00:00Z"), Event: e.ID, Responsible: "cscec-3b", Drill: "drill-7",
	}
	if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", want) {
		t.Fatalf("alert\n%+v\nwant\n%+v", a, want)
	}
	eff = applyOne(t, p, reading("2026-06-12T03:00:00Z", SensorPM10, 100, "µg/m³", ""))
	if len(eff.Alerts) != 1 || eff.Alerts[0].ID != "P1#2" || eff.Alerts[0].Change != ChangeCleared || eff.Alerts[0].From != LevelStop ||
		eff.Alerts[0].Reason != "cleared: PM10 hourly mean 230 µg/m³ > 200 stop-work" {
		t.Fatalf("clear alert %+v", eff.Alerts)
	}
	if p.Health != Green || len(p.Reasons) != 0 {
		t.Fatalf("health %s %q after clearing", p.Health, p.Reasons)
	}
}

func TestApplyLateAndExpiredReadings(t *testing.T) {
	tests := []struct {
		name        string
		late        string // time of the reading that arrives after the 10:10 one
		wantLate    bool
		wantExpired bool
		wantAlerts  string
	}{
		{"4 min behind is on time", "2026-06-12T10:06:00Z", false, false, "pm10_hourly raised stop"},
		{"exactly 5 min behind is on time", "2026-06-12T10:05:00Z", false, false, "pm10_hourly raised stop"},
		{"5 min 1 s behind is late", "2026-06-12T10:04:59Z", true, false, ""},
		{"exactly 10 min behind is late", "2026-06-12T10:00:00Z", true, false, ""},
		{"10 min 1 s behind is expired", "2026-06-12T09:59:59Z", false, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := siteTwin(t)
			mustApply(t, p, reading("2026-06-12T10:10:00Z", SensorPM10, 50, "µg/m³", ""))
			before := *p.Sites[testSite].Series[SensorPM10]
			before.Buckets = before.Buckets.clone()
			eff := applyOne(t, p, reading(tt.late, SensorPM10, 1000, "µg/m³", ""))
			s := p.Sites[testSite]
			if eff.Late != tt.wantLate || eff.Expired != tt.wantExpired {
				t.Fatalf("late %v expired %v", eff.Late, eff.Expired)
			}
			if got := alertSummary(eff.Alerts); got != tt.wantAlerts {
				t.Fatalf("alerts %q, want %q", got, tt.wantAlerts)
			}
			if tt.wantLate && (s.Late != 1 || siteAlarm(p, testSite, "pm10_hourly") != LevelOK) {
				t.Fatalf("late count %d, alarm %v", s.Late, siteAlarm(p, testSite, "pm10_hourly"))
			}
			ser := s.Series[SensorPM10]
			var n int64
			for b := range ser.Buckets.All() {
				n += b.N
			}
			switch {
			case tt.wantExpired:
				if s.Expired != 1 || n != 1 || s.Readings != 1 {
					t.Fatalf("expired %d, kept %d, readings %d", s.Expired, n, s.Readings)
				}
			default: // kept in the history, the latest value unchanged
				if n != 2 || s.Readings != 2 || ser.Latest != before.Latest {
					t.Fatalf("kept %d, readings %d, latest %+v", n, s.Readings, ser.Latest)
				}
			}
			if !s.Clock.Equal(ts("2026-06-12T10:10:00Z")) {
				t.Errorf("site clock moved back to %v", s.Clock)
			}
		})
	}
}

func TestApplyDuplicateReadings(t *testing.T) {
	t.Run("same reading twice", func(t *testing.T) {
		p := siteTwin(t)
		e := reading("2026-06-12T10:00:00Z", SensorPM10, 230, "µg/m³", "")
		first := applyOne(t, p, e)
		before := twinJSON(t, p)
		again := applyOne(t, p, e)
		if !again.Duplicate || len(again.Alerts) != 0 || first.Duplicate {
			t.Fatalf("first %+v, again %+v", first, again)
		}
		if p.Duplicates != 1 || p.Sites[testSite].Series[SensorPM10].Buckets.At(0).N != 1 {
			t.Fatalf("duplicates %d", p.Duplicates)
		}
		p.Duplicates = 0
		if !bytes.Equal(before, twinJSON(t, p)) {
			t.Fatal("a duplicate changed the twin")
		}
	})
	t.Run("retry 9 min later", func(t *testing.T) {
		p := siteTwin(t)
		e := reading("2026-06-12T10:00:00Z", SensorPM10, 100, "µg/m³", "")
		mustApply(t, p, e)
		mustApply(t, p, readings("2026-06-12T10:01:00Z", time.Minute, SensorNoise, "dB(A)", "", make([]float64, 9)...)...)
		if eff := applyOne(t, p, e); !eff.Duplicate {
			t.Fatalf("retry within the horizon applied again: %+v", eff)
		}
		if n := p.Sites[testSite].Series[SensorPM10].Buckets.At(0).N; n != 1 {
			t.Fatalf("pm10 bucket holds %d readings", n)
		}
	})
	t.Run("retry from a site an hour behind the project", func(t *testing.T) {
		// S1 reports live from 11:00; S2's gateway, back from an outage,
		// flushes its buffered readings from 10:00 between S1's, and
		// retries one of them. The retry is 2 minutes behind S2's newest
		// reading, well within S2's horizon, so it must be recognised.
		p := siteTwin(t)
		mustApply(t, p, siteAdded("2026-06-11T00:00:00Z", "S2", "C"))
		var buffered []*Event
		for i := range 40 {
			mustApply(t, p, reading(ts("2026-06-12T11:00:00Z").Add(time.Duration(i)*time.Minute).Format(time.RFC3339), SensorPM10, 80, "µg/m³", ""))
			if i < 10 {
				e := reading(ts("2026-06-12T10:00:00Z").Add(time.Duration(i)*time.Minute).Format(time.RFC3339), SensorPM10, 120, "µg/m³", "")
				e.Site, e.ID = "S2", "s2-"+e.ID
				mustApply(t, p, e)
				buffered = append(buffered, e)
			}
		}
		if eff := applyOne(t, p, buffered[7]); !eff.Duplicate {
			t.Fatalf("retry of S2's reading applied twice: %+v", eff)
		}
		var n int64
		for b := range p.Sites["S2"].Series[SensorPM10].Buckets.All() {
			n += b.N
		}
		if n != 10 {
			t.Fatalf("S2 holds %d readings, want 10", n)
		}
	})
	t.Run("progress report twice", func(t *testing.T) {
		p := siteTwin(t)
		e := progress("2026-06-12T10:00:00Z", "M1", 40)
		mustApply(t, p, e, progress("2026-06-12T10:05:00Z", "M1", 45))
		if eff := applyOne(t, p, e); !eff.Duplicate || p.milestone("M1").Percent != 45 {
			t.Fatalf("retried progress report: %+v, M1 at %v%%", eff, p.milestone("M1").Percent)
		}
	})
	t.Run("expired retry is not counted", func(t *testing.T) {
		p := siteTwin(t)
		e := reading("2026-06-12T10:00:00Z", SensorPM10, 100, "µg/m³", "")
		mustApply(t, p, e, reading("2026-06-12T10:31:00Z", SensorPM10, 100, "µg/m³", ""))
		eff := applyOne(t, p, e)
		if !eff.Duplicate && !eff.Expired {
			t.Fatalf("an old retry was applied: %+v", eff)
		}
		var n int64
		for b := range p.Sites[testSite].Series[SensorPM10].Buckets.All() {
			n += b.N
		}
		if n != 2 {
			t.Fatalf("%d readings kept", n)
		}
	})
}

func TestApplySensorRejections(t *testing.T) {
	tests := []struct {
		name  string
		setup []*Event
		event *Event
	}{
		{"crane load on a pit", one(pitInstalled("2026-06-11T00:00:00Z", "P2", 0, 0)), reading(day10, SensorCraneLoad, 50, "%", "P2")},
		{"pit displacement on a crane", one(craneInstalled("2026-06-11T00:00:00Z", "TC1", 60, 0)), reading(day10, SensorPitDisplacement, 5, "mm", "TC1")},
		{"a crane reinstalled as a pit", one(craneInstalled("2026-06-11T00:00:00Z", "TC1", 60, 0)), pitInstalled(day10, "TC1", 0, 0)},
		{"crane tilt of a crane never installed", nil, reading(day10, SensorCraneTilt, 1, "‰", "X1")},
		{"another project's reading", nil, func() *Event { e := reading(day10, SensorPM10, 1, "µg/m³", ""); e.Project = "P2"; return e }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := siteTwin(t)
			mustApply(t, p, tt.setup...)
			before := twinJSON(t, p)
			eff, err := Apply(p, wire(t, tt.event), pack())
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("Apply: %v, want ErrRejected", err)
			}
			if len(eff.Alerts) != 0 || eff.Duplicate {
				t.Errorf("effects of a rejected event: %+v", eff)
			}
			if !bytes.Equal(before, twinJSON(t, p)) {
				t.Fatal("a rejected event changed the twin")
			}
			// A rejected event is not remembered: fixed, it applies.
		})
	}
}

func TestApplySiteHealthAndReasons(t *testing.T) {
	p := siteTwin(t)
	mustApply(t, p, craneInstalled("2026-06-12T00:00:00Z", "TC1", 60, 0), pitInstalled("2026-06-11T00:00:00Z", "P2", 0, 0))
	mustApply(t, p, readings("2026-06-12T00:00:00Z", time.Hour, SensorPitDisplacement, "mm", "P2", 0, 0.13, 0.26, 0.39, 0.52, 0.65, 0.775)...)
	mustApply(t, p,
		reading("2026-06-12T06:00:10Z", SensorPM10, 160, "µg/m³", ""),
		reading("2026-06-12T06:00:20Z", SensorWindSpeed, 17, "m/s", "TC1"),
	)
	s := p.Sites[testSite]
	want := []string{
		"pit P2 displacement rate 3.1 mm/d > 2.0 alarm",
		"crane TC1 wind at jib 17.0 m/s > 16.0 warning",
		"PM10 hourly mean 160 µg/m³ > 150 warning",
	}
	if s.Health != Red || strings.Join(s.Reasons, "|") != strings.Join(want, "|") {
		t.Fatalf("site %s %q\nwant %q (worst first, then by key)", s.Health, s.Reasons, want)
	}
	v := p.View()
	if len(v.Sites) != 1 || v.Sites[0].Worst != LevelStop || v.Sites[0].Cranes != 1 || v.Sites[0].Pits != 1 || v.Alarms[0].Level != LevelStop {
		t.Fatalf("view %+v", v.Sites)
	}
	if pts := p.SeriesPoints(testSite, "pit_displacement@P2"); len(pts) != 7 || pts[6].Mean != 0.775 {
		t.Fatalf("series points %+v", pts)
	}
	if p.SeriesPoints(testSite, "nope") != nil || p.SeriesPoints("S9", "pm10") != nil {
		t.Fatal("points of a missing series")
	}
}
