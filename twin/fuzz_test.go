package twin

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// fuzzBase returns a twin of project id with a registration, the site (and
// S1), a crane, a pit, a plan, an open hazard and a few readings, so that
// most fuzzed events have something to act on. Its events are built here,
// not decoded, so that they do not depend on the code under test beyond
// Apply.
func fuzzBase(t *testing.T, id, site string) *ProjectTwin {
	t.Helper()
	p := NewProject(id, pack())
	base := []*Event{
		registered("2026-02-20T01:00:00Z"),
		siteAdded("2026-02-20T02:00:00Z", testSite, "C"),
		craneInstalled("2026-04-08T01:30:00Z", "TC-01", 62, 20),
		pitInstalled("2026-03-10T02:00:00Z", "P2", 30, 2),
		planned("2026-02-26T01:00:00Z", ms("M1-foundation", 120, 0.25), ms("M2-structure", 230, 0.75, "M1-foundation")),
		hazardFound("2026-07-06T02:40:00Z", "HZ-0142-017", SeverityMajor, "scaffolding", "2026-07-10"),
		reading("2026-06-12T03:00:00Z", SensorPM10, 160, "µg/m³", ""),
		reading("2026-06-12T03:01:00Z", SensorWindSpeed, 12, "m/s", "TC-01"),
	}
	if site != "" && site != testSite {
		base = append(base, siteAdded("2026-02-21T02:00:00Z", site, "B"))
	}
	for _, e := range base {
		e.Project = id
		if _, err := Apply(p, e, pack()); err != nil {
			t.Fatalf("base event %s: %v", e.ID, err)
		}
	}
	return p
}

// FuzzDecode feeds arbitrary bytes to Decode. Decode must never panic and
// must fail only with a *ValidationError naming a field or with
// ErrMalformed; an event it accepts must survive Encode -> Decode unchanged;
// and applying it, to a fresh twin or to one with history, must neither
// panic nor leave a twin that cannot be written as JSON and restored.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			if e != nil {
				t.Fatalf("Decode returned an event and an error: %v", err)
			}
			var ve *ValidationError
			switch {
			case errors.As(err, &ve):
				if ve.Field == "" || ve.Rule == "" {
					t.Fatalf("validation error without field or rule: %#v", ve)
				}
			case !errors.Is(err, ErrMalformed):
				t.Fatalf("error is neither a ValidationError nor ErrMalformed: %v", err)
			}
			return
		}
		if !e.Received.IsZero() {
			t.Fatalf("Decode set Received (%v): it is the runtime's, not the event's", e.Received)
		}
		enc, err := Encode(e)
		if err != nil {
			t.Fatalf("Encode of a decoded event: %v", err)
		}
		e2, err := Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(e)): %v\n%s", err, enc)
		}
		if diff := equalEvents(e, e2); diff != "" {
			t.Fatalf("round trip changed the event: %s\n%s", diff, enc)
		}
		id := e.Project
		if id == CityWide {
			id = "P1"
		}
		for _, p := range []*ProjectTwin{NewProject(id, pack()), fuzzBase(t, id, e.Site)} {
			if _, err := Apply(p, e, pack()); err != nil && !errors.Is(err, ErrRejected) {
				t.Fatalf("Apply: %v", err)
			}
			// Applying it again changes nothing that matters: events kept
			// for life are duplicates; readings and progress reports older
			// than the dedup horizon may be applied again, to no effect.
			if eff, err := Apply(p, e, pack()); err == nil {
				if !recentTypes[e.Type] && !eff.Duplicate {
					t.Fatalf("second Apply of %s was not a duplicate", e.ID)
				}
				if len(eff.Alerts)+len(eff.Audit)+len(eff.Outbound) != 0 {
					t.Fatalf("second Apply of %s had effects %+v", e.ID, eff)
				}
			}
			js, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("the twin cannot be written as JSON: %v", err)
			}
			var back ProjectTwin
			if err := json.Unmarshal(js, &back); err != nil {
				t.Fatalf("the twin cannot be read back: %v", err)
			}
			if again, _ := json.Marshal(&back); !bytes.Equal(js, again) {
				t.Fatalf("restored twin differs at %s", firstDiff(js, again))
			}
			if _, err := json.Marshal(p.View()); err != nil {
				t.Fatalf("the view cannot be written as JSON: %v", err)
			}
			if b := VerifyChain(p.ID, p.Audit); b != nil {
				t.Fatalf("audit chain: %v", b)
			}
		}
	})
}
