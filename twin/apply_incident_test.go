package twin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// incident builds an incident.reported at site S1 (or another site via
// atSite).
func incident(when, id, severity, category, equipment string, injuries int) *Event {
	return mkEvent("inc-"+id+"-"+when, TypeIncidentReported, when, testSite, &IncidentReported{
		Incident: id, Severity: severity, Category: category, Equipment: equipment, Injuries: injuries,
		Description: "test incident " + id,
	})
}

// noWageRules is the Shenzhen pack without the wage-arrears deduction, for
// tests that run a twin for months without payroll.
func noWageRules() *Rules {
	r := *pack()
	r.Credit.WageArrears = 0
	return &r
}

// applyWith applies events (through wire) with a rule pack.
func applyWith(t *testing.T, p *ProjectTwin, r *Rules, events ...*Event) []Alert {
	t.Helper()
	var out []Alert
	for _, e := range events {
		eff, err := Apply(p, wire(t, e), r)
		if err != nil {
			t.Fatalf("apply %s (%s): %v", e.ID, e.Type, err)
		}
		out = append(out, eff.Alerts...)
	}
	return out
}

func TestDecodeIncident(t *testing.T) {
	const valid = `"incident":"INC-1","severity":"serious","category":"fall","injuries":2`
	tests := []struct {
		name  string
		data  string
		field string // "" for valid
	}{
		{"valid", `{` + valid + `}`, ""},
		{"valid with equipment and description", `{` + valid + `,"equipment":"TC1","description":"fell from the slab edge of floor 12"}`, ""},
		{"no injuries: a near miss", `{"incident":"INC-1","severity":"minor","category":"other"}`, ""},
		{"every category", `{"incident":"INC-1","severity":"fatal","category":"electrical","injuries":1}`, ""},
		{"missing incident", `{"severity":"serious","category":"fall"}`, "data.incident"},
		{"incident id with space", `{"incident":"INC 1","severity":"serious","category":"fall"}`, "data.incident"},
		{"missing severity", `{"incident":"INC-1","category":"fall"}`, "data.severity"},
		{"hazard severity", `{"incident":"INC-1","severity":"major","category":"fall"}`, "data.severity"},
		{"missing category", `{"incident":"INC-1","severity":"minor"}`, "data.category"},
		{"unknown category", `{"incident":"INC-1","severity":"minor","category":"scaffolding"}`, "data.category"},
		{"negative injuries", `{` + strings.Replace(valid, `"injuries":2`, `"injuries":-1`, 1) + `}`, "data.injuries"},
		{"absurd injuries", `{` + strings.Replace(valid, `"injuries":2`, `"injuries":20000`, 1) + `}`, "data.injuries"},
		{"fractional injuries", `{` + strings.Replace(valid, `"injuries":2`, `"injuries":1.5`, 1) + `}`, "data.injuries"},
		{"injuries as string", `{` + strings.Replace(valid, `"injuries":2`, `"injuries":"2"`, 1) + `}`, "data.injuries"},
		{"bad equipment id", `{` + valid + `,"equipment":"TC 1"}`, "data.equipment"},
		{"description too long", `{` + valid + `,"description":"` + strings.Repeat("d", maxTextLen+1) + `"}`, "data.description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := decodeData(TypeIncidentReported, tt.data)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if _, ok := e.Data.(*IncidentReported); !ok || StreamOf(e.Type) != StreamInspection {
					t.Fatalf("data %T on stream %q", e.Data, StreamOf(e.Type))
				}
				return
			}
			if got := validationField(err); got != tt.field {
				t.Fatalf("Decode error %v: field %q, want %q", err, got, tt.field)
			}
		})
	}
	t.Run("needs a site", func(t *testing.T) {
		b := `{"specversion":"1.0","id":"e-1","type":"incident.reported","source":"test","time":"2026-06-12T03:18:00Z","project":"P1","data":{` + valid + `}}`
		if _, err := Decode([]byte(b)); validationField(err) != "site" {
			t.Fatalf("an incident without a site: %v", err)
		}
	})
}

