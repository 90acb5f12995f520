package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// simArgs is a small simulation: 6 projects, a day of live events at 0.1/s.
var simArgs = []string{"--projects", "6", "--days", "1", "--rate", "0.1", "--seed", "4", "--start", "2026-03-02"}

// runSimulate runs `sitetwin simulate` with the arguments and returns its
// exit status and standard error.
func runSimulate(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli(context.Background(), append([]string{"simulate"}, args...), &out, &errOut, func(string) string { return "" })
	return code, errOut.String()
}

// readEvents decodes every line of an NDJSON history, checking that each
// is one valid CloudEvent and that times never go back.
func readEvents(t *testing.T, b []byte) []*twin.Event {
	t.Helper()
	var evs []*twin.Event
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64*1024), 2<<20)
	for line := 1; sc.Scan(); line++ {
		e, err := twin.Decode(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d does not decode: %v\n%s", line, err, sc.Bytes())
		}
		if n := len(evs); n > 0 && e.Time.Before(evs[n-1].Time) {
			t.Fatalf("line %d at %v is before line %d at %v", line, e.Time, line-1, evs[n-1].Time)
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestSimulate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "history.ndjson")
	code, stderr := runSimulate(t, append([]string{"--out", file}, simArgs...)...)
	if code != 0 {
		t.Fatalf("simulate exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "simulate: wrote ") || !strings.Contains(stderr, "history.ndjson") {
		t.Errorf("no summary on stderr: %s", stderr)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	evs := readEvents(t, b)
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, shenzhen)
	types := map[string]int{}
	projects := map[string]bool{}
	var live int
	for _, e := range evs {
		types[e.Type]++
		if e.Project != twin.CityWide {
			if !projects[e.Project] && e.Type != twin.TypeProjectRegistered {
				t.Fatalf("%s: the first event of %s is a %s", e.ID, e.Project, e.Type)
			}
			projects[e.Project] = true
		}
		if !e.Time.Before(start) {
			live++
		}
		if e.Time.After(start.Add(24 * time.Hour)) {
			t.Fatalf("%s at %v, after the day asked for", e.ID, e.Time)
		}
	}
	if len(projects) != 6 || types[twin.TypeSensorReading] == 0 || types[twin.TypePlanBaselined] != 6 || live < 7000 || live > 10000 {
		t.Errorf("%d projects, %d live events (want about 8,640), types %v", len(projects), live, types)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, ".history*")); len(matches) != 0 {
		t.Errorf("temporary files left: %v", matches)
	}

	t.Run("deterministic", func(t *testing.T) {
		again := filepath.Join(dir, "again.ndjson")
		if code, stderr := runSimulate(t, append([]string{"--out", again}, simArgs...)...); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if b2, _ := os.ReadFile(again); !bytes.Equal(b, b2) {
			t.Fatal("two runs with the same flags wrote different files")
		}
		other := filepath.Join(dir, "other.ndjson")
		if code, stderr := runSimulate(t, append([]string{"--out", other}, append(simArgs, "--seed", "5")...)...); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if b3, _ := os.ReadFile(other); bytes.Equal(b, b3) {
			t.Fatal("another seed wrote the same file")
		}
	})

	t.Run("gzip", func(t *testing.T) {
		gz := filepath.Join(dir, "history.ndjson.gz")
		if code, stderr := runSimulate(t, append([]string{"--out", gz}, simArgs...)...); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		f, err := os.Open(gz)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || !bytes.Equal(plain, b) {
			t.Fatalf("the .gz file holds %d bytes (%v), not the %d of the plain one", len(plain), err, len(b))
		}
	})

	t.Run("replayable", func(t *testing.T) {
		a := startTestApp(t, func(c *runConfig) { c.Projects = 0 })
		var out, errOut bytes.Buffer
		if code := cli(context.Background(), []string{"replay", file, "--brokers", a.KafkaAddr}, &out, &errOut, func(string) string { return "" }); code != 0 {
			t.Fatalf("replay exit %d: %s %s", code, out.String(), errOut.String())
		}
		if !strings.Contains(out.String(), "replayed ") || strings.Contains(out.String(), "could not be routed") {
			t.Fatalf("replay: %s %s", out.String(), errOut.String())
		}
		own := map[string]int64{} // events of each project (city-wide ones come on top)
		incidents := map[string]int{}
		for _, e := range evs {
			own[e.Project]++
			if e.Type == twin.TypeIncidentReported {
				incidents[e.Project]++
			}
		}
		base := "http://" + a.HTTPAddr
		eventually(t, func() string {
			for id := range projects {
				v, ok := getTwin(t, base, id)
				if !ok {
					return fmt.Sprintf("%s not found; engine %+v", id, a.Engine.Stats())
				}
				if v.Applied < own[id] {
					return fmt.Sprintf("%d of the %d replayed events of %s applied (found %v); engine %+v", v.Applied, own[id], id, ok, a.Engine.Stats())
				}
			}
			return ""
		})
		if st := a.Engine.Stats(); st.DeadLetters != 0 || st.Twins != 6 {
			t.Errorf("after the replay: %d dead letters, %d twins", st.DeadLetters, st.Twins)
		}
		for id, n := range incidents {
			v, _ := getTwin(t, base, id)
			got := 0
			for _, s := range v.Sites {
				got += len(s.Incidents)
			}
			if got != n {
				t.Errorf("%s: %d incidents in the twin, %d in the file", id, got, n)
			}
		}
	})
}

