package predict

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

const csvHeader = "time,lat,lon,pressure_hpa,max_wind_ms,wind_avg_minutes\n"

func TestParseTrackFormats(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		format   string
		check    func(t *testing.T, tr *Track)
	}{
		{"plain CSV", "# a comment\n" + csvHeader +
			"2018-09-16T00:00:00Z,20.6,115.3,960,38.6,10\n2018-09-16 06:00,21.7,113.5,960,38.6,10\n", FormatCSV,
			func(t *testing.T, tr *Track) {
				p := tr.Points[1]
				if !p.Time.Equal(time.Date(2018, 9, 16, 6, 0, 0, 0, time.UTC)) || p.Line != 4 || p.WindAvgMinutes != 10 || p.MaxWindMS != 38.6 {
					t.Errorf("%+v", p)
				}
			}},
		{"plain CSV, knots and radii", "time,lat,lon,pres_hpa,vmax_kt_10min,r30_long_nm,r30_short_nm,rmw_km,env_pressure_hpa\n" +
			"2018-09-16T00:00Z,20.6,115.3,960,75,350,240,30,1008\n2018-09-16T06:00Z,21.7,113.5,960,75,350,210,30,1008\n", FormatCSV,
			func(t *testing.T, tr *Track) {
				p := tr.Points[0]
				if math.Abs(p.MaxWindMS-75*knotMS) > 1e-12 || p.WindAvgMinutes != 10 || math.Abs(p.R30Km-295*nmKm) > 1e-9 || p.RMWKm != 30 || p.EnvPressureHPa != 1008 {
					t.Errorf("%+v", p)
				}
			}},
		{"plain CSV, year month day hour, JTWC-style wind", "Year,Month,Day,Hour,Lat,Lon,usa_wind_kt,pressure_hpa\n2017,8,23,0,21.5,114.5,90,956\n2017,8,23,6,22.2,112.8,85,964\n", FormatCSV,
			func(t *testing.T, tr *Track) {
				if p := tr.Points[1]; !p.Time.Equal(time.Date(2017, 8, 23, 6, 0, 0, 0, time.UTC)) || p.WindAvgMinutes != 1 {
					t.Errorf("%+v", p)
				}
			}},
		{"RSMC Tokyo", "66666 1713  023 0019 1713 1 0                 HATO              20171010\n" +
			"17082300 002 5 216 1144  965     075     90050 0050 40180 0120\n" +
			"17082306 002 5 223 1128  965     075     90050 0050 40180 0090         #\n" +
			"17082400 002 3 239 1075  996     035     00000 0000 90090 0090\n" +
			"17082412 002 2 241 1042 1002\n", FormatRSMC,
			func(t *testing.T, tr *Track) {
				p := tr.Points[0]
				if tr.Name != "HATO" || p.Lat != 21.6 || p.Lon != 114.4 || p.PressureHPa != 965 || math.Abs(p.R50Km-50*nmKm) > 1e-9 || math.Abs(p.R30Km-150*nmKm) > 1e-9 || p.WindAvgMinutes != 10 {
					t.Errorf("%s %+v", tr.Name, p)
				}
				if p := tr.Points[3]; p.MaxWindMS != 0 || p.R30Km != 0 || p.Line != 5 {
					t.Errorf("%+v", p)
				}
				if tr.Points[2].R50Km != 0 {
					t.Errorf("no 50-kt winds: %+v", tr.Points[2])
				}
			}},
		{"CLIMADA CSV", "cgps_lat,cgps_lon,ibtracsID,isotime,pcen,penv,rmax,tint,vmax\n" +
			"12.3,-25.6,1951239N12334,1951082706.0,-999.0,1010,0,6.0,25.0\n12.3,-26.6,1951239N12334,1951082712.0,-999.0,1010,0,6.0,25.0\n", FormatCLIMADA,
			func(t *testing.T, tr *Track) {
				p := tr.Points[0]
				if tr.Name != "1951239N12334" || math.Abs(p.PressureHPa-climadaEstimatePressure(12.3, -25.6, 25)) > 1e-12 || p.WindAvgMinutes != 1 || p.EnvPressureHPa != 1010 {
					t.Errorf("%s %+v", tr.Name, p)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := ParseTrack(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if tr.Format != tc.format {
				t.Errorf("format %q, want %q", tr.Format, tc.format)
			}
			tc.check(t, tr)
		})
	}
}

// TestParseTrackErrors: every bad track is an error that names its line
// (and field), never a panic.
func TestParseTrackErrors(t *testing.T) {
	row := func(s string) string { return csvHeader + "2018-09-16T00:00:00Z,20.6,115.3,960,38.6,10\n" + s + "\n" }
	for _, tc := range []struct {
		name, in string
		want     string
	}{
		{"empty", "", "unknown format"},
		{"one point", csvHeader + "2018-09-16T00:00:00Z,20.6,115.3,960,38.6,10\n", "1 point(s): a track needs at least 2"},
		{"latitude out of range", row("2018-09-16T06:00:00Z,95,113.5,960,38.6,10"), "track line 3, lat: 95 out of range"},
		{"longitude out of range", row("2018-09-16T06:00:00Z,21,400,960,38.6,10"), "track line 3, lon: 400 out of range"},
		{"pressure above the environment", row("2018-09-16T06:00:00Z,21,113,1012,10,10"), "track line 3, pressure: central pressure 1012 hPa above the environmental pressure 1010 hPa"},
		{"pressure out of range", row("2018-09-16T06:00:00Z,21,113,700,38.6,10"), "track line 3, pressure: 700 out of range"},
		{"not a number", row("2018-09-16T06:00:00Z,21,abc,960,38.6,10"), `track line 3, lon: "abc" is not a number`},
		{"NaN", row("2018-09-16T06:00:00Z,NaN,113,960,38.6,10"), `track line 3, lat: "NaN" is not a number`},
		{"time going back", row("2018-09-15T06:00:00Z,21,113,960,38.6,10"), "track line 3, time: 2018-09-15T06:00:00Z is not after the previous point"},
		{"bad time", row("yesterday,21,113,960,38.6,10"), `track line 3, time: "yesterday"`},
		{"averaging period", row("2018-09-16T06:00:00Z,21,113,960,38.6,5"), "track line 3, wind averaging: 5 minutes"},
		{"wind too strong", row("2018-09-16T06:00:00Z,21,113,960,380,10"), "track line 3, max wind: 380 out of range"},
		{"missing pressure", row("2018-09-16T06:00:00Z,21,113,,38.6,10"), "track line 3, pressure_hpa: missing"},
		{"missing column", "time,lat,lon,max_wind_ms,wind_avg_minutes\n", "track line 1, pressure_hpa: missing column"},
		{"no averaging period", "time,lat,lon,pressure_hpa,max_wind_ms\n", "track line 1, wind_avg_minutes: missing column"},
		{"span too long", row("2019-09-16T06:00:00Z,21,113,960,38.6,10"), "track, time: the track spans"},
		{"environment out of range", "time,lat,lon,pressure_hpa,env_pressure_hpa,max_wind_ms,wind_avg_minutes\n2018-09-16T00:00:00Z,20.6,115.3,960,800,38.6,10\n2018-09-16T06:00:00Z,21,113,960,1010,38.6,10\n", "track line 2, environmental pressure: 800 out of range"},
		{"RSMC bad latitude", "66666 1822\n18091600 002 5 2061 1153  960     075\n18091606 002 5 217 1135  960     075\n", "track line 2, lat"},
		{"RSMC bad date", "18091600 002 5 206 1153  960     075\n18093106 002 5 217 1135  960     075\n", "track line 2, time: \"18093106\" is not a valid date"},
		{"RSMC too few fields", "18091600 002 5 206 1153  960     075\n18091606 002 5 217\n", "track line 2: 4 fields"},
		{"RSMC two storms", "66666 1822\n18091600 002 5 206 1153  960     075\n66666 1823\n", "track line 3: a second storm header"},
		{"RSMC one point", "66666 1822\n18091600 002 5 206 1153  960     075\n", "1 point(s)"},
		{"CLIMADA no pressure nor wind", "cgps_lat,cgps_lon,isotime,pcen,vmax\n12.3,-25.6,1951082706.0,-999,0\n12.3,-26.6,1951082712.0,1000,25\n", "track line 2, pcen: missing, and no vmax"},
		{"CLIMADA bad isotime", "cgps_lat,cgps_lon,isotime,pcen,vmax\n12.3,-25.6,1951133106.0,1000,25\n", "track line 2, isotime"},
		{"CSV quote", csvHeader + "\"2018,20.6\n", "track line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTrack(strings.NewReader(tc.in))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			var te *TrackError
			if !errors.As(err, &te) {
				t.Errorf("%T is not a *TrackError", err)
			}
		})
	}
}