func TestApplyIncidentRejections(t *testing.T) {
	tests := []struct {
		name  string
		setup []*Event
		e     *Event
		want  string
		fix   []*Event // after these, e applies (none: it never does)
	}{
		{name: "site never added",
			e:    atSite("S9", incident(day10, "INC-1", IncidentMinor, IncidentFall, "", 1)),
			want: "site S9 is not registered on project P1 (send site.added first)", fix: one(siteAdded("2026-06-01T00:00:00Z", "S9", "C"))},
		{name: "crane never installed",
			e:    incident(day10, "INC-1", IncidentSerious, IncidentCrane, "TC1", 1),
			want: "equipment TC1 is not installed at site S1 of project P1 (send equipment.installed first)", fix: one(craneInstalled("2026-06-01T00:00:00Z", "TC1", 60, 20))},
		{name: "crane installed at another site",
			setup: []*Event{siteAdded("2026-06-01T00:00:00Z", "S2", "C"), atSite("S2", craneInstalled("2026-06-01T01:00:00Z", "TC2", 60, 0))},
			e:     incident(day10, "INC-1", IncidentSerious, IncidentCrane, "TC2", 1),
			want:  "equipment TC2 is not installed at site S1 of project P1 (send equipment.installed first)"},
		{name: "incident id already recorded by another event",
			setup: one(incident("2026-06-10T02:00:00Z", "INC-1", IncidentMinor, IncidentFall, "", 1)),
			e:     incident(day10, "INC-1", IncidentSerious, IncidentFall, "", 1),
			want:  "incident INC-1 is already recorded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := siteTwin(t)
			mustApply(t, p, tt.setup...)
			e := wire(t, tt.e)
			mustReject(t, p, e, tt.want)
			if tt.fix == nil {
				return
			}
			mustApply(t, p, tt.fix...)
			if eff, err := Apply(p, e, pack()); err != nil || eff.Duplicate {
				t.Fatalf("the same incident once its site or equipment is registered: %+v, %v", eff, err)
			}
		})
	}
	t.Run("the same event twice is a duplicate", func(t *testing.T) {
		p := siteTwin(t)
		e := incident(day10, "INC-1", IncidentMinor, IncidentFall, "", 1)
		mustApply(t, p, e)
		if eff := applyOne(t, p, e); !eff.Duplicate || len(p.Sites[testSite].Incidents) != 1 {
			t.Fatalf("second copy: %+v, %d incidents", eff, len(p.Sites[testSite].Incidents))
		}
	})
}

