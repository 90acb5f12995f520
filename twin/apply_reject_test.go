package twin

import (
	"testing"
	"time"
)

// TestApplyUnregisteredRejections: an event about a project, site or
// equipment that was never registered is rejected with a reason that says
// what to send first; the twin is unchanged, and the event is not
// remembered, so once the missing registration arrives the same event
// applies.
func TestApplyUnregisteredRejections(t *testing.T) {
	registration := []*Event{registered("2026-02-20T01:00:00Z"), siteAdded("2026-02-20T02:00:00Z", testSite, "C")}
	addressedRain := rain("2026-06-12T07:20:00Z", RainRed, "", "")
	addressedRain.Project, addressedRain.ID = testProject, "p1-"+addressedRain.ID
	tests := []struct {
		name  string
		fresh bool     // a twin never registered, instead of siteTwin
		setup []*Event // applied first
		e     *Event
		want  string   // the rejection reason
		fix   []*Event // after these, e applies
	}{
		{name: "reading of a project never registered", fresh: true,
			e:    reading(day10, SensorPM10, 230, "µg/m³", ""),
			want: "project P1 is not registered (send project.registered first)", fix: registration},
		{name: "site of a project never registered", fresh: true,
			e:    siteAdded(day10, testSite, "C"),
			want: "project P1 is not registered (send project.registered first)", fix: one(registered("2026-02-20T01:00:00Z"))},
		{name: "weather addressed to a project never registered", fresh: true,
			e:    addressedRain,
			want: "project P1 is not registered (send project.registered first)", fix: one(registered("2026-02-20T01:00:00Z"))},
		{name: "city-wide weather to a project never registered", fresh: true,
			e:    typhoon("2026-08-14T00:30:00Z", "Wutip", "2026-08-14T00:00:00Z", 21.6, 115.3, 22.4, 114.2),
			want: "city-wide typhoon.advisory applied to project P1, which is not registered (deliver city-wide events only to registered twins)",
			fix:  one(registered("2026-02-20T01:00:00Z"))},
		{name: "reading from a site never added",
			e:    atSite("S9", reading(day10, SensorPM10, 230, "µg/m³", "")),
			want: "site S9 is not registered on project P1 (send site.added first)", fix: one(siteAdded("2026-06-01T00:00:00Z", "S9", "C"))},
		{name: "crane installed at a site never added",
			e:    atSite("S9", craneInstalled(day10, "TC9", 60, 0)),
			want: "site S9 is not registered on project P1 (send site.added first)", fix: one(siteAdded("2026-06-01T00:00:00Z", "S9", "C"))},
		{name: "hazard found at a site never added",
			e:    atSite("S9", hazardFound(day10, "HZ9", SeverityMajor, "scaffolding", "2026-06-20")),
			want: "site S9 is not registered on project P1 (send site.added first)", fix: one(siteAdded("2026-06-01T00:00:00Z", "S9", "C"))},
		{name: "crane load of a crane never installed",
			e:    reading(day10, SensorCraneLoad, 50, "%", "TC9"),
			want: "equipment TC9 is not installed at site S1 of project P1 (send equipment.installed first)", fix: one(craneInstalled("2026-06-01T00:00:00Z", "TC9", 60, 0))},
		{name: "pit displacement of a pit never installed",
			e:    reading(day10, SensorPitDisplacement, 12, "mm", "PIT9"),
			want: "equipment PIT9 is not installed at site S1 of project P1 (send equipment.installed first)", fix: one(pitInstalled("2026-06-01T00:00:00Z", "PIT9", 0, 0))},
		{name: "wind at a crane never installed (a kind that needs no equipment)",
			e:    reading(day10, SensorWindSpeed, 12, "m/s", "TC9"),
			want: "equipment TC9 is not installed at site S1 of project P1 (send equipment.installed first)", fix: one(craneInstalled("2026-06-01T00:00:00Z", "TC9", 60, 0))},
		{name: "reading of a crane installed at another site",
			setup: []*Event{siteAdded("2026-06-01T00:00:00Z", "S2", "C"), atSite("S2", craneInstalled("2026-06-01T01:00:00Z", "TC2", 60, 0))},
			e:     reading(day10, SensorCraneLoad, 50, "%", "TC2"),
			want:  "equipment TC2 is not installed at site S1 of project P1 (send equipment.installed first)", fix: one(craneInstalled("2026-06-02T00:00:00Z", "TC2", 60, 0))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewProject(testProject, pack())
			if !tt.fresh {
				p = siteTwin(t)
			}
			mustApply(t, p, tt.setup...)
			e := wire(t, tt.e)
			mustReject(t, p, e, tt.want)
			mustApply(t, p, tt.fix...)
			applied := p.Applied
			if eff, err := Apply(p, e, pack()); err != nil || eff.Duplicate || p.Applied != applied+1 {
				t.Fatalf("the same event once its registration arrived: %+v, %v", eff, err)
			}
		})
	}
}