// TestWindShortTrack: a track that covers less than two whole hours is an
// error of the model, not a panic.
func TestWindShortTrack(t *testing.T) {
	tr, err := ParseTrack(strings.NewReader(csvHeader + "2018-09-16T00:10:00Z,20.6,115.3,960,38.6,10\n2018-09-16T00:50:00Z,21,113,960,38.6,10\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := MaxWind(tr, []LatLon{{21, 114}}, WindOptions{}); err == nil || !strings.Contains(err.Error(), "fewer than 2 whole hours") {
		t.Errorf("error %v", err)
	}
}

func TestTrackFromAdvisory(t *testing.T) {
	at := func(s string) twin.When { w, _ := twin.ParseWhen(s); return w }
	a := &twin.TyphoonAdvisory{Name: "MANGKHUT", Issued: at("2018-09-15T00:00:00Z"), Track: []twin.TrackPoint{
		{Time: at("2018-09-15T00:00:00Z"), Lat: 18.0, Lon: 120.5, PressureHPa: 940, MaxWindMS: 46.3, WindAvgMinutes: 10, R30Km: 648, R50Km: 222},
		{Time: at("2018-09-16T00:00:00Z"), Lat: 20.6, Lon: 115.3, PressureHPa: 960, MaxWindMS: 38.6, WindAvgMinutes: 10, R30Km: 546, R50Km: 167},
	}}
	tr, err := TrackFromAdvisory(a)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Name != "MANGKHUT" || len(tr.Points) != 2 || !tr.Issued.Equal(time.Date(2018, 9, 15, 0, 0, 0, 0, time.UTC)) || tr.Points[1].R50Km != 167 || !tr.Points[1].Time.Equal(time.Date(2018, 9, 16, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("%+v", tr)
	}
	a.Track = a.Track[:1]
	if _, err := TrackFromAdvisory(a); err == nil || !strings.Contains(err.Error(), "at least 2") {
		t.Errorf("one point: %v", err)
	}
}

// TestResampleHourly: the resampled track keeps the points, is hourly, and
// follows the spline between them.
func TestResampleHourly(t *testing.T) {
	tr := readTestTrack(t, "climada_trac_brb_test_1951239N12334.csv")
	s, err := resampleHourly(tr, DefaultAveraging().oneMinuteWind)
	if err != nil {
		t.Fatal(err)
	}
	// CLIMADA's test_interp_track_pass: 223 hourly points; lon[11] of the
	// resampled track.
	if s.len() != 223 {
		t.Errorf("%d steps, CLIMADA 223", s.len())
	}
	if math.Abs(s.lon[11]-(-27.426151640151684)) > 1e-9 {
		t.Errorf("lon[11] = %.12f, CLIMADA -27.426151640152", s.lon[11])
	}
	for i, p := range tr.Points {
		k := 6 * i
		if !s.t[k].Equal(p.Time) || math.Abs(s.lat[k]-p.Lat) > 1e-9 || math.Abs(s.lon[k]-p.Lon) > 1e-9 || math.Abs(s.pres[k]-p.PressureHPa) > 1e-9 {
			t.Fatalf("step %d: %v %v %v %v, point %+v", k, s.t[k], s.lat[k], s.lon[k], s.pres[k], p)
		}
	}
}
