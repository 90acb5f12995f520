package twin

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkDecode measures decoding one sensor reading CloudEvent.
func BenchmarkDecode(b *testing.B) {
	raw := []byte(`{"specversion":"1.0","id":"gw-0142-dust-01-20260612T0318","type":"sensor.reading","source":"iot-gateway/NS-2026-0142-S1","time":"2026-06-12T03:18:00Z","project":"NS-2026-0142","site":"NS-2026-0142-S1","data":{"kind":"pm10","value":168,"unit":"µg/m³"}}`)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyReading measures applying sensor readings to a registered
// project with a site, two cranes and a pit: the engine's hot path. The
// readings cycle over the site's series, one a second of event time.
func BenchmarkApplyReading(b *testing.B) {
	r := DefaultRules()
	p := NewProject(testProject, r)
	setup := []*Event{
		registered("2026-02-20T01:00:00Z"), siteAdded("2026-02-20T02:00:00Z", testSite, "C"),
		mkEvent("tc1", TypeEquipmentInstalled, "2026-02-21T00:00:00Z", testSite, &EquipmentInstalled{Equipment: "TC1", Kind: KindTowerCrane, HeightM: 80, JibLengthM: 60}),
		mkEvent("tc2", TypeEquipmentInstalled, "2026-02-21T00:00:00Z", testSite, &EquipmentInstalled{Equipment: "TC2", Kind: KindTowerCrane, HeightM: 120, JibLengthM: 70}),
		mkEvent("pit", TypeEquipmentInstalled, "2026-02-21T00:00:00Z", testSite, &EquipmentInstalled{Equipment: "PIT1", Kind: KindFoundationPit, DepthM: 15}),
		planned("2026-02-26T01:00:00Z", ms("A", 100, 0.5), ms("B", 100, 0.5, "A")),
	}
	for _, e := range setup {
		if _, err := Apply(p, e, r); err != nil {
			b.Fatal(err)
		}
	}
	kinds := []struct {
		kind, unit, equipment string
		base                  float64
	}{
		{SensorPM10, "µg/m³", "", 80}, {SensorNoise, "dB(A)", "", 62}, {SensorWindSpeed, "m/s", "", 4},
		{SensorWindSpeed, "m/s", "TC1", 7}, {SensorCraneLoad, "%", "TC2", 60}, {SensorPitDisplacement, "mm", "PIT1", 8},
		{SensorTemperature, "°C", "", 29}, {SensorHumidity, "%", "", 75},
	}
	const n = 4096
	evs := make([]*Event, n)
	start := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	for i := range evs {
		k := kinds[i%len(kinds)]
		evs[i] = &Event{
			ID: fmt.Sprintf("r-%d", i), Type: TypeSensorReading, Source: "bench", Time: start.Add(time.Duration(i) * time.Second),
			Project: testProject, Site: testSite,
			Data: &SensorReading{Kind: k.kind, Value: k.base + float64(i%7), Unit: k.unit, Equipment: k.equipment},
		}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		e := evs[i%n]
		if i >= n { // later rounds: fresh ids and times, so nothing is a duplicate
			c := *e
			c.ID = fmt.Sprintf("r-%d", i)
			c.Time = start.Add(time.Duration(i) * time.Second)
			e = &c
		}
		if _, err := Apply(p, e, r); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
