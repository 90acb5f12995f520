package predict

import (
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/twin"
)

// TestTerrainProfile checks the factors against GB 50009-2012's own table
// of height coefficients mu_z (the squares of MeanFactor with reference B)
// and its gust coefficient beta_gz at 10 m (1 + 2 g I10).
func TestTerrainProfile(t *testing.T) {
	tp, err := GB50009Terrains(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := tp["B"]
	for _, tc := range []struct {
		name    string
		terrain string
		z       float64
		muZ     float64 // GB 50009-2012 Table 8.2.1
	}{
		{"B at 10 m", "B", 10, 1.00},
		{"B below its minimum height", "B", 5, 1.00},
		{"B at 100 m", "B", 100, 2.00},
		{"A at 10 m", "A", 10, 1.28},
		{"A at 50 m", "A", 50, 1.89},
		{"C at 15 m", "C", 15, 0.65},
		{"C at 100 m", "C", 100, 1.50},
		{"D at 30 m", "D", 30, 0.51},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tp[tc.terrain].MeanFactor(b, tc.z)
			if math.Abs(f*f-tc.muZ) > 0.01 {
				t.Errorf("mu_z = %.3f, GB 50009 %.2f", f*f, tc.muZ)
			}
		})
	}
	for terrain, beta := range map[string]float64{"A": 1.60, "B": 1.70, "C": 2.15, "D": 2.95} {
		p := tp[terrain]
		z := max(10, p.MinHeightM)
		g := 1 + 2*2.5*p.Turbulence10*math.Pow(z/10, -p.Alpha)
		if terrain == "A" || terrain == "B" {
			if math.Abs(g-beta) > 0.01 {
				t.Errorf("%s: beta_gz at 10 m %.2f, GB 50009 %.2f", terrain, g, beta)
			}
		}
		if got := p.GustFactor(z); math.Abs(got-(1+(g-1)/2)) > 1e-12 {
			t.Errorf("%s: gust factor %v", terrain, got)
		}
	}
	if _, err := GB50009Terrains(map[string]float64{"C": 1.5}); err == nil {
		t.Error("exponent 1.5 accepted")
	}
	if _, err := GB50009Terrains(map[string]float64{"E": 0.2}); err == nil {
		t.Error("terrain E accepted")
	}
	tp2, _ := GB50009Terrains(map[string]float64{"C": 0.25})
	if tp2["C"].Alpha != 0.25 || tp2["C"].GradientHeightM != 450 {
		t.Errorf("rule pack exponent not applied: %+v", tp2["C"])
	}
}