// TestApplyIncidentAlarm: an incident raises the site alarm incident@<id>
// at its severity's level for the pack's 7 days of event time.
func TestApplyIncidentAlarm(t *testing.T) {
	const at = "2026-06-12T06:35:00Z" // 14:35 local
	tests := []struct {
		severity string
		level    Level
	}{
		{IncidentMinor, LevelWarn},
		{IncidentSerious, LevelStop},
		{IncidentFatal, LevelStop},
	}
	for _, tt := range tests {
		t.Run(tt.severity, func(t *testing.T) {
			p := siteTwin(t)
			mustApply(t, p, craneInstalled("2026-06-01T00:00:00Z", "TC1", 60, 20))
			eff := applyOne(t, p, incident(at, "INC-7", tt.severity, IncidentCrane, "TC1", 2))
			key := "incident@INC-7"
			if got := keyAlerts(eff.Alerts, key); got != fmt.Sprintf("%s raised %s", key, tt.level) {
				t.Fatalf("alerts %q", alertSummary(eff.Alerts))
			}
			al := p.Sites[testSite].Alarms[key]
			want := tt.severity + " incident INC-7 (crane, 2 injured) at 2026-06-12 14:35, alarm until 2026-06-19 14:35"
			if al.Reason != want || al.Rule != "incident" || al.Equipment != "TC1" || al.Action == "" || al.Responsible != "cscec-3b" {
				t.Fatalf("alarm %+v\nwant reason %q", al, want)
			}
			if p.Sites[testSite].Health != HealthOf(tt.level) || p.Health != HealthOf(tt.level) || !hasReason(p.Reasons, "S1: "+want) {
				t.Fatalf("health site %s, project %s, reasons %q", p.Sites[testSite].Health, p.Health, p.Reasons)
			}
			// Still standing a minute before the 7 days are up.
			if eff := applyOne(t, p, tick("2026-06-19T06:34:00Z")); len(eff.Alerts) != 0 || siteAlarm(p, testSite, key) != tt.level {
				t.Fatalf("before 7 days: %q, level %v", alertSummary(eff.Alerts), siteAlarm(p, testSite, key))
			}
			eff = applyOne(t, p, tick("2026-06-19T06:36:00Z"))
			if got := keyAlerts(eff.Alerts, key); got != key+" cleared ok" || siteAlarm(p, testSite, key) != LevelOK {
				t.Fatalf("after 7 days: %q", alertSummary(eff.Alerts))
			}
			if p.Sites[testSite].Health != Green {
				t.Fatalf("site still %s: %q", p.Sites[testSite].Health, p.Sites[testSite].Reasons)
			}
			if v := p.View().Sites[0]; v.IncidentsLast90d != 1 || len(v.Incidents) != 1 || v.Incidents[0].Equipment != "TC1" {
				t.Fatalf("view %+v", v)
			}
		})
	}
	t.Run("an incident reported after its 7 days raises no alarm", func(t *testing.T) {
		p := paidOnTime(t)
		mustApply(t, p, tick("2026-06-30T00:00:00Z"))
		eff := applyOne(t, p, incident(at, "INC-8", IncidentFatal, IncidentFall, "", 1))
		if keyAlerts(eff.Alerts, "incident@INC-8") != "" || len(p.Sites[testSite].Incidents) != 1 || p.Credit.Score != 70 {
			t.Fatalf("late report: %q, %d incidents, credit %v", alertSummary(eff.Alerts), len(p.Sites[testSite].Incidents), p.Credit.Score)
		}
	})
}

// TestApplyIncidentCredit: each incident deducts the pack's amount for its
// severity, derived from the facts like every other deduction.
func TestApplyIncidentCredit(t *testing.T) {
	tests := []struct {
		name   string
		events []*Event
		want   float64
	}{
		{"none", nil, 100},
		{"minor", one(incident("2026-06-12T02:00:00Z", "I1", IncidentMinor, IncidentFall, "", 1)), 95},
		{"serious", one(incident("2026-06-12T02:00:00Z", "I1", IncidentSerious, IncidentFall, "", 1)), 85},
		{"fatal", one(incident("2026-06-12T02:00:00Z", "I1", IncidentFatal, IncidentFall, "", 1)), 70},
		{"minor and serious at two sites", []*Event{
			siteAdded("2026-06-01T00:00:00Z", "S2", "B"),
			incident("2026-06-12T02:00:00Z", "I1", IncidentMinor, IncidentStruckBy, "", 1),
			atSite("S2", incident("2026-06-13T02:00:00Z", "I2", IncidentSerious, IncidentCollapse, "", 3)),
		}, 80},
		{"with a hazard", []*Event{
			hazardFound("2026-06-10T02:00:00Z", "HZ1", SeverityMajor, "scaffolding", "2026-06-30"),
			incident("2026-06-12T02:00:00Z", "I1", IncidentSerious, IncidentFall, "", 1),
		}, 82},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := paidOnTime(t)
			mustApply(t, p, tt.events...)
			if p.Credit.Score != tt.want {
				t.Fatalf("credit %v, want %v (changes %+v)", p.Credit.Score, tt.want, p.Credit.Changes)
			}
			if tt.want < 100 && !strings.Contains(p.Credit.Changes[len(p.Credit.Changes)-1].Reason, "incident") {
				t.Fatalf("changes %+v", p.Credit.Changes)
			}
		})
	}
	t.Run("a fatal incident and two serious ones warn on credit", func(t *testing.T) {
		p := paidOnTime(t)
		eff := mustApply(t, p, incident("2026-06-12T02:00:00Z", "I1", IncidentFatal, IncidentFall, "", 1),
			incident("2026-06-13T02:00:00Z", "I2", IncidentSerious, IncidentFall, "", 1))
		if p.Credit.Score != 55 || projectAlarm(p, "credit") != LevelStop || !strings.Contains(alertSummary(allAlerts(eff)), "credit escalated stop") {
			t.Fatalf("credit %v, alarm %v: %q", p.Credit.Score, projectAlarm(p, "credit"), alertSummary(allAlerts(eff)))
		}
	})
}

