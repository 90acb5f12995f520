package predict

import (
	"bytes"
	"compress/gzip"
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// historyLines builds the worked example of the history tests as NDJSON:
// project P1 of the earned-schedule tests (plan start day 0 = 1 March 2026
// in Shenzhen; deadline 5 April, the end of day 36) with one site S1. Its
// first sensor reading is on day 0, so the first sample is at the first UTC
// midnight 7 days later: 8 March 00:00 UTC = day 7⅓ (days count from
// 1 March 00:00 CST = 28 February 16:00 UTC). A is complete on day 12, an
// incident is reported at S1 on day 20, B is complete on day 33 (the
// finish, before the deadline), and the last reading is on day 70.
func historyLines(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	add := func(id, typ, site string, day float64, d twin.Data) { b.Write(historyLine(t, id, typ, site, day, d)) }
	add("reg", twin.TypeProjectRegistered, "", -10, &twin.ProjectRegistered{
		Name: "Worked Example Housing", District: "Nanshan", Kind: "housing", Owner: "owner", Contractor: "builder", Supervisor: "supervisor",
		BudgetCNY: 100_000_000, PlannedStart: twin.DateWhen(2026, 3, 1), PlannedFinish: twin.DateWhen(2026, 3, 31), Deadline: twin.DateWhen(2026, 4, 5),
	})
	add("plan", twin.TypePlanBaselined, "", -5, &twin.PlanBaselined{Milestones: workedPlan()})
	add("site", twin.TypeSiteAdded, "S1", -5, &twin.SiteAdded{Name: "main", Lat: 22.5, Lon: 113.9})
	add("r0", twin.TypeSensorReading, "S1", 0, &twin.SensorReading{Kind: "pm10", Value: 50, Unit: "ug/m3"})
	add("doneA", twin.TypeMilestoneCompleted, "", 12, &twin.MilestoneCompleted{Milestone: "A"})
	add("inc", twin.TypeIncidentReported, "S1", 20, &twin.IncidentReported{Incident: "INC1", Severity: "minor", Category: "fall", Injuries: 1})
	add("doneB", twin.TypeMilestoneCompleted, "", 33, &twin.MilestoneCompleted{Milestone: "B"})
	add("r70", twin.TypeSensorReading, "S1", 70, &twin.SensorReading{Kind: "pm10", Value: 40, Unit: "ug/m3"})
	return b.Bytes()
}

// historyLine is one event of P1 at a day of the worked example as an
// NDJSON line.
func historyLine(t *testing.T, id, typ, site string, day float64, d twin.Data) []byte {
	t.Helper()
	e := &twin.Event{ID: id, Type: typ, Source: "test/history", Time: dayOf(day), Project: "P1", Site: site, Data: d}
	line, err := twin.Encode(e)
	if err != nil {
		t.Fatalf("encode %s: %v", id, err)
	}
	return append(line, '\n')
}

func TestReadHistory(t *testing.T) {
	plain := historyLines(t)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write(plain)
	zw.Close()
	for _, tc := range []struct {
		name string
		in   []byte
	}{{"plain", plain}, {"gzip", zipped.Bytes()}} {
		t.Run(tc.name, func(t *testing.T) {
			var read int64
			h, err := ReadHistory(context.Background(), bytes.NewReader(tc.in), HistoryOptions{Rules: twin.DefaultRules(), Progress: func(n int64) { read = n }})
			if err != nil {
				t.Fatal(err)
			}
			if h.Events != 8 || h.Rejected != 0 || h.Incidents != 1 || read != int64(len(tc.in)) {
				t.Fatalf("%d events, %d rejected %v, %d incidents, %d of %d bytes read", h.Events, h.Rejected, h.Rejections, h.Incidents, read, len(tc.in))
			}
			first := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
			if len(h.Samples) != 9 || !h.Samples[0].Equal(first) || !h.Samples[8].Equal(first.Add(56*24*time.Hour)) {
				t.Fatalf("samples %v; want 9 weekly from %v", h.Samples, first)
			}
			day0 := dayOf(0)
			// by hand: sample k (0-based) is at day 7⅓ + 7k
			for k, ex := range h.Examples {
				at := 7 + 1.0/3 + 7*float64(k)
				if !ex.At.Equal(h.Samples[k]) || math.Abs(ex.At.Sub(day0).Hours()/24-at) > 1e-9 {
					t.Fatalf("example %d at %v, want day %g", k, ex.At, at)
				}
				want := map[string]float64{}
				if at+30 <= 70 { // the incident label needs 30 days of history after the sample
					want["incident_30d@S1"] = b2f(at < 20 && 20 <= at+30)
				}
				if at < 33 { // finished on day 33, by the deadline
					want["finish_days"] = 33 - at
					want["on_time"] = 1
				}
				if !sameLabels(ex.Label, want) {
					t.Errorf("example %d (day %g): labels %v, want %v", k, at, ex.Label, want)
				}
			}
		})
	}
}

func sameLabels(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || math.Abs(v-w) > 1e-9 {
			return false
		}
	}
	return true
}

