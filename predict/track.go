package predict

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// Track is the path of one tropical cyclone: its positions in time order,
// with central pressure, maximum wind and, when known, the radius of
// maximum wind and the wind radii. ParseTrack reads one from a file,
// TrackFromAdvisory from a typhoon.advisory event.
type Track struct {
	Name   string       // storm name or id, "" if the source gives none
	Format string       // where it came from: FormatRSMC, FormatCLIMADA, FormatCSV or "advisory"
	Issued time.Time    // when the forecast was issued (an advisory's); zero for a file
	Points []TrackPoint // strictly increasing in time, at least 2
}

// TrackPoint is one position of a track. Zero in an optional field means
// "not given".
type TrackPoint struct {
	Time           time.Time // UTC
	Lat            float64   // degrees north, -90..90
	Lon            float64   // degrees east, -180..360
	PressureHPa    float64   // central pressure
	EnvPressureHPa float64   // environmental pressure; 0: DefaultEnvPressureHPa
	// MaxWindMS is the maximum sustained wind (m/s) averaged over
	// WindAvgMinutes (1 for JTWC and HURDAT, 2 for CMA, 10 for JMA and
	// HKO). 0 means not given (a tropical depression in a JMA best track);
	// the models that need it estimate it from pressure as CLIMADA does.
	MaxWindMS      float64
	WindAvgMinutes float64
	RMWKm          float64 // radius of maximum wind; 0: estimated from pressure (CLIMADA estimate_rmw)
	R30Km          float64 // mean radius of 30-kt (10-minute) winds, 0 if not given
	R50Km          float64 // mean radius of 50-kt (10-minute) winds, 0 if not given
	Line           int     // line of the source file (or 1-based index of an advisory's track), for errors
}

// Track formats recognised by ParseTrack.
const (
	FormatRSMC    = "rsmc-tokyo"  // RSMC Tokyo (JMA) best-track lines: a 66666 header, then data lines
	FormatCLIMADA = "climada-csv" // CLIMADA's processed IBTrACS CSV (cgps_lat, cgps_lon, isotime, pcen, penv, rmax, tint, vmax)
	FormatCSV     = "csv"         // plain CSV with a header naming its columns (see ParseTrack)
)

// Limits that keep a hostile or mistaken track from stalling the model.
const (
	// MaxTrackPoints bounds the rows of a track file.
	MaxTrackPoints = 10_000
	// MaxTrackSpan bounds the time a track covers: it is resampled hourly.
	MaxTrackSpan = 60 * 24 * time.Hour
	// DefaultEnvPressureHPa is the environmental pressure assumed when a
	// track does not give one (CLIMADA's DEF_ENV_PRESSURE).
	DefaultEnvPressureHPa = 1010.0
)

// Units (exact definitions: 1 kt = 1852 m/h, 1 nm = 1852 m).
const (
	knotMS = 1852.0 / 3600.0
	nmKm   = 1.852
)

// TrackError names the line of a track and what is wrong with it. Line 0
// is the track as a whole.
type TrackError struct {
	Line   int
	Field  string
	Reason string
}

func (e *TrackError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "track line %d", e.Line)
	} else {
		b.WriteString("track")
	}
	if e.Field != "" {
		b.WriteString(", " + e.Field)
	}
	b.WriteString(": " + e.Reason)
	return b.String()
}

func trackErr(line int, field, format string, args ...any) error {
	return &TrackError{Line: line, Field: field, Reason: fmt.Sprintf(format, args...)}
}

// maxTrackBytes bounds what ParseTrack reads.
const maxTrackBytes = 8 << 20

// ParseTrack reads one track, detecting its format by content:
//
//   - RSMC Tokyo best track (FormatRSMC): a header line starting 66666 and
//     its data lines "yymmddhh 002 grade lat lon pressure [wind [radii]]",
//     in tenths of a degree, hPa and knots (10-minute winds); the 50- and
//     30-kt radii (nm, longest and shortest) become R50Km and R30Km as the
//     mean of the two.
//   - CLIMADA's track CSV (FormatCLIMADA), as in its test data: read the
//     way CLIMADA's _read_ibtracs_csv_single does, including its
//     statistical pressure estimate when any pcen is missing.
//   - Plain CSV (FormatCSV): '#' comments, a header, one row per position.
//     Columns (any order; names are case-insensitive):
//     time (RFC 3339, or "2006-01-02T15:04Z", or "2006-01-02 15:04"; also
//     time_utc, iso_time_utc), lat, lon, pressure_hpa (or pres_hpa), and a
//     maximum wind: max_wind_ms or max_wind_kt with wind_avg_minutes, or a
//     column naming its averaging period (vmax_kt_10min, vmax_ms_10min,
//     vmax_kt_1min, usa_wind_kt = 1 minute). Optional: env_pressure_hpa,
//     rmw_km or rmw_nm (usa_rmw_nm), r30_km and r50_km (mean radii), or
//     r30_long_nm, r30_short_nm, r50_long_nm, r50_short_nm. Other columns
//     are ignored. An empty wind cell means "not given".
//
// Every track is checked: at least 2 points, strictly increasing times
// spanning at most MaxTrackSpan, coordinates in range, pressure between
// 850 and 1050 hPa and not above the environmental pressure, winds between
// 0 and 120 m/s, radii not negative, no NaN. A bad track is a *TrackError
// naming the line; ParseTrack never panics.
func ParseTrack(r io.Reader) (*Track, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxTrackBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read track: %w", err)
	}
	if len(data) > maxTrackBytes {
		return nil, trackErr(0, "", "file larger than %d MiB", maxTrackBytes>>20)
	}
	var t *Track
	switch detectTrackFormat(data) {
	case FormatRSMC:
		t, err = parseRSMC(data)
	case FormatCLIMADA:
		t, err = parseCLIMADACSV(data)
	case FormatCSV:
		t, err = parsePlainCSV(data)
	default:
		return nil, trackErr(0, "", "unknown format: want RSMC Tokyo best-track lines (66666 header), CLIMADA's track CSV or a CSV with time, lat, lon, pressure_hpa and a wind column")
	}
	if err != nil {
		return nil, err
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// detectTrackFormat looks at the first line that is neither blank nor a
// '#' comment.
func detectTrackFormat(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), maxTrackBytes)
	for sc.Scan() {
		line := strings.TrimSpace(strings.TrimPrefix(sc.Text(), "\ufeff"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case f[0] == "66666" || len(f) >= 6 && len(f[0]) == 8 && f[1] == "002" && allDigits(f[0]):
			return FormatRSMC
		case strings.Contains(strings.ToLower(line), "cgps_lat") && strings.Contains(strings.ToLower(line), "isotime"):
			return FormatCLIMADA
		case strings.Contains(line, ","):
			return FormatCSV
		}
		return ""
	}
	return ""
}

func allDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// Validate checks a track the way ParseTrack does; a track built in code
// (or from an advisory) should pass it before it is modelled.
func (t *Track) Validate() error {
	if t == nil || len(t.Points) < 2 {
		n := 0
		if t != nil {
			n = len(t.Points)
		}
		return trackErr(0, "", "%d point(s): a track needs at least 2", n)
	}
	if len(t.Points) > MaxTrackPoints {
		return trackErr(0, "", "%d points: at most %d", len(t.Points), MaxTrackPoints)
	}
	for i := range t.Points {
		p := &t.Points[i]
		line := p.Line
		if line == 0 {
			line = i + 1
		}
		for _, f := range []struct {
			name     string
			v        float64
			min, max float64
		}{
			{"lat", p.Lat, -90, 90},
			{"lon", p.Lon, -180, 360},
			{"pressure", p.PressureHPa, 850, 1050},
			{"max wind", p.MaxWindMS, 0, 120},
			{"radius of max wind", p.RMWKm, 0, 1000},
			{"R30", p.R30Km, 0, 3000},
			{"R50", p.R50Km, 0, 3000},
		} {
			if math.IsNaN(f.v) || f.v < f.min || f.v > f.max {
				return trackErr(line, f.name, "%v out of range [%v, %v]", f.v, f.min, f.max)
			}
		}
		if e := p.EnvPressureHPa; e != 0 && (math.IsNaN(e) || e < 900 || e > 1050) {
			return trackErr(line, "environmental pressure", "%v out of range [900, 1050]", e)
		}
		if env := p.env(); p.PressureHPa > env {
			return trackErr(line, "pressure", "central pressure %v hPa above the environmental pressure %v hPa", p.PressureHPa, env)
		}
		if p.MaxWindMS > 0 {
			switch p.WindAvgMinutes {
			case 1, 2, 3, 10:
			default:
				return trackErr(line, "wind averaging", "%v minutes: want 1, 2, 3 or 10", p.WindAvgMinutes)
			}
		}
		if p.Time.IsZero() {
			return trackErr(line, "time", "missing")
		}
		if i > 0 {
			prev := t.Points[i-1].Time
			if !p.Time.After(prev) {
				return trackErr(line, "time", "%s is not after the previous point (%s): times must increase", p.Time.Format(time.RFC3339), prev.Format(time.RFC3339))
			}
		}
	}
	if span := t.Points[len(t.Points)-1].Time.Sub(t.Points[0].Time); span > MaxTrackSpan {
		return trackErr(0, "time", "the track spans %s; at most %s", span, MaxTrackSpan)
	}
	return nil
}

func (p *TrackPoint) env() float64 {
	if p.EnvPressureHPa > 0 {
		return p.EnvPressureHPa
	}
	return DefaultEnvPressureHPa
}

// TrackFromAdvisory converts the track of a typhoon.advisory event (which
// carries the fields of TrackPoint: winds in m/s over wind_avg_minutes,
// radii in km) and validates it.
func TrackFromAdvisory(a *twin.TyphoonAdvisory) (*Track, error) {
	if a == nil {
		return nil, errors.New("track: no advisory")
	}
	t := &Track{Name: a.Name, Format: "advisory", Points: make([]TrackPoint, 0, len(a.Track))}
	if !a.Issued.IsZero() {
		t.Issued = a.Issued.Start(time.UTC).UTC()
	}
	for i, p := range a.Track {
		t.Points = append(t.Points, TrackPoint{
			Time: p.Time.Start(time.UTC).UTC(), Lat: p.Lat, Lon: p.Lon,
			PressureHPa: p.PressureHPa, MaxWindMS: p.MaxWindMS, WindAvgMinutes: p.WindAvgMinutes,
			RMWKm: p.RMWKm, R30Km: p.R30Km, R50Km: p.R50Km, Line: i + 1,
		})
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}
