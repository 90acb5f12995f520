package predict

import (
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseCLIMADACSV reads CLIMADA's processed IBTrACS CSV the way
// climada.hazard.tc_tracks._read_ibtracs_csv_single does: isotime is
// yyyymmddhh as a number, vmax is in knots (1-minute), pcen and penv in hPa,
// rmax in nautical miles (0: unknown). As in CLIMADA, when any pcen is
// missing (<= 0) every pressure of the track is replaced by the statistical
// estimate of _estimate_pressure.
func parseCLIMADACSV(data []byte) (*Track, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comment = '#'
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, trackCSVErr(err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for _, c := range []string{"cgps_lat", "cgps_lon", "isotime", "pcen", "vmax"} {
		if _, ok := col[c]; !ok {
			line, _ := cr.FieldPos(0)
			return nil, trackErr(line, c, "missing column in CLIMADA's track CSV")
		}
	}
	t := &Track{Format: FormatCLIMADA}
	anyMissingPressure := false
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
		get := func(name string, need bool) (float64, error) {
			i, ok := col[name]
			if !ok || i >= len(rec) || strings.TrimSpace(rec[i]) == "" {
				if need {
					return 0, trackErr(line, name, "missing")
				}
				return math.NaN(), nil
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(rec[i]), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, trackErr(line, name, "%q is not a number", rec[i])
			}
			return v, nil
		}
		var p TrackPoint
		p.Line = line
		iso, err := get("isotime", true)
		if err != nil {
			return nil, err
		}
		if p.Time, err = climadaIsoTime(iso); err != nil {
			return nil, trackErr(line, "isotime", "%v", err)
		}
		if p.Lat, err = get("cgps_lat", true); err != nil {
			return nil, err
		}
		if p.Lon, err = get("cgps_lon", true); err != nil {
			return nil, err
		}
		if p.PressureHPa, err = get("pcen", true); err != nil {
			return nil, err
		}
		kt, err := get("vmax", true)
		if err != nil {
			return nil, err
		}
		if kt < 0 || kt > 250 {
			return nil, trackErr(line, "vmax", "%v kt out of range [0, 250]", kt)
		}
		p.MaxWindMS, p.WindAvgMinutes = kt*knotMS, 1
		if env, err := get("penv", false); err != nil {
			return nil, err
		} else if !math.IsNaN(env) && env > 0 {
			p.EnvPressureHPa = env
		}
		if rmax, err := get("rmax", false); err != nil {
			return nil, err
		} else if !math.IsNaN(rmax) && rmax > 0 {
			p.RMWKm = rmax * nmKm
		}
		if i, ok := col["ibtracsid"]; ok && t.Name == "" && i < len(rec) {
			t.Name = strings.TrimSpace(rec[i])
		}
		if p.PressureHPa <= 0 {
			anyMissingPressure = true
		}
		t.Points = append(t.Points, p)
	}
	if anyMissingPressure {
		for i := range t.Points {
			p := &t.Points[i]
			if p.MaxWindMS <= 0 {
				return nil, trackErr(p.Line, "pcen", "missing, and no vmax to estimate it from")
			}
			p.PressureHPa = climadaEstimatePressure(p.Lat, p.Lon, p.MaxWindMS/knotMS)
		}
	}
	return t, nil
}

// climadaIsoTime decodes CLIMADA's numeric yyyymmddhh (e.g. 1951082706.0).
func climadaIsoTime(v float64) (time.Time, error) {
	if v < 1800010100 || v > 2200123123 || v != math.Trunc(v) {
		return time.Time{}, errors.New("want yyyymmddhh")
	}
	n := int64(v)
	y, m, d, h := int(n/1_000_000), int(n/10_000%100), int(n/100%100), int(n%100)
	t := time.Date(y, time.Month(m), d, h, 0, 0, 0, time.UTC)
	if t.Year() != y || int(t.Month()) != m || t.Day() != d || t.Hour() != h {
		return time.Time{}, errors.New("not a valid date and hour")
	}
	return t, nil
}

// climadaEstimatePressure is CLIMADA's _estimate_pressure (tc_tracks.py): a
// linear fit of central pressure (hPa) to latitude, longitude and maximum
// 1-minute wind in knots over IBTrACS 1980-2020 (r² 0.873).
func climadaEstimatePressure(lat, lon, vmaxKt float64) float64 {
	return 1026.3401 - 0.05504*lat - 0.03536*lon - 0.7357*vmaxKt
}

// climadaEstimateVmaxKt is CLIMADA's _estimate_vmax: maximum 1-minute wind
// (kt) fitted to latitude, longitude and central pressure (r² 0.868).
func climadaEstimateVmaxKt(lat, lon, presHPa float64) float64 {
	return 1216.5223 - 0.04086*lat - 0.04190*lon - 1.1797*presHPa
}

// trackCSVErr turns an encoding/csv error into a TrackError with its line.
func trackCSVErr(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return trackErr(pe.Line, "", "%v", pe.Err)
	}
	if errors.Is(err, io.EOF) {
		return trackErr(0, "", "empty file")
	}
	return trackErr(0, "", "%v", err)
}
