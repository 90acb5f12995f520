package twin

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// every returns the times from from (inclusive) to to (exclusive), step
// apart, as RFC 3339 strings.
func every(from, to string, step time.Duration) []string {
	var out []string
	for t := ts(from); t.Before(ts(to)); t = t.Add(step) {
		out = append(out, t.Format(time.RFC3339))
	}
	return out
}

// atSite moves an event to another site of P1.
func atSite(site string, e *Event) *Event {
	e.Site = site
	e.ID = site + "/" + e.ID
	return e
}

// scenario is a scripted half year of one project, in the order a
// partition delivers it: registration, plan, progress falling behind,
// monthly wages and then arrears, disbursements (one delivered twice), a
// change order, two hazards through the rectification loop, a dust episode
// with a duplicate, a late and an expired reading, night noise, a
// foundation pit moving faster and faster, a rainstorm, and a typhoon with
// the crane's wind rising and falling.
func scenario() []*Event {
	var es []*Event
	add := func(e ...*Event) { es = append(es, e...) }

	add(registered("2026-02-20T01:00:00Z"),
		siteAdded("2026-02-20T02:00:00Z", "S1", "C"),
		siteAdded("2026-02-21T02:00:00Z", "S2", "B"),
		planned("2026-02-26T01:00:00Z", ms("M1-foundation", 120, 0.25), ms("M2-structure", 230, 0.4, "M1-foundation"),
			ms("M3-envelope", 110, 0.15, "M2-structure"), ms("M4-fitout", 150, 0.2, "M2-structure")),
		pitInstalled("2026-03-10T02:00:00Z", "P2", 30, 2),
		craneInstalled("2026-04-08T01:30:00Z", "TC1", 62, 20),
		changeOrder("CO-0142-003", "2026-06-05T07:30:00Z", 12.5e6, 21),
	)
	for i, month := range []string{"2026-03", "2026-04", "2026-05", "2026-06", "2026-07", "2026-08"} {
		add(deposited(month+"-01T02:00:00Z", 3.6e6))
		if i < 3 { // June's wages are paid late, on 15 July
			add(wagesPaid(month+"-28T04:00:00Z", 3.5e6+float64(i)*1e5))
		}
	}
	add(wagesPaid("2026-07-15T04:00:00Z", 3.7e6), wagesPaid("2026-08-10T04:00:00Z", 3.7e6))
	// M1 is planned for 120 days from 1 March; it slips in June.
	for _, pr := range []struct {
		at  string
		pct float64
	}{{"2026-03-31T09:00:00Z", 24}, {"2026-04-30T09:00:00Z", 48}, {"2026-05-31T09:00:00Z", 66}, {"2026-06-30T09:00:00Z", 80}, {"2026-07-15T09:00:00Z", 88}} {
		add(progress(pr.at, "M1-foundation", pr.pct))
	}
	add(completed("2026-08-01T09:00:00Z", "M1-foundation"),
		milestoneAccepted("2026-08-05T03:00:00Z", "M1-foundation"),
		disbursed("2026-05-10T06:00:00Z", 30e6, "M1-foundation"),
		disbursed("2026-08-06T06:00:00Z", 150e6, "M1-foundation"))

	// Hazards: a general one closed on re-inspection; a major one that goes
	// overdue, is rectified, fails re-inspection, and is closed.
	add(hazardFound("2026-07-06T02:40:00Z", "HZ-017", SeverityMajor, "scaffolding", "2026-07-10"),
		hazardFound("2026-07-06T03:10:00Z", "HZ-018", SeverityGeneral, "housekeeping", "2026-07-08"),
		rectified("2026-07-09T02:00:00Z", "HZ-018"),
		inspected("2026-07-10T02:30:00Z", "HZ-018", "pass", ""),
		rectified("2026-07-12T03:00:00Z", "HZ-017"),
		inspected("2026-07-13T03:00:00Z", "HZ-017", "fail", "2026-07-15"),
		rectified("2026-07-14T03:00:00Z", "HZ-017"),
		hazardAccepted("2026-07-15T03:00:00Z", "HZ-017"))

	// Foundation pit: hourly readings from 9 July, accelerating on the 10th.
	v := 12.0
	for i, at := range every("2026-07-09T00:00:00Z", "2026-07-10T08:00:00Z", time.Hour) {
		if i > 20 {
			v += 0.3
		} else {
			v += 0.02
		}
		add(reading(at, SensorPitDisplacement, v, "mm", "P2"))
	}
	// Dust at S1 on the morning of 10 July (local), every 10 minutes.
	dust := []float64{120, 140, 160, 180, 200, 220, 240, 230, 210, 190, 170, 150, 130, 110, 90, 80, 70, 60, 60, 60}
	for i, at := range every("2026-07-10T00:00:00Z", "2026-07-10T03:20:00Z", 10*time.Minute) {
		add(reading(at, SensorPM10, dust[i], "µg/m³", ""))
	}
	add(atSite("S2", reading("2026-07-10T01:00:00Z", SensorPM10, 60, "µg/m³", "")))
	// Rainstorm signals, and rain at S2 every 30 minutes.
	add(rain("2026-07-10T06:00:00Z", RainOrange, "", ""),
		rain("2026-07-10T07:00:00Z", RainRed, "2026-07-10T12:00:00Z", "Nanshan"),
		rain("2026-07-10T07:30:00Z", RainYellow, "", "Futian"),
		rain("2026-07-10T10:00:00Z", RainCancelled, "", ""))
	rainMM := []float64{8, 15, 22, 18, 9, 4, 0, 0, 0, 0, 0, 0, 0}
	for i, at := range every("2026-07-10T06:00:00Z", "2026-07-10T12:30:00Z", 30*time.Minute) {
		add(atSite("S2", reading(at, SensorRainfall, rainMM[i], "mm", "")))
	}
	// Night noise at S1, 10 July 22:00-22:30 local.
	for _, at := range every("2026-07-10T14:00:00Z", "2026-07-10T14:30:00Z", 5*time.Minute) {
		add(reading(at, SensorNoise, 58, "dB(A)", ""))
	}
	add(reading("2026-07-11T00:30:00Z", SensorNoise, 62, "dB(A)", "")) // 08:30 local: day limit
	add(tick("2026-07-11T01:00:00Z"))

	// Typhoon: the advisory, then the wind at S1 rising and falling at 10 m
	// and at the crane's anemometer (62 m).
	add(typhoon("2026-08-14T00:30:00Z", "Wutip", "2026-08-14T00:00:00Z", 19.8, 117.9, 20.7, 116.6, 21.6, 115.3, 22.4, 114.2, 23.3, 113.1))
	wind := []float64{8, 9, 10, 11, 12, 13, 14, 14, 13, 12, 11, 10, 9, 8, 7}
	for i, at := range every("2026-08-14T14:00:00Z", "2026-08-14T19:00:00Z", 20*time.Minute) {
		add(reading(at, SensorWindSpeed, wind[i], "m/s", ""))
		add(reading(at, SensorWindGust, wind[i]*1.45, "m/s", "TC1"))
	}
	add(tick("2026-08-15T12:00:00Z"))

	slices.SortStableFunc(es, func(a, b *Event) int { return a.Time.Compare(b.Time) })

	// Deliveries out of order, each after the event with the given id.
	find := func(id string) int {
		for i, e := range es {
			if e.ID == id {
				return i
			}
		}
		panic("no event " + id)
	}
	after := func(id string, e *Event) { i := find(id) + 1; es = slices.Insert(es, i, e) }
	pay := es[find("fund-2026-05-10T06:00:00Z-30000000")]
	after(pay.ID, pay) // a payment delivered twice: counted once
	dup := es[find("r-pm10--2026-07-10T00:50:00Z")]
	last := "r-pm10--2026-07-10T01:10:00Z"
	after(last, dup)                                                             // a duplicate reading
	after(dup.ID, reading("2026-07-10T01:05:00Z", SensorPM10, 400, "µg/m³", "")) // 5 min behind: on time
	after(last, reading("2026-07-10T01:02:00Z", SensorPM10, 500, "µg/m³", ""))   // 8 min behind: late, kept, no alarm
	after(last, reading("2026-07-10T00:30:30Z", SensorPM10, 900, "µg/m³", ""))   // 40 min behind: expired
	return es
}