// TestIncidentOrderIndependence: incidents, hazards and readings arrive on
// different topics, so a runtime may apply them in another order than
// their times; the incidents kept, the credit and the view's counts do not
// depend on it.
func TestIncidentOrderIndependence(t *testing.T) {
	r := noWageRules()
	facts := []*Event{
		siteAdded("2026-03-01T00:00:00Z", "S2", "B"),
		hazardFound("2026-05-01T02:00:00Z", "HZ1", SeverityMajor, "scaffolding", "2026-05-04"),
		incident("2026-05-02T02:00:00Z", "I1", IncidentSerious, IncidentFall, "", 1),
		incident("2026-05-20T02:00:00Z", "I2", IncidentMinor, IncidentOther, "", 0),
		atSite("S2", incident("2026-06-05T02:00:00Z", "I3", IncidentFatal, IncidentCollapse, "", 2)),
		rectified("2026-05-10T02:00:00Z", "HZ1"), // overdue
		incident("2026-08-20T02:00:00Z", "I4", IncidentMinor, IncidentFire, "", 1),
		tick("2026-08-25T00:00:00Z"),
	}
	orders := map[string][]int{
		"in time order":  {0, 1, 2, 5, 3, 4, 6, 7},
		"as listed":      {0, 1, 2, 3, 4, 5, 6, 7},
		"late incidents": {0, 7, 1, 5, 6, 4, 3, 2},
		"reversed":       {0, 7, 6, 4, 1, 5, 3, 2},
	}
	type outcome struct {
		Credit           float64
		S1, S2           []SiteIncident
		Count1, Count2   int
		Hazard           bool
		Alarms1, Alarms2 int
	}
	var first *outcome
	var firstName string
	for name, order := range orders {
		p := NewProject(testProject, r)
		applyWith(t, p, r, registered("2026-02-20T01:00:00Z"), siteAdded("2026-02-20T02:00:00Z", testSite, "C"))
		for _, i := range order {
			applyWith(t, p, r, facts[i])
		}
		v := p.View()
		got := &outcome{
			Credit: p.Credit.Score, S1: p.Sites[testSite].Incidents, S2: p.Sites["S2"].Incidents,
			Count1: v.Sites[0].IncidentsLast90d, Count2: v.Sites[1].IncidentsLast90d, Hazard: p.Hazards["HZ1"].Overdue,
			Alarms1: len(p.Sites[testSite].Alarms), Alarms2: len(p.Sites["S2"].Alarms),
		}
		// 100 - 3 (major hazard) - 2 (overdue) - 15 - 5 - 30 - 5
		// Within 90 days of 25 August: I3 (5 June) at S2, I4 at S1.
		if got.Credit != 40 || len(got.S1) != 3 || len(got.S2) != 1 || got.Count1 != 1 || got.Count2 != 1 || !got.Hazard {
			t.Errorf("%s: %+v", name, got)
		}
		// Only I4 (20 Aug) is within 7 days of the clock (25 Aug).
		if got.Alarms1 != 1 || got.Alarms2 != 0 {
			t.Errorf("%s: alarms S1 %v, S2 %v", name, p.Sites[testSite].Alarms, p.Sites["S2"].Alarms)
		}
		if first == nil {
			first, firstName = got, name
			continue
		}
		a, _ := json.Marshal(first)
		b, _ := json.Marshal(got)
		if !bytes.Equal(a, b) {
			t.Errorf("%s and %s differ:\n%s\n%s", firstName, name, a, b)
		}
	}
}