// TestApplyFutureEvents: an event whose time is more than the pack's
// max_future (1 h) after the runtime received it is rejected, naming both
// times and the limit; Apply reads no clock, so without a Received time
// there is no limit. A rejected event is not remembered: a later delivery
// of it, received when its time has come, applies.
func TestApplyFutureEvents(t *testing.T) {
	if got := pack().MaxFuture.D(); got != time.Hour {
		t.Fatalf("max_future %v, want 1h (the cases below assume it)", got)
	}
	const at = "2026-06-12T02:00:00Z"
	tests := []struct {
		name     string
		fresh    bool // a registration applied to a twin never registered
		time     string
		received string // "" for zero
		want     string // the rejection reason; "" when the event applies
	}{
		{name: "received zero: no limit", time: "2036-06-12T02:00:00Z"},
		{name: "received later than its time", time: at, received: "2026-06-12T02:00:05Z"},
		{name: "received at its time", time: at, received: at},
		{name: "exactly max_future ahead", time: at, received: "2026-06-12T01:00:00Z"},
		{name: "a millisecond more than max_future ahead", time: "2026-06-12T02:00:00.001Z", received: "2026-06-12T01:00:00Z",
			want: "event time 2026-06-12T02:00:00.001Z is 1h0m0.001s ahead of the time the event was received (2026-06-12T01:00:00Z), more than the rule pack's max_future of 1h (fix the producer's clock or time zone)"},
		{name: "received at a fraction of a second: the gap is shown to the second", time: "2026-06-12T10:00:00Z", received: "2026-06-12T02:00:00.116Z",
			want: "event time 2026-06-12T10:00:00Z is 8h ahead of the time the event was received (2026-06-12T02:00:00.116Z), more than the rule pack's max_future of 1h (fix the producer's clock or time zone)"},
		{name: "local time written as UTC: 8 hours ahead", time: "2026-06-12T10:00:00Z", received: at,
			want: "event time 2026-06-12T10:00:00Z is 8h ahead of the time the event was received (2026-06-12T02:00:00Z), more than the rule pack's max_future of 1h (fix the producer's clock or time zone)"},
		{name: "10 years ahead", time: "2036-06-12T02:00:00Z", received: at,
			want: "event time 2036-06-12T02:00:00Z is 87672h ahead of the time the event was received (2026-06-12T02:00:00Z), more than the rule pack's max_future of 1h (fix the producer's clock or time zone)"},
		{name: "a registration 10 years ahead", fresh: true, time: "2036-06-12T02:00:00Z", received: at,
			want: "event time 2036-06-12T02:00:00Z is 87672h ahead of the time the event was received (2026-06-12T02:00:00Z), more than the rule pack's max_future of 1h (fix the producer's clock or time zone)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p *ProjectTwin
			var e *Event
			if tt.fresh {
				p = NewProject(testProject, pack())
				e = wire(t, registered(tt.time))
			} else {
				p = siteTwin(t)
				e = wire(t, reading(tt.time, SensorPM10, 230, "µg/m³", ""))
			}
			if tt.received != "" {
				e.Received = ts(tt.received)
			}
			if tt.want == "" {
				if eff, err := Apply(p, e, pack()); err != nil || eff.Duplicate {
					t.Fatalf("Apply: %+v, %v", eff, err)
				}
				return
			}
			mustReject(t, p, e, tt.want)
			e.Received = e.Time // redelivered when its time has come
			if eff, err := Apply(p, e, pack()); err != nil || eff.Duplicate {
				t.Fatalf("the same event received at its time: %+v, %v", eff, err)
			}
		})
	}
}