// runScenario applies the scenario to a fresh twin and returns it with all
// the alerts, in order.
func runScenario(t *testing.T) (*ProjectTwin, []Alert) {
	t.Helper()
	p := NewProject(testProject, pack())
	return p, allAlerts(mustApply(t, p, scenario()...))
}

func TestGolden(t *testing.T) {
	p, alerts := runScenario(t)
	if VerifyChain(testProject, p.Audit) != nil {
		t.Fatal("the scenario's audit chain is broken")
	}
	for _, g := range []struct {
		file string
		v    any
	}{
		{"scenario_twin.json", p},
		{"scenario_alerts.json", alerts},
		{"scenario_view.json", p.View()},
	} {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // keep "<" and ">" of the reasons readable
		enc.SetIndent("", "  ")
		if err := enc.Encode(g.v); err != nil {
			t.Fatal(err)
		}
		got := buf.Bytes()
		path := filepath.Join("testdata", "golden", g.file)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./twin/ -run TestGolden -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the golden file; if the change is intended, run go test ./twin/ -run TestGolden -update and review the diff\n%s", path, firstDiff(want, got))
		}
	}
}

// firstDiff shows the first line where two texts differ.
func firstDiff(want, got []byte) string {
	wl, gl := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + string(w) + "\n  got:  " + string(g)
		}
	}
	return ""
}