// TestIncidentRetention: a site keeps a year of incidents (at most 50);
// older ones leave the list but still count against the credit, and the
// view counts the last 90 days.
func TestIncidentRetention(t *testing.T) {
	r := noWageRules()
	p := NewProject(testProject, r)
	applyWith(t, p, r, registered("2026-02-20T01:00:00Z"), siteAdded("2026-02-20T02:00:00Z", testSite, "C"))
	applyWith(t, p, r,
		incident("2026-03-01T02:00:00Z", "I1", IncidentSerious, IncidentFall, "", 1),
		incident("2026-09-01T02:00:00Z", "I2", IncidentMinor, IncidentFall, "", 1))
	s := p.Sites[testSite]
	if p.View().Sites[0].IncidentsLast90d != 1 || len(s.Incidents) != 2 || p.Credit.Score != 80 {
		t.Fatalf("in September: %d in 90 days, %d kept, credit %v", p.View().Sites[0].IncidentsLast90d, len(s.Incidents), p.Credit.Score)
	}
	applyWith(t, p, r, tick("2027-03-10T00:00:00Z"))
	if len(s.Incidents) != 1 || s.Incidents[0].ID != "I2" || s.EarlierIncidents == nil || s.EarlierIncidents.Counts[IncidentSerious] != 1 {
		t.Fatalf("a year on: kept %+v, earlier %+v", s.Incidents, s.EarlierIncidents)
	}
	if p.Credit.Score != 80 || p.View().Sites[0].IncidentsLast90d != 0 {
		t.Fatalf("a year on: credit %v (want 80: the earlier incident still counts), %d in 90 days", p.Credit.Score, p.View().Sites[0].IncidentsLast90d)
	}
	if !strings.Contains(p.Credit.Changes[0].Reason, "1 earlier serious incidents at S1") {
		t.Fatalf("changes %+v", p.Credit.Changes)
	}
	b := twinJSON(t, p)
	if again := twinJSON(t, restore(t, b)); !bytes.Equal(b, again) {
		t.Fatalf("restored twin differs at %s", firstDiff(b, again))
	}

	t.Run("at most 50", func(t *testing.T) {
		q := NewProject(testProject, r)
		applyWith(t, q, r, registered("2026-02-20T01:00:00Z"), siteAdded("2026-02-20T02:00:00Z", testSite, "C"))
		start := ts("2026-03-01T02:00:00Z")
		for i := range 53 {
			at := start.Add(time.Duration(i) * time.Hour).Format(time.RFC3339)
			applyWith(t, q, r, incident(at, fmt.Sprintf("I%02d", i), IncidentMinor, IncidentOther, "", 0))
		}
		qs := q.Sites[testSite]
		if len(qs.Incidents) != 50 || qs.Incidents[0].ID != "I03" || qs.EarlierIncidents.Counts[IncidentMinor] != 3 || q.Credit.Score != 0 {
			t.Fatalf("kept %d from %s, earlier %+v, credit %v", len(qs.Incidents), qs.Incidents[0].ID, qs.EarlierIncidents, q.Credit.Score)
		}
		if _, ok := qs.Alarms["incident@I00"]; ok {
			t.Fatal("an incident that left the list still has an alarm")
		}
	})
}

