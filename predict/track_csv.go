package predict

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// windColumnRe matches a wind column that names its unit and averaging
// period, as vmax_kt_10min or max_wind_ms_1min.
var windColumnRe = regexp.MustCompile(`^(?:vmax|max_wind)_(kt|ms)_(1|2|3|10)min$`)

// csvAliases maps the accepted column names to the field they give.
var csvAliases = map[string]string{
	"time": "time", "time_utc": "time", "iso_time_utc": "time", "iso_time": "time", "datetime": "time",
	"year": "year", "month": "month", "day": "day", "hour": "hour",
	"lat": "lat", "latitude": "lat",
	"lon": "lon", "longitude": "lon",
	"pressure_hpa": "pres", "pres_hpa": "pres", "central_pressure_hpa": "pres",
	"env_pressure_hpa": "env", "penv_hpa": "env",
	"max_wind_ms": "wind_ms", "max_wind_kt": "wind_kt",
	"wind_avg_minutes": "avg",
	"usa_wind_kt":      "wind_kt_1",
	"rmw_km":           "rmw_km", "rmw_nm": "rmw_nm", "usa_rmw_nm": "rmw_nm",
	"r30_km": "r30_km", "r50_km": "r50_km",
	"r30_long_nm": "r30_long", "r30_short_nm": "r30_short",
	"r50_long_nm": "r50_long", "r50_short_nm": "r50_short",
}

