package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const windTestdata = "../../predict/testdata/wind"

func runWind(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = cli(context.Background(), append([]string{"wind"}, args...), &out, &errOut, func(string) string { return "" })
	return code, out.String(), errOut.String()
}

// TestWindCLIMADAFiles runs `sitetwin wind` on the track and centroids of
// CLIMADA's test_windfield_models and compares every published value.
func TestWindCLIMADAFiles(t *testing.T) {
	f, err := os.Open(filepath.Join(windTestdata, "climada_expected.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := csv.NewReader(f)
	cr.Comment = '#'
	exp, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for col, model := range []string{"h08", "h10", "h1980", "er11"} {
		t.Run(model, func(t *testing.T) {
			code, out, errOut := runWind(t, "--track", filepath.Join(windTestdata, "climada_trac_brb_test_1951239N12334.csv"),
				"--points", filepath.Join(windTestdata, "climada_brb_test_centroids_all296.csv"), "--model", model, "--threshold", "17.5")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 297 || strings.Join(rows[0], ",") != "lat,lon,max_wind_ms" {
				t.Fatalf("%d rows, header %v", len(rows), rows[0])
			}
			if rows[1][0] != "13.125" || rows[1][1] != "-59.625000000000014" {
				t.Errorf("first point %v: want the input order and coordinates", rows[1])
			}
			for _, e := range exp[1:] {
				idx, _ := strconv.Atoi(e[0])
				want, _ := strconv.ParseFloat(e[col+1], 64)
				got, err := strconv.ParseFloat(rows[idx+1][2], 64)
				if err != nil || math.Abs(got-want) > 0.01 {
					t.Errorf("centroid %d: %s, CLIMADA %v", idx, rows[idx+1][2], want)
				}
			}
		})
	}
}

func TestWindAutoDefault(t *testing.T) {
	pts := filepath.Join(t.TempDir(), "pts.csv")
	if err := os.WriteFile(pts, []byte("22.54,114.06\n22.30,114.17\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runWind(t, "--track", filepath.Join(windTestdata, "mangkhut_2018_1822.bst"), "--points", pts)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "22.54,114.06,") || !strings.HasPrefix(lines[2], "22.3,114.17,") {
		t.Fatalf("output:\n%s", out)
	}
	for _, l := range lines[1:] {
		v, err := strconv.ParseFloat(l[strings.LastIndex(l, ",")+1:], 64)
		if err != nil || v < 25 || v > 60 {
			t.Errorf("Mangkhut at Shenzhen / Hong Kong: %q", l)
		}
	}
}

// TestWindBadInput: every mistake is a message naming the file and line,
// exit status 2 for the command line and 1 for the files.
func TestWindBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	track := filepath.Join(windTestdata, "mangkhut_2018_1822.bst")
	pts := write("pts.csv", "lat,lon\n22.5,114\n")
	hdr := "time,lat,lon,pressure_hpa,max_wind_ms,wind_avg_minutes\n"
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", nil, 2, "give --track FILE and --points FILE.csv"},
		{"unknown model", []string{"--track", track, "--points", pts, "--model", "h2000"}, 2, `unknown wind model "h2000"`},
		{"bad threshold", []string{"--track", track, "--points", pts, "--threshold", "-1"}, 2, "--threshold"},
		{"unknown flag", []string{"--track", track, "--points", pts, "--speed"}, 2, "flag provided but not defined"},
		{"missing track file", []string{"--track", filepath.Join(dir, "none"), "--points", pts}, 1, "no such file"},
		{"one-point track", []string{"--track", write("one.csv", hdr+"2018-09-16T00:00:00Z,20.6,115.3,960,38.6,10\n"), "--points", pts}, 1, "1 point(s): a track needs at least 2"},
		{"latitude out of range", []string{"--track", write("lat.csv", hdr+"2018-09-16T00:00:00Z,20.6,115.3,960,38.6,10\n2018-09-16T06:00:00Z,91,113,960,38.6,10\n"), "--points", pts}, 1, "lat.csv: track line 3, lat: 91 out of range"},
		{"pressure above the environment", []string{"--track", write("p.csv", hdr+"2018-09-16T00:00:00Z,20.6,115.3,960,38.6,10\n2018-09-16T06:00:00Z,21,113,1015,10,10\n"), "--points", pts}, 1, "track line 3, pressure: central pressure 1015 hPa above the environmental pressure 1010 hPa"},
		{"points: bad number", []string{"--track", track, "--points", write("bad.csv", "lat,lon\n22.5,114\n22.6,east\n")}, 1, `bad.csv: points line 3: lon "east"`},
		{"points: out of range", []string{"--track", track, "--points", write("far.csv", "91,114\n")}, 1, `far.csv: points line 1: lat "91"`},
		{"points: header without lat", []string{"--track", track, "--points", write("hdr.csv", "x,y\n22.5,114\n")}, 1, "points line 1: a header must name the columns lat and lon"},
		{"points: short row", []string{"--track", track, "--points", write("short.csv", "22.5\n")}, 1, "points line 1: want lat,lon"},
		{"points: empty", []string{"--track", track, "--points", write("empty.csv", "lat,lon\n")}, 1, "no points"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runWind(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if !strings.Contains(errOut, tc.want) {
				t.Errorf("stderr %q, want it to contain %q", errOut, tc.want)
			}
			if strings.Contains(out, "NaN") {
				t.Errorf("NaN in the output: %s", out)
			}
		})
	}
}
