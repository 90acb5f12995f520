package scenarios

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestReportGolden: the report of a small drill is byte for byte the
// golden file (go test ./scenarios -run ReportGolden -update rewrites it).
func TestReportGolden(t *testing.T) {
	s := readExample(t, "crane_collapse.json")
	res, err := Run(context.Background(), s, cityTwins(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Report(res)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "report_crane_collapse.html")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the report differs from %s (run with -update if the change is meant)", golden)
	}
}

// TestReportStructure: a typhoon drill's report is self-contained and has
// the map with the track and every site, the chart, the dispatch and the
// plan.
func TestReportStructure(t *testing.T) {
	s := readExample(t, "typhoon_advisory.json")
	res, err := Run(context.Background(), s, cityTwins(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Report(res)
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(html); m != "" {
		t.Fatalf("the report fetches something: %s", m)
	}
	if strings.Contains(html, "<script") {
		t.Fatal("the report has a script")
	}
	for _, want := range []string{`<polyline class="track"`, `<polyline class="orders"`, `<polyline class="ground"`, `<polyline class="jib"`,
		"<h2>Dispatch</h2>", "<h2>Plan</h2>", "<h2>Districts</h2>", "DRILL"} {
		if !strings.Contains(html, want) {
			t.Errorf("no %s in the report", want)
		}
	}
	if n := strings.Count(html, `<circle class="site"`); n != len(res.Timeline.Sites) {
		t.Errorf("%d sites on the map, want %d", n, len(res.Timeline.Sites))
	}
	if n := strings.Count(html, `<path class="incident"`); n != len(res.Plan.Incidents) || n == 0 {
		t.Errorf("%d incidents on the map, want %d", n, len(res.Plan.Incidents))
	}
	rows := strings.Count(html[strings.Index(html, "<h2>Plan</h2>"):], "<tr><td>")
	if rows != min(len(res.Plan.Actions), maxReportActions) {
		t.Errorf("%d plan rows, want %d", rows, len(res.Plan.Actions))
	}
}
