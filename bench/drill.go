package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/scenarios"
	"github.com/sitetwin/sitetwin/twin"
)

// drillScenario times a ready drill (Mangkhut by default: 72 h at
// 10-minute steps, 50 ensemble members) over the simulated city, and
// prints a digest of its timeline and plan, so that two builds can be
// checked to give the same bytes.
func drillScenario(ctx context.Context, args []string, out io.Writer) error {
	fs := flagSet("drill")
	projects := fs.Int("projects", 5500, "projects of the simulated city (5500: about 10,000 sites)")
	file := fs.String("scenario", "mangkhut_2018.json", "a shipped scenario (scenarios/examples)")
	members := fs.Int("members", 0, "typhoon track ensemble members (0: the scenario's)")
	runs := fs.Int("runs", 1, "runs to time (the fastest is reported)")
	results := fs.String("results", "bench/RESULTS.md", "append the figures to this file (empty: do not)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *projects < 1 || *projects > citysim.MaxProjects || *runs < 1 {
		return fmt.Errorf("--projects must be from 1 to %d and --runs at least 1", citysim.MaxProjects)
	}
	b, err := scenarios.ReadExample(*file)
	if err != nil {
		return fmt.Errorf("--scenario: %w", err)
	}
	s, err := scenarios.Parse(b, scenarios.ReadExample)
	if err != nil {
		return err
	}
	if *members > 0 && s.Typhoon != nil {
		s.Typhoon.Members = *members
	}
	rules := twin.DefaultRules()
	built := time.Now()
	city, err := citysim.New(citysim.Config{Projects: *projects, Seed: 1, Start: time.Date(2026, 9, 14, 0, 0, 0, 0, time.UTC)})
	if err != nil {
		return err
	}
	twins, err := scenarios.CityTwins(city, rules)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "city of %d projects built in %s\n", *projects, time.Since(built).Round(time.Millisecond))
	var best time.Duration
	var res *scenarios.Result
	for i := range *runs {
		began := time.Now()
		res, err = scenarios.Run(ctx, s, twins, scenarios.Options{Rules: rules, Models: predict.NewRegistry(rules)})
		if err != nil {
			return err
		}
		took := time.Since(began)
		fmt.Fprintf(out, "run %d: %s\n", i+1, took.Round(time.Millisecond))
		if i == 0 || took < best {
			best = took
		}
	}
	tl, err := json.Marshal(res.Timeline)
	if err != nil {
		return err
	}
	pl, err := json.MarshalIndent(res.Plan, "", "  ")
	if err != nil {
		return err
	}
	ensemble := 0
	if s.Typhoon != nil {
		ensemble = s.Typhoon.Members
	}
	k := res.Plan.KPIs
	var sb strings.Builder
	fmt.Fprintf(&sb, "| drill | projects | sites | steps | members | GOMAXPROCS | run | × real time | actions | incidents | timeline+plan sha256 |\n")
	fmt.Fprintf(&sb, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(&sb, "| %s | %d | %d | %d | %d | %d | %s | %.0f | %d | %d | %x |\n", s.ID, *projects, k.Sites, len(res.Timeline.Steps), ensemble,
		runtime.GOMAXPROCS(0), best.Round(100*time.Millisecond), s.Duration.D().Seconds()/best.Seconds(), k.Actions, k.Incidents,
		sha256.Sum256(append(tl, pl...)))
	fmt.Fprint(out, sb.String())
	command := fmt.Sprintf("go run ./bench drill --projects %d --scenario %s", *projects, *file)
	if *members > 0 {
		command += fmt.Sprintf(" --members %d", *members)
	}
	return appendResults(*results, "drill", command, sb.String())
}