func TestAveraging(t *testing.T) {
	a := DefaultAveraging()
	for _, tc := range []struct {
		name      string
		got, want float64
	}{
		{"1 to 10 min", a.TenMinute(40), 37.2},
		{"1 min to hourly", a.Hourly(40), 40 * 0.93 * 0.95},
		{"gust off-sea", a.Gust3s(40, OffSea), 40 * 0.93 * 1.38},
		{"gust in-land", a.Gust3s(40, InLand), 40 * 0.93 * 1.66},
		{"10-min track wind", a.oneMinuteWind(&TrackPoint{MaxWindMS: 37.2, WindAvgMinutes: 10}), 40},
		{"2-min track wind", a.oneMinuteWind(&TrackPoint{MaxWindMS: 40, WindAvgMinutes: 2}), 40 / math.Pow(0.93, math.Log10(2))},
		{"1-min track wind", a.oneMinuteWind(&TrackPoint{MaxWindMS: 40, WindAvgMinutes: 1}), 40},
		{"missing wind: CLIMADA estimate", a.oneMinuteWind(&TrackPoint{Lat: 20, Lon: 115, PressureHPa: 960}), climadaEstimateVmaxKt(20, 115, 960) * knotMS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if math.Abs(tc.got-tc.want) > 1e-9 {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

// straightTrack is a synthetic typhoon moving west along 22°N at about
// 20 km/h, passing just south of Shenzhen: 13 points 6 h apart (72 h).
func straightTrack(pressure float64) *Track {
	t0 := time.Date(2026, 9, 14, 0, 0, 0, 0, time.UTC)
	tr := &Track{Name: "TEST", Format: FormatCSV}
	for i := range 13 {
		tr.Points = append(tr.Points, TrackPoint{
			Time: t0.Add(time.Duration(6*i) * time.Hour), Lat: 22.0, Lon: 120.0 - 1.2*float64(i)/1.0*6/6,
			PressureHPa: pressure, MaxWindMS: 45, WindAvgMinutes: 10, R50Km: 150, R30Km: 400, Line: i + 2,
		})
	}
	return tr
}

func TestForecastCranes(t *testing.T) {
	tr := straightTrack(950)
	cranes := []Crane{
		{ID: "near-tall", Lat: 22.5, Lon: 114.05, HeightM: 120, Terrain: "C", OutOfServiceLimitMS: 42},
		{ID: "near-low", Lat: 22.5, Lon: 114.05, HeightM: 20, Terrain: "C"},
		{ID: "far", Lat: 35.0, Lon: 114.05, HeightM: 120, Terrain: "C"},
	}
	got, err := ForecastCranes(tr, cranes, CraneOptions{Ensemble: EnsembleOptions{Members: 40, Seed: 7}})
	if err != nil {
		t.Fatal(err)
	}
	tall, low, far := got[0], got[1], got[2]
	for _, f := range got {
		t.Logf("%+v", f)
	}
	if tall.FirstExceed.IsZero() || tall.HoursAbove == 0 || tall.PExceed < 0.5 {
		t.Errorf("tall crane 55 km from the track should exceed its limit: %+v", tall)
	}
	if !tall.FirstExceed.Before(tall.PeakAt) && !tall.FirstExceed.Equal(tall.PeakAt) {
		t.Errorf("first exceedance %s after the peak %s", tall.FirstExceed, tall.PeakAt)
	}
	if low.Peak >= tall.Peak || low.HoursAbove > tall.HoursAbove {
		t.Errorf("a lower jib sees less wind: low %+v, tall %+v", low, tall)
	}
	if far.Peak != 0 || far.HoursAbove != 0 || far.PExceed != 0 || !far.FirstExceed.IsZero() {
		t.Errorf("a crane 1400 km away: %+v", far)
	}
	if tall.InServiceLimitMS != 20 || tall.OutOfServiceLimitMS != 42 || low.OutOfServiceLimitMS != 0 || low.POutOfService != 0 {
		t.Errorf("limits: %+v %+v", tall, low)
	}
	again, err := ForecastCranes(tr, cranes, CraneOptions{Ensemble: EnsembleOptions{Members: 40, Seed: 7}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, again) {
		t.Error("the same seed gave different forecasts")
	}
}

// TestForecastCranesEnsembleSpread: a crane whose limit is just above the
// deterministic peak never exceeds it without track error, and sometimes
// does with it; more error, more members exceed.
func TestForecastCranesEnsembleSpread(t *testing.T) {
	tr := straightTrack(960)
	c := []Crane{{ID: "edge", Lat: 23.6, Lon: 114.05, HeightM: 60, Terrain: "B"}}
	det, err := ForecastCranes(tr, c, CraneOptions{Ensemble: EnsembleOptions{Members: 1}})
	if err != nil {
		t.Fatal(err)
	}
	c[0].InServiceLimitMS = det[0].Peak * 1.05
	tiny := 1e-9
	p := func(cross float64) float64 {
		f, err := ForecastCranes(tr, c, CraneOptions{Ensemble: EnsembleOptions{Members: 200, Seed: 1,
			CrossKm0: cross, CrossKmPerHour: tiny, AlongKm0: tiny, AlongKmPerHour: tiny, Intensity0: tiny, IntensityPerHour: tiny}})
		if err != nil {
			t.Fatal(err)
		}
		if f[0].HoursAbove != 0 || !f[0].FirstExceed.IsZero() {
			t.Fatalf("the central track exceeds: %+v", f[0])
		}
		return f[0].PExceed
	}
	none, some, more := p(tiny), p(50), p(150)
	t.Logf("peak %.1f m/s, limit %.1f: P(exceed) %.2f, %.2f, %.2f with cross-track sd 0, 50, 150 km", det[0].Peak, c[0].InServiceLimitMS, none, some, more)
	if none != 0 || some <= 0 || more <= some || more >= 1 {
		t.Errorf("P(exceed) %v, %v, %v: want 0 < rising < 1", none, some, more)
	}
}

func TestForecastCranesBadInput(t *testing.T) {
	tr := straightTrack(950)
	for _, tc := range []struct {
		name  string
		crane Crane
		opt   CraneOptions
	}{
		{"no height", Crane{ID: "x", Lat: 22, Lon: 114}, CraneOptions{}},
		{"unknown terrain", Crane{ID: "x", Lat: 22, Lon: 114, HeightM: 50, Terrain: "Z"}, CraneOptions{}},
		{"bad latitude", Crane{ID: "x", Lat: 95, Lon: 114, HeightM: 50}, CraneOptions{}},
		{"NaN longitude", Crane{ID: "x", Lat: 22, Lon: math.NaN(), HeightM: 50}, CraneOptions{}},
		{"too many members", Crane{ID: "x", Lat: 22, Lon: 114, HeightM: 50}, CraneOptions{Ensemble: EnsembleOptions{Members: 5000}}},
		{"negative error", Crane{ID: "x", Lat: 22, Lon: 114, HeightM: 50}, CraneOptions{Ensemble: EnsembleOptions{AlongKm0: -1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ForecastCranes(tr, []Crane{tc.crane}, tc.opt); err == nil {
				t.Error("no error")
			} else {
				t.Log(err)
			}
		})
	}
}

func TestCranesOfSite(t *testing.T) {
	s := &twin.SiteTwin{ID: "S-1", Lat: 22.5, Lon: 114.0, Terrain: "B", Equipment: map[string]*twin.Equipment{
		"TC-2": {ID: "TC-2", Kind: twin.KindTowerCrane, HeightM: 60, InServiceLimitMS: 18},
		"PIT":  {ID: "PIT", Kind: twin.KindFoundationPit, DepthM: 12},
		"TC-1": {ID: "TC-1", Kind: twin.KindTowerCrane, HeightM: 45, OutOfServiceLimitMS: 40},
	}}
	got := CranesOfSite(s)
	want := []Crane{
		{ID: "TC-1", Site: "S-1", Lat: 22.5, Lon: 114, HeightM: 45, Terrain: "B", OutOfServiceLimitMS: 40},
		{ID: "TC-2", Site: "S-1", Lat: 22.5, Lon: 114, HeightM: 60, Terrain: "B", InServiceLimitMS: 18},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

// TestMemberCache checks that forecasts sharing a MemberCache equal those
// computed alone, for the same track from many goroutines, for another
// track and for another ensemble, and that the cache keeps the latest
// tracks only.
func TestMemberCache(t *testing.T) {
	cranes := []Crane{
		{ID: "tall", Lat: 22.5, Lon: 114.05, HeightM: 120, Terrain: "C", OutOfServiceLimitMS: 42},
		{ID: "edge", Lat: 23.3, Lon: 114.05, HeightM: 60, Terrain: "B"},
	}
	plain := CraneOptions{Ensemble: EnsembleOptions{Members: 30, Seed: 5}}
	cached := plain
	cached.Members = &MemberCache{}
	cases := []struct {
		tr  *Track
		ens EnsembleOptions
	}{
		{straightTrack(950), plain.Ensemble},
		{straightTrack(960), plain.Ensemble},
		{straightTrack(950), EnsembleOptions{Members: 30, Seed: 6}},
		{straightTrack(950), plain.Ensemble}, // again: from the cache
	}
	for i, c := range cases {
		p, q := plain, cached
		p.Ensemble, q.Ensemble = c.ens, c.ens
		want, err := ForecastCranes(c.tr, cranes, p)
		if err != nil {
			t.Fatal(err)
		}
		got := make([][]CraneForecast, 4)
		var wg sync.WaitGroup
		for g := range got {
			wg.Go(func() {
				f, err := ForecastCranes(c.tr, cranes, q)
				if err != nil {
					t.Error(err)
				}
				got[g] = f
			})
		}
		wg.Wait()
		for g := range got {
			if !reflect.DeepEqual(got[g], want) {
				t.Fatalf("case %d, goroutine %d: cached %+v, alone %+v", i, g, got[g], want)
			}
		}
	}
	if n := len(cached.Members.entries); n != 3 {
		t.Errorf("%d entries for 3 distinct tracks and ensembles", n)
	}
	for i := range maxMemberEntries + 2 {
		if _, err := ForecastCranes(straightTrack(940+float64(i)), cranes, cached); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(cached.Members.entries); n != maxMemberEntries {
		t.Errorf("%d entries, want at most %d", n, maxMemberEntries)
	}
}
