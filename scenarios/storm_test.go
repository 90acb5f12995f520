package scenarios

import (
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

func mangkhut(t *testing.T) *predict.Track {
	t.Helper()
	f, err := os.Open("../predict/testdata/wind/mangkhut_2018_1822_jma.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr, err := predict.ParseTrack(f)
	if err != nil {
		t.Fatal(err)
	}
	tr.Name = "mangkhut"
	return tr
}

// Futian, Shenzhen: Mangkhut passed about 100 km to its south-west on
// 16 September 2018.
const futianLat, futianLon = 22.54, 114.06

func TestShift(t *testing.T) {
	tr := mangkhut(t)
	when := time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC)
	s := Shift(tr, futianLat, futianLon, when)
	nearest, km := -1, 1e9
	for i, p := range s.Points {
		if d := twin.DistanceKm(futianLat, futianLon, p.Lat, p.Lon); d < km {
			nearest, km = i, d
		}
	}
	if !s.Points[nearest].Time.Equal(when) || km > 150 {
		t.Fatalf("closest point %d (%.0f km) at %v, want %v", nearest, km, s.Points[nearest].Time, when)
	}
	if d := s.Points[1].Time.Sub(s.Points[0].Time); d != tr.Points[1].Time.Sub(tr.Points[0].Time) {
		t.Fatalf("the shift changed the spacing: %v", d)
	}
	if tr.Points[nearest].Time.Equal(when) {
		t.Fatal("the original track was changed")
	}
}

func TestStormEvents(t *testing.T) {
	tr := Shift(mangkhut(t), futianLat, futianLon, time.Date(2026, 7, 15, 12, 0, 0, 0, time.UTC))
	cranes := []StormCrane{
		{Project: "P1", Crane: predict.Crane{ID: "TC1", Site: "S1", Lat: futianLat, Lon: futianLon, HeightM: 150, Terrain: "C", InServiceLimitMS: 20}},
		{Project: "P2", Crane: predict.Crane{ID: "TC9", Site: "S9", Lat: 25.0, Lon: 119.0, HeightM: 40, Terrain: "D", InServiceLimitMS: 20}}, // Fujian, far north-east of the track
	}
	s := Storm{Track: tr, Cranes: cranes, Lat: futianLat, Lon: futianLon, Seed: 7}
	evs, err := s.Events()
	if err != nil {
		t.Fatal(err)
	}
	var advisories, readings int
	perCrane := map[string]int{}
	for i, e := range evs {
		if i > 0 && e.Time.Before(evs[i-1].Time) {
			t.Fatalf("event %d at %v before %v", i, e.Time, evs[i-1].Time)
		}
		// every event must be valid as the engine receives it
		b, err := twin.Encode(e)
		if err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
		if _, err := twin.Decode(b); err != nil {
			t.Fatalf("%s does not decode: %v", e.ID, err)
		}
		switch d := e.Data.(type) {
		case *twin.TyphoonAdvisory:
			advisories++
			if e.Project != twin.CityWide || len(d.Track) < 2 || d.Name != "mangkhut" {
				t.Fatalf("advisory %s: %+v", e.ID, e)
			}
			ft, err := predict.TrackFromAdvisory(d)
			if err != nil {
				t.Fatalf("advisory %s: %v", e.ID, err)
			}
			if !ft.Issued.Equal(e.Time) || ft.Points[len(ft.Points)-1].Time.Sub(e.Time) > 72*time.Hour {
				t.Fatalf("advisory %s issued %v covers to %v", e.ID, ft.Issued, ft.Points[len(ft.Points)-1].Time)
			}
		case *twin.SensorReading:
			readings++
			perCrane[d.Equipment]++
			if d.Kind != "wind_gust" || d.Value < 5 || e.Site == "" {
				t.Fatalf("reading %s: %+v %+v", e.ID, e, d)
			}
		}
	}
	// Mangkhut blew at typhoon strength over Shenzhen for about a day: the
	// 150 m crane in Futian is above half its limit for many hours; the
	// advisories start once forecasts come within 800 km.
	if advisories < 8 || advisories > 40 || perCrane["TC1"] < 12 || perCrane["TC1"] <= perCrane["TC9"] {
		t.Fatalf("%d advisories, readings per crane %v", advisories, perCrane)
	}
	again, _ := s.Events()
	if !reflect.DeepEqual(evs, again) {
		t.Fatal("the same storm and seed gave other events")
	}
	s.Seed = 8
	other, _ := s.Events()
	if reflect.DeepEqual(evs, other) {
		t.Fatal("another seed gave the same events")
	}
}

func TestStormBadInput(t *testing.T) {
	if _, err := (Storm{}).Events(); err == nil {
		t.Fatal("no track: no error")
	}
	tr := mangkhut(t)
	tr.Points = tr.Points[:1]
	if _, err := (Storm{Track: tr}).Events(); err == nil {
		t.Fatal("a one-point track: no error")
	}
	bad := Storm{Track: mangkhut(t), Cranes: []StormCrane{{Project: "P1", Crane: predict.Crane{ID: "TC1", Lat: 22, Lon: 114, HeightM: -3}}}}
	if _, err := bad.Events(); err == nil {
		t.Fatal("a crane of negative height: no error")
	}
}
