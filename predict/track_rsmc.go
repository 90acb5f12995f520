package predict

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"time"
)

// parseRSMC reads one storm in the RSMC Tokyo best-track format (JMA's
// bst_all.txt, "Format of RSMC Best Track Data"): a header line
//
//	66666 BBBB CCC DDDD EEEE F G NAME... yyyymmdd
//
// then data lines
//
//	yymmddhh 002 C LLL OOOO PPPP [WWW [HIIII JJJJ KLLLL MMMM]] [#]
//
// with time (UTC; years 51-99 are 19xx), grade, latitude and longitude in
// tenths of a degree, central pressure (hPa), the 10-minute maximum wind
// (kt), and the longest and shortest radii (nm) of 50-kt and 30-kt winds,
// each longest radius preceded by the digit of its direction. Fields are
// taken by position after splitting on blanks, so both the column layout
// of the file and the compressed sample of the format description are
// read. A second 66666 header after data lines is an error: one storm per
// file.
func parseRSMC(data []byte) (*Track, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	t := &Track{Format: FormatRSMC}
	line := 0
	headers := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Fields(text)
		if f[0] == "66666" {
			headers++
			if headers > 1 || len(t.Points) > 0 {
				return nil, trackErr(line, "", "a second storm header (66666): give one storm per file")
			}
			if len(f) >= 9 {
				t.Name = strings.Join(f[7:len(f)-1], " ")
			}
			continue
		}
		if len(t.Points) == MaxTrackPoints {
			return nil, trackErr(line, "", "more than %d points", MaxTrackPoints)
		}
		p, err := parseRSMCLine(f, line)
		if err != nil {
			return nil, err
		}
		t.Points = append(t.Points, p)
	}
	if err := sc.Err(); err != nil {
		return nil, trackErr(line+1, "", "%v", err)
	}
	return t, nil
}

func parseRSMCLine(f []string, line int) (TrackPoint, error) {
	p := TrackPoint{Line: line, WindAvgMinutes: 10}
	if f[len(f)-1] == "#" { // landfall or passage flag
		f = f[:len(f)-1]
	}
	if len(f) < 6 {
		return p, trackErr(line, "", "%d fields: a data line needs at least time, 002, grade, latitude, longitude and pressure", len(f))
	}
	if len(f[0]) != 8 || !allDigits(f[0]) {
		return p, trackErr(line, "time", "%q: want yymmddhh", f[0])
	}
	if f[1] != "002" {
		return p, trackErr(line, "indicator", "%q: want 002", f[1])
	}
	yy, _ := strconv.Atoi(f[0][0:2])
	mm, _ := strconv.Atoi(f[0][2:4])
	dd, _ := strconv.Atoi(f[0][4:6])
	hh, _ := strconv.Atoi(f[0][6:8])
	year := 2000 + yy
	if yy >= 51 {
		year = 1900 + yy
	}
	p.Time = time.Date(year, time.Month(mm), dd, hh, 0, 0, 0, time.UTC)
	if p.Time.Month() != time.Month(mm) || p.Time.Day() != dd || p.Time.Hour() != hh {
		return p, trackErr(line, "time", "%q is not a valid date and hour", f[0])
	}
	num := func(s, field string, width int) (float64, error) {
		if len(s) > width || !allDigits(s) {
			return 0, trackErr(line, field, "%q: want at most %d digits", s, width)
		}
		v, _ := strconv.Atoi(s)
		return float64(v), nil
	}
	var err error
	if p.Lat, err = num(f[3], "lat", 3); err != nil {
		return p, err
	}
	if p.Lon, err = num(f[4], "lon", 4); err != nil {
		return p, err
	}
	p.Lat /= 10
	p.Lon /= 10
	if p.PressureHPa, err = num(f[5], "pressure", 4); err != nil {
		return p, err
	}
	if len(f) > 6 {
		kt, err := num(f[6], "max wind", 3)
		if err != nil {
			return p, err
		}
		p.MaxWindMS = kt * knotMS
	}
	radius := func(long, short, field string) (float64, error) {
		if len(long) != 5 || !allDigits(long) {
			return 0, trackErr(line, field, "%q: want the direction digit and the longest radius (5 digits)", long)
		}
		l, _ := strconv.Atoi(long[1:])
		s, err := num(short, field, 4)
		if err != nil {
			return 0, err
		}
		if l == 0 {
			return 0, nil
		}
		return (float64(l) + s) / 2 * nmKm, nil
	}
	switch len(f) {
	case 6, 7:
	case 11:
		if p.R50Km, err = radius(f[7], f[8], "R50"); err != nil {
			return p, err
		}
		if p.R30Km, err = radius(f[9], f[10], "R30"); err != nil {
			return p, err
		}
	default:
		return p, trackErr(line, "", "%d fields: want 6 or 7, or 11 with the 50- and 30-kt radii", len(f))
	}
	return p, nil
}