// TestSensorAlarmsLast7d: every sensor alarm raised at a site is
// remembered for 7 days of the site's clock and counted in the view.
func TestSensorAlarmsLast7d(t *testing.T) {
	p := siteTwin(t)
	mustApply(t, p, craneInstalled("2026-06-01T00:00:00Z", "TC1", 60, 20))
	mustApply(t, p,
		reading("2026-06-12T02:00:00Z", SensorPM10, 260, "µg/m³", ""),    // raises pm10_hourly
		reading("2026-06-12T04:00:00Z", SensorPM10, 60, "µg/m³", ""),     // clears it
		reading("2026-06-12T05:00:00Z", SensorPM10, 230, "µg/m³", ""),    // raises it again
		reading("2026-06-12T05:01:00Z", SensorPM10, 400, "µg/m³", ""),    // escalates: not a new alarm
		reading("2026-06-13T03:00:00Z", SensorCraneLoad, 95, "%", "TC1"), // raises crane_load
		reading("2026-06-14T15:00:00Z", SensorNoise, 62, "dB(A)", ""),    // 23:00: raises noise_leq
	)
	v := p.View().Sites[0]
	if v.AlarmsLast7d != 4 || v.AlarmsLast7dByRule["pm10_hourly"] != 2 || v.AlarmsLast7dByRule["crane_load"] != 1 || v.AlarmsLast7dByRule["noise_leq"] != 1 {
		t.Fatalf("alarms in the last 7 days %d %v", v.AlarmsLast7d, v.AlarmsLast7dByRule)
	}
	// Seven days after the dust, only the crane and noise alarms count.
	mustApply(t, p, reading("2026-06-19T05:30:00Z", SensorHumidity, 70, "%", ""))
	v = p.View().Sites[0]
	if v.AlarmsLast7d != 2 || len(p.Sites[testSite].SensorAlarms) != 2 {
		t.Fatalf("a week later: %d counted, %d kept", v.AlarmsLast7d, len(p.Sites[testSite].SensorAlarms))
	}
	// A project clock a week past the last alarm counts none, even if the
	// site has had no reading since.
	mustApply(t, p, wagesPaid("2026-06-22T00:00:00Z", 3_860_000))
	if v := p.View().Sites[0]; v.AlarmsLast7d != 0 || !v.At.Equal(ts("2026-06-22T00:00:00Z")) {
		t.Fatalf("at the project clock: %d alarms at %v", v.AlarmsLast7d, v.At)
	}
}

func TestIncidentRulesCheck(t *testing.T) {
	section := func(m map[string]any, name string) map[string]any { return m[name].(map[string]any) }
	tests := []struct {
		name string
		edit func(m map[string]any)
		want string
	}{
		{"unknown severity", func(m map[string]any) { section(m, "incidents")["level"] = map[string]any{"major": "warn"} }, `incidents.level: "major" is not an incident severity`},
		{"bad level", func(m map[string]any) { section(m, "incidents")["level"] = map[string]any{"minor": "amber"} }, `level must be ok, warn or stop (got "amber")`},
		{"no source", func(m map[string]any) { delete(section(m, "incidents"), "source") }, "incidents.source is required"},
		{"days beyond a year", func(m map[string]any) { section(m, "incidents")["days"] = 400 }, "incidents.days must be from 0 (exclusive) to 365"},
		{"no days", func(m map[string]any) { delete(section(m, "incidents"), "days") }, "incidents.days must be from 0 (exclusive) to 365"},
		{"credit for an unknown severity", func(m map[string]any) { section(m, "credit")["incident"] = map[string]any{"trivial": 5} }, `credit.incident: "trivial" is not an incident severity`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m map[string]any
			if err := json.Unmarshal(DefaultRulesJSON(), &m); err != nil {
				t.Fatal(err)
			}
			tt.edit(m)
			b, _ := json.Marshal(m)
			_, err := ParseRules(b)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseRules: %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("a pack without an incidents section raises no incident alarm", func(t *testing.T) {
		var m map[string]any
		if err := json.Unmarshal(DefaultRulesJSON(), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "incidents")
		b, _ := json.Marshal(m)
		r, err := ParseRules(b)
		if err != nil {
			t.Fatal(err)
		}
		p := NewProject(testProject, r)
		applyWith(t, p, r, registered("2026-02-20T01:00:00Z"), siteAdded("2026-02-20T02:00:00Z", testSite, "C"))
		if as := applyWith(t, p, r, incident(day10, "I1", IncidentFatal, IncidentFall, "", 1)); len(p.Sites[testSite].Alarms) != 0 || len(p.Sites[testSite].Incidents) != 1 {
			t.Fatalf("alerts %q", alertSummary(as))
		}
	})
}
