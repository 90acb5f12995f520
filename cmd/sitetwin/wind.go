package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/sitetwin/sitetwin/predict"
)

// maxWindPoints bounds the points file of `sitetwin wind`.
const maxWindPoints = 5_000_000

// windCmd prints, for every point of a CSV file, the maximum 1-minute
// sustained wind at 10 m that a typhoon track brings there.
func windCmd(_ context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("wind", "--track FILE --points FILE.csv [--model auto|h08|h10|h1980|er11] [--threshold M/S]", stderr)
	trackFile := fs.String("track", "", "track file: RSMC Tokyo best track, CLIMADA's track CSV, or a CSV with time, lat, lon, pressure_hpa and a wind column (detected by content)")
	pointsFile := fs.String("points", "", "CSV of points, one lat,lon row each (a header line allowed; with a header, the columns named lat and lon)")
	modelName := fs.String("model", "auto", "wind model: auto (calibrated, what the engine uses), or the plain profiles as CLIMADA computes them: h08, h10, h1980, er11")
	threshold := fs.Float64("threshold", 0, "print winds below this (m/s) as 0; 17.5 gives CLIMADA's TropCyclone intensity")
	if _, err := parseFlags(fs, args, getenv, 0); err != nil {
		return err
	}
	if *trackFile == "" || *pointsFile == "" {
		return fmt.Errorf("%w: give --track FILE and --points FILE.csv", errUsage)
	}
	model, err := predict.ParseWindModel(*modelName)
	if err != nil {
		return fmt.Errorf("%w: --model: %v", errUsage, err)
	}
	if !(*threshold >= 0 && *threshold < 200) {
		return fmt.Errorf("%w: --threshold %v: want 0 to 200 m/s", errUsage, *threshold)
	}
	track, err := readTrackFile(*trackFile)
	if err != nil {
		return err
	}
	pts, err := readPointsFile(*pointsFile)
	if err != nil {
		return err
	}
	winds, err := predict.MaxWind(track, pts, predict.WindOptions{Model: model})
	if err != nil {
		return fmt.Errorf("%s: %w", *trackFile, err)
	}
	w := bufio.NewWriter(stdout)
	fmt.Fprintln(w, "lat,lon,max_wind_ms")
	for i, p := range pts {
		v := winds[i]
		if v < *threshold {
			v = 0
		}
		fmt.Fprintf(w, "%s,%s,%s\n", strconv.FormatFloat(p.Lat, 'f', -1, 64), strconv.FormatFloat(p.Lon, 'f', -1, 64), strconv.FormatFloat(v, 'f', 6, 64))
	}
	return w.Flush()
}

func readTrackFile(name string) (*predict.Track, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := predict.ParseTrack(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// readPointsFile reads lat,lon rows. A first row that is not two numbers is
// a header: then the columns named lat and lon are used (so CLIMADA's
// centroid file, centroid_index,lat,lon, reads as is). Errors name the
// line.
func readPointsFile(name string) ([]predict.LatLon, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cr := csv.NewReader(bufio.NewReader(f))
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	latCol, lonCol := 0, 1
	var pts []predict.LatLon
	first := true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s: points line %d: %v", name, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if first {
			first = false
			if _, err := strconv.ParseFloat(strings.TrimSpace(rec[0]), 64); err != nil {
				latCol, lonCol = -1, -1
				for i, h := range rec {
					switch strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))) {
					case "lat", "latitude":
						latCol = i
					case "lon", "longitude":
						lonCol = i
					}
				}
				if latCol < 0 || lonCol < 0 {
					return nil, fmt.Errorf("%s: points line %d: a header must name the columns lat and lon", name, line)
				}
				continue
			}
		}
		if len(pts) == maxWindPoints {
			return nil, fmt.Errorf("%s: points line %d: more than %d points", name, line, maxWindPoints)
		}
		if max(latCol, lonCol) >= len(rec) {
			return nil, fmt.Errorf("%s: points line %d: want lat,lon", name, line)
		}
		var p predict.LatLon
		for _, c := range []struct {
			name     string
			col      int
			dst      *float64
			min, max float64
		}{{"lat", latCol, &p.Lat, -90, 90}, {"lon", lonCol, &p.Lon, -180, 360}} {
			s := strings.TrimSpace(rec[c.col])
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || !(v >= c.min && v <= c.max) {
				return nil, fmt.Errorf("%s: points line %d: %s %q: want a number from %v to %v", name, line, c.name, s, c.min, c.max)
			}
			*c.dst = v
		}
		pts = append(pts, p)
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("%s: no points", name)
	}
	return pts, nil
}
