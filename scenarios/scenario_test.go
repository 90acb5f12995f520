package scenarios

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// minimal is a valid fire scenario; the table below breaks one field at a
// time.
const minimal = `{"name": "t", "kind": "fire", "duration": "2h", "step": "10m",
 "incident": {"site": "P-001-S1", "after": "30m"},
 "resources": {"teams": [{"id": "f1", "base": {"lat": 22.5, "lon": 114}, "capabilities": ["fire"]}]}}`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, from, to, field string
	}{
		{"unknown kind", `"kind": "fire"`, `"kind": "meteor"`, "kind"},
		{"no kind", `"kind": "fire",`, ``, "kind"},
		{"step larger than duration", `"step": "10m"`, `"step": "3h"`, "step"},
		{"no step", `"step": "10m"`, `"step": "0s"`, "step"},
		{"negative duration", `"duration": "2h"`, `"duration": "-2h"`, "duration"},
		{"team without base", `"base": {"lat": 22.5, "lon": 114}, `, ``, "resources.teams[0].base"},
		{"team capability", `["fire"]`, `["juggling"]`, "resources.teams[0].capabilities[0]"},
		{"team id", `"id": "f1"`, `"id": ""`, "resources.teams[0].id"},
		{"no incident", `"incident": {"site": "P-001-S1", "after": "30m"},`, ``, "incident"},
		{"incident after the end", `"after": "30m"`, `"after": "3h"`, "incident.after"},
		{"bad severity", `"after": "30m"`, `"after": "30m", "severity": "awful"`, "incident.severity"},
		{"section of another kind", `"incident"`, `"rainstorm": {"cells": []}, "incident"`, "rainstorm"},
		{"detour factor", `"name": "t"`, `"name": "t", "detour_factor": 0.5`, "detour_factor"},
		{"bad event", `"name": "t"`, `"name": "t", "events": [{"after": "1h", "event": {"id": "x", "type": "sensor.reading", "project": "P-001", "site": "P-001-S1", "data": {"kind": "noise", "value": 999, "unit": "dB(A)"}}}]`, "events[0].event.data.value"},
		{"event type", `"name": "t"`, `"name": "t", "events": [{"after": "1h", "event": {"id": "x", "type": "nonsense", "project": "P-001"}}]`, "events[0].event.type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(minimal, tt.from, tt.to, 1)
			if in == minimal {
				t.Fatalf("%q not in the scenario", tt.from)
			}
			_, err := Parse([]byte(in), nil)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a FieldError", err)
			}
			if !strings.Contains(err.Error(), "scenario: "+tt.field+":") {
				t.Fatalf("error %q does not name %s", err, tt.field)
			}
		})
	}
	if _, err := Parse([]byte(minimal), nil); err != nil {
		t.Fatalf("the minimal scenario: %v", err)
	}
	if _, err := Parse([]byte(`{"name": "t", "bogus": 1}`), nil); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("unknown field: %v", err)
	}
}

func TestParseTrackErrors(t *testing.T) {
	read := func(f string) ([]byte, error) { return os.ReadFile(filepath.Join("examples", f)) }
	base := `{"name": "t", "kind": "typhoon", "duration": "72h", "step": "1h", "typhoon": {"track_file": "FILE"}, "resources": {"teams": []}}`
	// a track that lies in the Atlantic
	atlantic := "time,lat,lon,pressure_hpa,max_wind_ms,wind_avg_minutes\n2026-09-01T00:00Z,25,-70,960,40,10\n2026-09-01T06:00Z,26,-71,960,40,10\n"
	tests := []struct{ name, file, field, want string }{
		{"missing file", "tracks/none.csv", "typhoon.track_file", "cannot read"},
		{"outside the region", "atlantic.csv", "typhoon.track_file", "outside the region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := read
			if tt.file == "atlantic.csv" {
				r = func(string) ([]byte, error) { return []byte(atlantic), nil }
			}
			_, err := Parse([]byte(strings.Replace(base, "FILE", tt.file, 1)), r)
			if err == nil || !strings.Contains(err.Error(), tt.field+":") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %s: ...%s", err, tt.field, tt.want)
			}
		})
	}
}

// TestCheckCity: the errors that need the city name the field too.
func TestCheckCity(t *testing.T) {
	tests := []struct{ name, from, to, field string }{
		{"unknown site", `"P-001-S1"`, `"P-999-S9"`, "incident.site"},
		{"unknown equipment", `"after": "30m"`, `"after": "30m", "equipment": "P-001-S1-TC9"`, "incident.equipment"},
		{"start before the fork", `"name": "t"`, `"name": "t", "start": "2020-01-01T00:00:00Z"`, "start"},
		{"event of an unknown project", `"name": "t"`, `"name": "t", "events": [{"after": "1h", "event": {"id": "x", "type": "sensor.reading", "project": "P-999", "site": "S", "data": {"kind": "noise", "value": 60, "unit": "dB(A)"}}}]`, "events[0].event.project"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse([]byte(strings.Replace(minimal, tt.from, tt.to, 1)), nil)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Check(cityTwins(t))
			if err == nil || !strings.Contains(err.Error(), "scenario: "+tt.field+":") {
				t.Fatalf("error %v does not name %s", err, tt.field)
			}
		})
	}
	// a track that never comes near the city
	far := `{"name": "t", "kind": "typhoon", "duration": "72h", "step": "1h", "typhoon": {"advisory": {"name": "FAR", "issued": "2026-09-01T00:00:00Z",
	 "track": [{"time": "2026-09-01T00:00:00Z", "lat": 35, "lon": 150, "pressure_hpa": 960, "max_wind_ms": 40, "wind_avg_minutes": 10},
	           {"time": "2026-09-02T00:00:00Z", "lat": 38, "lon": 152, "pressure_hpa": 960, "max_wind_ms": 40, "wind_avg_minutes": 10}]}},
	 "resources": {"teams": []}}`
	s, err := Parse([]byte(far), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(cityTwins(t)); err == nil || !strings.Contains(err.Error(), "does not concern this city") {
		t.Fatalf("far track: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	for _, name := range []string{"mangkhut_2018.json", "rainstorm.json", "events.json", "typhoon_advisory.json"} {
		if b, err := os.ReadFile(filepath.Join("examples", name)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"name": "x", "kind": "typhoon", "duration": "1h", "step": "2h"}`))
	f.Add([]byte(`{"name": "x", "kind": "events", "duration": "1h", "step": "1m", "events": [{"after": "-1h", "event": null}]}`))
	f.Add([]byte(`[1, 2]`))
	track := []byte("time,lat,lon,pressure_hpa,max_wind_ms,wind_avg_minutes\n2026-09-01T00:00Z,20,120,960,40,10\n2026-09-01T06:00Z,21,119,960,40,10\n")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b, func(string) ([]byte, error) { return track, nil })
		if err != nil {
			if s != nil {
				t.Fatal("a scenario with an error")
			}
			return
		}
		if s.Step.D() <= 0 || s.Step.D() > s.Duration.D() || s.ID == "" {
			t.Fatalf("accepted a bad scenario: %+v", s)
		}
		for _, tm := range s.Resources.Teams {
			if tm.Base == nil {
				t.Fatal("accepted a team without a base")
			}
		}
	})
}
