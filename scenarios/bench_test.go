package scenarios

import (
	"context"
	"flag"
	"testing"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/twin"
)

var benchProjects = flag.Int("drill.projects", 300, "BenchmarkDrillMangkhut: projects of the simulated city (5500 gives about 10,000 sites)")

// BenchmarkDrillMangkhut runs the Mangkhut drill (72 h at 10-minute steps,
// 50 ensemble members) over the simulated city:
//
//	go test ./scenarios -run XXX -bench DrillMangkhut -benchtime 1x -drill.projects 5500 -cpuprofile cpu.out
func BenchmarkDrillMangkhut(b *testing.B) {
	c, err := citysim.New(citysim.Config{Projects: *benchProjects, Seed: 1, Start: time.Date(2026, 9, 14, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		b.Fatal(err)
	}
	r := twin.DefaultRules()
	twins, err := CityTwins(c, r)
	if err != nil {
		b.Fatal(err)
	}
	s := readExample(b, "mangkhut_2018.json")
	models := predict.NewRegistry(r)
	b.ResetTimer()
	for range b.N {
		res, err := Run(context.Background(), s, twins, Options{Rules: r, Models: models})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(res.Timeline.Sites)), "sites")
	}
}
