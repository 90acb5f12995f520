package predict

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// fuzzTrack checks what every track parser promises on any input: no
// panic; either an error or a track that passes Validate and whose winds
// are finite and not negative at points near it.
func fuzzTrack(t *testing.T, parse func([]byte) (*Track, error), data []byte) {
	tr, err := parse(data)
	if err != nil {
		return
	}
	if err := tr.Validate(); err != nil {
		return // the parsers leave validation to ParseTrack
	}
	p := tr.Points[0]
	pts := []LatLon{{p.Lat, math.Mod(p.Lon+180, 360) - 180}, {math.Min(90, p.Lat+1), p.Lon}}
	for _, m := range []WindModel{WindAuto, WindH08, WindER11} {
		got, err := MaxWind(tr, pts, WindOptions{Model: m})
		if err != nil {
			continue
		}
		for _, v := range got {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Fatalf("%s: wind %v from %q", m, v, data)
			}
		}
	}
	if again, err := ParseTrack(bytes.NewReader(data)); err != nil || len(again.Points) != len(tr.Points) {
		t.Fatalf("ParseTrack disagrees with the format's parser: %v", err)
	}
}

func addSeedFile(f *testing.F, name string) {
	b, err := os.ReadFile(filepath.Join("testdata", "wind", name))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

func FuzzParseTrackRSMC(f *testing.F) {
	addSeedFile(f, "mangkhut_2018_1822.bst")
	for _, s := range []string{
		"66666 1822\n18091600 002 5 206 1153  960     075     90090 0090 20350 0240\n18091606 002 5 217 1135  960     075     90090 0090 20350 0210         #\n",
		"18091600 002 2 206 1153 1008\n18091606 002 2 217 1135 1008\n",
		"18091600 002 5 206 1799  960     075\n18091606 002 5 217 0001  960     075\n", // across the antimeridian
		"18091600 002 5 900 1153  850     999     99999 9999 99999 9999\n18091606 002 5 000 0000 1050\n",
		"#\n66666\n18091600 002 5 206 1153  960     #\n",
		"18021600 002 5 206 1153  960\n18022906 002 5 217 1135  960\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzTrack(t, parseRSMC, data) })
}

func FuzzParseTrackCLIMADA(f *testing.F) {
	addSeedFile(f, "climada_trac_brb_test_1951239N12334.csv")
	for _, s := range []string{
		"cgps_lat,cgps_lon,isotime,pcen,penv,rmax,vmax\n12.3,-25.6,1951082706.0,1000,1010,20,25\n12.3,-26.6,1951082712,1000,1010,0,25\n",
		"cgps_lat,cgps_lon,isotime,pcen,vmax\n12.3,-25.6,1951082706.0,-999,0\n",
		"cgps_lat,cgps_lon,isotime,pcen,vmax\n90,180,1951082706.0,850,250\n-90,-180,1951082707.0,1050,0\n",
		"cgps_lat,cgps_lon,isotime,pcen,vmax\n1e308,NaN,Inf,-Inf,\"\"\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzTrack(t, parseCLIMADACSV, data) })
}

func FuzzParseTrackCSV(f *testing.F) {
	addSeedFile(f, "mangkhut_2018_1822_jma.csv")
	for _, s := range []string{
		csvHeader + "2018-09-16T00:00:00Z,20.6,115.3,960,38.6,10\n2018-09-16 06:00,21.7,113.5,960,38.6,10\n",
		"Year,Month,Day,Hour,Lat,Lon,usa_wind_kt,pressure_hpa,rmw_nm,r30_km,r50_km\n2017,8,23,0,21.5,114.5,90,956,15,300,100\n2017,8,23,6,22.2,112.8,85,964,,,\n",
		csvHeader + "2018-09-16T00:00:00Z,89.9,359,850,120,1\n2018-11-14T00:00:00Z,-89.9,-180,1050,0,\n",
		csvHeader + "2018-09-16T00:00:00Z,20.6,115.3,960,38.6,10\n2018-09-16T00:00:00.000000001Z,20.6,115.3,960,38.6,10\n",
		"time,lat,lon,pressure_hpa,env_pressure_hpa,vmax_ms_1min\n2018-09-16T00:00:00+08:00,0,0,1000,1000,0\n2018-09-17T00:00:00-08:00,0,0,1000,1000,0\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzTrack(t, parsePlainCSV, data) })
}
