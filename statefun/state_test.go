package statefun_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/statefun"
	"github.com/sitetwin/sitetwin/twin"
)

// fixtureState is a project state with a bit of everything: sites,
// sensor series, a hazard with its deadline timer, a debounced run due.
func fixtureState(t *testing.T) *statefun.ProjectState {
	t.Helper()
	rules := twin.DefaultRules()
	p := twin.NewProject("P-GOLD", rules)
	evs := registration("P-GOLD", t0.Add(-time.Hour))
	for i := range 30 {
		evs = append(evs, noise(fmt.Sprintf("g%02d", i), "P-GOLD", t0.Add(time.Duration(i)*time.Minute), 60+float64(i)))
	}
	evs = append(evs, &twin.Event{ID: "hz", Type: twin.TypeHazardFound, Source: "insp", Time: t0, Project: "P-GOLD", Site: "P-GOLD-S1",
		Data: &twin.HazardFound{Hazard: "HZ-1", Severity: "major", Category: "scaffolding", Deadline: mustWhen("2026-06-05")}})
	for _, e := range evs {
		if _, err := twin.Apply(p, e, rules); err != nil {
			t.Fatal(err)
		}
	}
	return &statefun.ProjectState{Twin: p, Due: map[string]bool{"delay": true},
		Deadlines: map[string]time.Time{"HZ-1": p.Hazards["HZ-1"].Deadline}}
}

// TestStateVersions: every project state a version of sitetwin wrote
// (testdata/state/project-v*.json, kept forever) is read by this one, and
// the twin inside goes on applying events; the file of the current version
// is what this build writes, byte for byte, so that a change of the format
// without a new version fails here. -update rewrites only the current
// version's file.
func TestStateVersions(t *testing.T) {
	current := filepath.Join("testdata", "state", fmt.Sprintf("project-v%d.json", statefun.StateVersion))
	enc, err := statefun.EncodeProjectState(fixtureState(t))
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.MkdirAll(filepath.Dir(current), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(current, enc, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob(filepath.Join("testdata", "state", "project-v*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no state files (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if f == current && !bytes.Equal(b, enc) {
				t.Fatalf("this build writes version %d differently from %s: bump StateVersion (keep the old file) or run with -update", statefun.StateVersion, f)
			}
			st, err := statefun.DecodeProjectState(b)
			if err != nil {
				t.Fatal(err)
			}
			p := st.Twin
			if p.ID != "P-GOLD" || !p.Registered || p.Applied != 33 || p.Sites["P-GOLD-S1"].Readings != 30 || p.Hazards["HZ-1"] == nil {
				t.Fatalf("twin read from %s: id %s, applied %d", f, p.ID, p.Applied)
			}
			if !st.Due["delay"] || st.Deadlines["HZ-1"].IsZero() {
				t.Errorf("timers: due %v, deadlines %v", st.Due, st.Deadlines)
			}
			rules := twin.DefaultRules()
			if eff, err := twin.Apply(p, noise("g29", "P-GOLD", t0.Add(29*time.Minute), 89), rules); err != nil || !eff.Duplicate {
				t.Errorf("a reading applied before is not a duplicate: %v", err)
			}
			if _, err := twin.Apply(p, noise("after", "P-GOLD", t0.Add(time.Hour), 99), rules); err != nil || p.Health != twin.Red {
				t.Errorf("the read twin does not go on: %v, health %s", err, p.Health)
			}
		})
	}
}

// TestStateErrors: a state of a later version is refused, never read
// half; other values are not states.
func TestStateErrors(t *testing.T) {
	cases := []struct {
		name, value string
		newer       bool
	}{
		{"newer", `{"format":"sitetwin.project-state","version":99,"twin":null}`, true},
		{"other format", `{"format":"sitetwin.city-state","version":1}`, false},
		{"no version", `{"format":"sitetwin.project-state"}`, false},
		{"not json", `twin`, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := statefun.DecodeProjectState([]byte(c.value))
			if err == nil || errors.Is(err, statefun.ErrStateVersion) != c.newer {
				t.Fatalf("err %v", err)
			}
		})
	}
	newer := fmt.Sprintf(`{"format":"sitetwin.city-state","version":%d}`, statefun.StateVersion+1)
	if _, err := statefun.DecodeCityState([]byte(newer)); !errors.Is(err, statefun.ErrStateVersion) || !strings.Contains(err.Error(), fmt.Sprintf("reads up to %d", statefun.StateVersion)) {
		t.Errorf("city state of a newer version: %v", err)
	}
	if _, err := statefun.DecodeProjectState([]byte(`{"format":"sitetwin.project-state","version":2,"twin_snapshot":"AHN0dwE="}`)); err == nil {
		t.Error("a cut-short twin snapshot was read")
	}
}