func TestSimulateFlags(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "h.ndjson")
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"no --out", []string{"--days", "1"}, "--out FILE is required"},
		{"negative days", []string{"--out", out, "--days", "-1"}, "--days must be from 0 to 3650"},
		{"no projects", []string{"--out", out, "--projects", "0"}, "--projects must be from 1 to 100000"},
		{"negative rate", []string{"--out", out, "--rate", "-1"}, "--rate must be more than 0"},
		{"bad start", []string{"--out", out, "--start", "June"}, `--start "June"`},
		{"start out of range", []string{"--out", out, "--start", "1900-01-01"}, "Start must be between 1980 and 2190"},
		{"unknown flag", []string{"--out", out, "--speed", "3"}, "flag provided but not defined"},
		{"an argument", []string{"--out", out, "extra"}, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stderr := runSimulate(t, tt.args...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tt.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("a bad command line wrote a file")
			}
		})
	}
	t.Run("history only", func(t *testing.T) {
		code, stderr := runSimulate(t, "--out", out, "--days", "0", "--projects", "3", "--rate", "0")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		b, _ := os.ReadFile(out)
		for _, e := range readEvents(t, b) {
			if e.Time.After(time.Date(2026, 6, 1, 0, 0, 0, 0, shenzhen)) {
				t.Fatalf("%s at %v: --days 0 writes the history only", e.ID, e.Time)
			}
		}
	})
}

// TestSimulateStorm: --storm lays Mangkhut over the live days — advisories
// city-wide and jib gusts at the cranes, in time order among the city's
// events — and a backtest scores the typhoon model per crane on it.
func TestSimulateStorm(t *testing.T) {
	file := filepath.Join(t.TempDir(), "storm.ndjson")
	code, stderr := runSimulate(t, "--out", file, "--projects", "8", "--days", "8", "--seed", "2",
		"--storm", "../../predict/testdata/wind/mangkhut_2018_1822_jma.csv", "--storm-at", "2026-06-05T12:00:00Z")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(file)
	var advisories, gusts int
	for _, e := range readEvents(t, b) {
		switch d := e.Data.(type) {
		case *twin.TyphoonAdvisory:
			advisories++
			if d.Name != "mangkhut" || e.Project != twin.CityWide {
				t.Fatalf("advisory %s: %+v", e.ID, e)
			}
		case *twin.SensorReading:
			if strings.HasPrefix(e.ID, "storm-") {
				gusts++
			}
		}
	}
	if advisories < 5 || gusts < 20 {
		t.Fatalf("%d advisories, %d storm gusts", advisories, gusts)
	}
	var out, errOut bytes.Buffer
	if code := cli(context.Background(), []string{"backtest", "--history", file, "--models", "typhoon", "--every", "12h", "--from", "2026-06-03"}, &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("backtest exit %d: %s", code, errOut.String())
	}
	if !strings.Contains(out.String(), "crane_exceed  typhoon") || !strings.Contains(out.String(), "FALSE ALARMS") {
		t.Fatalf("no crane scores:\n%s", out.String())
	}
	if code, stderr := runSimulate(t, "--out", file, "--storm", "nope.csv"); code != 2 || !strings.Contains(stderr, "--storm") {
		t.Fatalf("a missing track: exit %d %s", code, stderr)
	}
}