// TestReadHistoryLate: a deadline that passes unfinished labels the
// samples before it late.
func TestReadHistoryLate(t *testing.T) {
	lines := historyLines(t)
	i := bytes.Index(lines, []byte(`"id":"doneB"`))
	start := bytes.LastIndexByte(lines[:i], '\n') + 1
	end := start + bytes.IndexByte(lines[start:], '\n') + 1
	lines = append(lines[:start:start], lines[end:]...) // B never completes
	h, err := ReadHistory(context.Background(), bytes.NewReader(lines), HistoryOptions{Rules: twin.DefaultRules()})
	if err != nil {
		t.Fatal(err)
	}
	for k, ex := range h.Examples {
		_, finish := ex.Label[LabelFinishDays]
		onTime, known := ex.Label[LabelOnTime]
		before := ex.At.Before(dayOf(37)) // the deadline is the end of day 36
		if finish || known != before || known && onTime != 0 {
			t.Errorf("example %d at %v: labels %v; want on_time 0 only before the deadline", k, ex.At, ex.Label)
		}
	}
}

func TestReadHistoryBadInput(t *testing.T) {
	good := historyLines(t)
	lines := bytes.SplitAfter(good, []byte("\n"))
	swapped := bytes.Join([][]byte{lines[0], lines[1], lines[2], lines[3], lines[6], lines[4]}, nil)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"not json", append(append([]byte{}, lines[0]...), []byte("{oops\n")...), "history line 2"},
		{"invalid event", append(append([]byte{}, lines[0]...), []byte(`{"specversion":"1.0","id":"x","type":"sensor.reading","source":"s","time":"2026-03-01T00:00:00Z","subject":"P1"}`+"\n")...), "history line 2"},
		{"out of order", swapped, "history line 6"},
		{"bad gzip", []byte{0x1f, 0x8b, 0, 1, 2}, "gzip"},
		{"no rules", good, "no rule pack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := HistoryOptions{Rules: twin.DefaultRules()}
			if tt.name == "no rules" {
				opts.Rules = nil
			}
			_, err := ReadHistory(context.Background(), bytes.NewReader(tt.in), opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v; want one naming %q", err, tt.want)
			}
		})
	}
	t.Run("rejected events are counted", func(t *testing.T) {
		// a reading for a site the project does not have: the engine dead-letters it
		bad := append(bytes.Join(lines[:7], nil), historyLine(t, "r70", twin.TypeSensorReading, "S9", 70, &twin.SensorReading{Kind: "pm10", Value: 40, Unit: "ug/m3"})...)
		h, err := ReadHistory(context.Background(), bytes.NewReader(bad), HistoryOptions{Rules: twin.DefaultRules()})
		if err != nil {
			t.Fatal(err)
		}
		if h.Rejected != 1 || len(h.Rejections) != 1 || !strings.Contains(h.Rejections[0], "line 8: r70") {
			t.Fatalf("%d rejected: %v", h.Rejected, h.Rejections)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := ReadHistory(ctx, bytes.NewReader(good), HistoryOptions{Rules: twin.DefaultRules()}); err == nil {
			t.Fatal("a cancelled replay returned no error")
		}
	})
}