// csvTimeLayouts are the time formats of a plain CSV; those without a zone
// are UTC.
var csvTimeLayouts = []string{time.RFC3339, "2006-01-02T15:04Z07:00", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05"}

func parsePlainCSV(data []byte) (*Track, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, trackCSVErr(err)
	}
	headerLine, _ := cr.FieldPos(0)
	col := map[string]int{}
	var windCol string // field key of the chosen wind column
	windMinutes := 0.0
	windUnit := 0.0
	windRank := 99
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		key, ok := csvAliases[h]
		rank, minutes, unit := 99, 0.0, 0.0
		if m := windColumnRe.FindStringSubmatch(h); m != nil {
			key, ok = "wind:"+h, true
			minutes, _ = strconv.ParseFloat(m[2], 64)
			unit, rank = 1, 3
			if m[1] == "kt" {
				unit, rank = knotMS, 2 // knots are the exact value where both are given
			}
		}
		switch key {
		case "wind_ms":
			unit, rank = 1, 0
		case "wind_kt":
			unit, rank = knotMS, 0
		case "wind_kt_1":
			unit, minutes, rank = knotMS, 1, 1
		}
		if !ok {
			continue // other columns are ignored
		}
		if _, dup := col[key]; dup {
			return nil, trackErr(headerLine, h, "column given twice")
		}
		col[key] = i
		if rank < windRank {
			windCol, windMinutes, windUnit, windRank = key, minutes, unit, rank
		}
	}
	_, haveTime := col["time"]
	if !haveTime && !hasAll(col, "year", "month", "day", "hour") {
		return nil, trackErr(headerLine, "time", "missing column: want time (or year, month, day, hour)")
	}
	for _, c := range []string{"lat", "lon", "pres"} {
		if _, ok := col[c]; !ok {
			name := map[string]string{"lat": "lat", "lon": "lon", "pres": "pressure_hpa"}[c]
			return nil, trackErr(headerLine, name, "missing column")
		}
	}
	if windCol == "" {
		return nil, trackErr(headerLine, "max_wind", "missing column: want max_wind_ms or max_wind_kt with wind_avg_minutes, or a column such as vmax_kt_10min")
	}
	if _, ok := col["avg"]; windMinutes == 0 && !ok {
		return nil, trackErr(headerLine, "wind_avg_minutes", "missing column: say over how many minutes max wind is averaged (1, 2, 3 or 10)")
	}

	t := &Track{Format: FormatCSV}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, trackCSVErr(err)
		}
		line, _ := cr.FieldPos(0)
		if len(t.Points) == MaxTrackPoints {
			return nil, trackErr(line, "", "more than %d points", MaxTrackPoints)
		}
		cell := func(key string) string {
			i, ok := col[key]
			if !ok || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
		num := func(key, name string, need bool) (float64, error) {
			s := cell(key)
			if s == "" {
				if need {
					return 0, trackErr(line, name, "missing")
				}
				return 0, nil
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, trackErr(line, name, "%q is not a number", s)
			}
			return v, nil
		}
		p := TrackPoint{Line: line}
		if haveTime {
			s := cell("time")
			for _, layout := range csvTimeLayouts {
				if tm, err := time.Parse(layout, s); err == nil {
					p.Time = tm.UTC()
					break
				}
			}
			if p.Time.IsZero() {
				return nil, trackErr(line, "time", "%q: want RFC 3339 (2018-09-16T06:00:00Z) or 2018-09-16 06:00 (UTC)", s)
			}
		} else {
			var ymdh [4]int
			for i, k := range []string{"year", "month", "day", "hour"} {
				v, err := num(k, k, true)
				if err != nil {
					return nil, err
				}
				if v != math.Trunc(v) || v < 0 || v > 9999 {
					return nil, trackErr(line, k, "%v is not a whole number", v)
				}
				ymdh[i] = int(v)
			}
			p.Time = time.Date(ymdh[0], time.Month(ymdh[1]), ymdh[2], ymdh[3], 0, 0, 0, time.UTC)
			if p.Time.Year() != ymdh[0] || int(p.Time.Month()) != ymdh[1] || p.Time.Day() != ymdh[2] || p.Time.Hour() != ymdh[3] {
				return nil, trackErr(line, "time", "%d-%d-%d %d h is not a valid date and hour", ymdh[0], ymdh[1], ymdh[2], ymdh[3])
			}
		}
		if p.Lat, err = num("lat", "lat", true); err != nil {
			return nil, err
		}
		if p.Lon, err = num("lon", "lon", true); err != nil {
			return nil, err
		}
		if p.PressureHPa, err = num("pres", "pressure_hpa", true); err != nil {
			return nil, err
		}
		if p.EnvPressureHPa, err = num("env", "env_pressure_hpa", false); err != nil {
			return nil, err
		}
		w, err := num(windCol, strings.TrimPrefix(windCol, "wind:"), false)
		if err != nil {
			return nil, err
		}
		if w < 0 {
			return nil, trackErr(line, "max wind", "%v is negative", w)
		}
		p.MaxWindMS, p.WindAvgMinutes = w*windUnit, windMinutes
		if windMinutes == 0 {
			if p.WindAvgMinutes, err = num("avg", "wind_avg_minutes", w > 0); err != nil {
				return nil, err
			}
		}
		if v, err := num("rmw_km", "rmw_km", false); err != nil {
			return nil, err
		} else if v != 0 {
			p.RMWKm = v
		}
		if v, err := num("rmw_nm", "rmw_nm", false); err != nil {
			return nil, err
		} else if v != 0 && p.RMWKm == 0 {
			p.RMWKm = v * nmKm
		}
		for _, r := range []struct {
			dst             *float64
			km, long, short string
		}{{&p.R30Km, "r30_km", "r30_long", "r30_short"}, {&p.R50Km, "r50_km", "r50_long", "r50_short"}} {
			if *r.dst, err = num(r.km, r.km, false); err != nil {
				return nil, err
			}
			if *r.dst != 0 {
				continue
			}
			l, err := num(r.long, r.long+"_nm", false)
			if err != nil {
				return nil, err
			}
			s, err := num(r.short, r.short+"_nm", false)
			if err != nil {
				return nil, err
			}
			if s == 0 {
				s = l
			}
			*r.dst = (l + s) / 2 * nmKm
		}
		t.Points = append(t.Points, p)
	}
	return t, nil
}

func hasAll(col map[string]int, keys ...string) bool {
	return !slices.ContainsFunc(keys, func(k string) bool { _, ok := col[k]; return !ok })
}
