package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sitetwin/sitetwin/citysim"
	"github.com/sitetwin/sitetwin/predict"
	"github.com/sitetwin/sitetwin/scenarios"
	"github.com/sitetwin/sitetwin/twin"
)

// Defaults of simulate: 300 projects (about 540 sites and 7,500 sensors),
// 90 days after a history that ends on 1 June 2026 (the start of the wet and
// typhoon season, when rain, gusty spells and the crane wind vary most), at
// 2 events per second of event time per 300 projects, so that each sensor
// reports about every hour: enough for most dust spikes, noisy nights and
// gusty spells to show as alarms, and 30-day incident labels for two thirds
// of the period.
const (
	simDefaultProjects = 300
	simDefaultDays     = 90
	simDefaultRate     = 2.0
	simDefaultStart    = "2026-06-01"
	simMaxDays         = 3650
)

// shenzhen is the local time of a --start given as a date.
var shenzhen = time.FixedZone("CST", 8*60*60)

// simulateCmd writes the simulated city's history and live events as
// NDJSON, one CloudEvent per line in event-time order: what `sitetwin
// replay` reads, and what a model is trained and backtested on.
func simulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flagSet("simulate", "--out FILE [--days N] [--projects N] [--seed S] [--start DATE] [--rate R]", stderr)
	out := fs.String("out", "", "file to write, e.g. history.ndjson (- for standard output; a name ending in .gz is written gzip-compressed)")
	days := fs.Int("days", simDefaultDays, "days of live events after the history")
	projects := fs.Int("projects", simDefaultProjects, "projects in the simulated city")
	seed := fs.Int64("seed", 1, "seed of the simulated city (same flags, same file)")
	start := fs.String("start", simDefaultStart, "where the history ends and the live events begin: a date (midnight in Shenzhen) or an RFC 3339 time")
	storm := fs.String("storm", "", "lay a typhoon over the live days: a track file (RSMC Tokyo best track, CLIMADA CSV or plain CSV), e.g. predict/testdata/wind/mangkhut_2018_1822_jma.csv")
	stormAt := fs.String("storm-at", "", "when the storm passes closest to the city (a date or RFC 3339 time); default the middle of the live days")
	rate := fs.Float64("rate", 0, "live events per second of event time (default 2 per 300 projects: each sensor about hourly)")
	if _, err := parseFlags(fs, args, getenv, 0); err != nil {
		return err
	}
	switch {
	case *out == "":
		return fmt.Errorf("%w: --out FILE is required (- for standard output)", errUsage)
	case *days < 0 || *days > simMaxDays:
		return fmt.Errorf("%w: --days must be from 0 to %d", errUsage, simMaxDays)
	case *projects < 1 || *projects > citysim.MaxProjects:
		return fmt.Errorf("%w: --projects must be from 1 to %d", errUsage, citysim.MaxProjects)
	case *rate == 0:
		*rate = simDefaultRate * float64(*projects) / simDefaultProjects
	case *days > 0 && !(*rate > 0):
		return fmt.Errorf("%w: --rate must be more than 0 events per second", errUsage)
	}
	at, err := parseStart(*start)
	if err != nil {
		return err
	}
	city, err := citysim.New(citysim.Config{Projects: *projects, Seed: *seed, Start: at, Rate: *rate})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	var extra []*twin.Event // the storm's, in time order
	if *storm != "" {
		if extra, err = stormEvents(city, *storm, *stormAt, *days, uint64(*seed)); err != nil {
			return err
		}
	}
	dest, commit, abort, err := createOutput(*out, stdout)
	if err != nil {
		return err
	}
	defer abort()
	cw := &countWriter{w: dest}
	var w io.Writer = cw
	var zw *gzip.Writer
	if strings.HasSuffix(*out, ".gz") {
		zw, _ = gzip.NewWriterLevel(cw, gzip.BestSpeed) // the level is valid; the header has no name or time, so the bytes are the same each run
		w = zw
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	began := time.Now()
	var n int64
	write := func(e *twin.Event) error {
		b, err := twin.Encode(e)
		if err != nil {
			return fmt.Errorf("encode %s: %w", e.ID, err)
		}
		bw.Write(b)
		n++
		return bw.WriteByte('\n')
	}
	for _, e := range city.Bootstrap() {
		if err := write(e); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "simulate: %d projects, history up to %s: %d events\n", *projects, city.Start().Format(time.RFC3339), n)
	until := city.Start().Add(time.Duration(*days) * 24 * time.Hour)
	step := max(1, *days/10)
	next := step
	if *days > 0 {
		for e := city.Next(); e.Time.Before(until); e = city.Next() {
			for len(extra) > 0 && extra[0].Time.Before(e.Time) {
				if extra[0].Time.After(city.Start()) {
					if err := write(extra[0]); err != nil {
						return err
					}
				}
				extra = extra[1:]
			}
			if err := write(e); err != nil {
				return err
			}
			if n%8192 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if d := int(e.Time.Sub(city.Start()) / (24 * time.Hour)); d >= next {
				fmt.Fprintf(stderr, "simulate: day %d of %d (%s): %d events, %s, %s\n", d, *days,
					e.Time.In(shenzhen).Format(time.DateOnly), n, size(cw.n), time.Since(began).Round(time.Second))
				next = d + step
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	if err := commit(); err != nil {
		return err
	}
	incidents := 0
	for _, in := range city.Incidents() {
		if !in.Reported.IsZero() && in.Reported.Before(until) {
			incidents++
		}
	}
	fmt.Fprintf(stderr, "simulate: wrote %d events (%s, %d incidents) covering the history and %d days from %s at %.3g/s to %s in %s\n",
		n, size(cw.n), incidents, *days, city.Start().In(shenzhen).Format(time.DateOnly), *rate, *out, time.Since(began).Round(time.Millisecond))
	return nil
}

// stormEvents lays the storm of a track file over the simulated city: its
// closest approach to the city's centre at --storm-at (default the middle
// of the live days), its advisories and the winds its cranes record.
func stormEvents(city *citysim.City, file, at string, days int, seed uint64) ([]*twin.Event, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("%w: --storm: %v", errUsage, err)
	}
	defer f.Close()
	track, err := predict.ParseTrack(f)
	if err != nil {
		return nil, fmt.Errorf("--storm %s: %w", file, err)
	}
	when := city.Start().Add(time.Duration(days) * 12 * time.Hour)
	if at != "" {
		if when, err = parseStart(at); err != nil {
			return nil, fmt.Errorf("--storm-at: %w", err)
		}
	}
	var lat, lon float64
	var n int
	var cranes []scenarios.StormCrane
	for _, p := range city.Projects() {
		for _, s := range p.Sites {
			lat, lon, n = lat+s.Lat, lon+s.Lon, n+1
			for _, c := range s.Cranes {
				cranes = append(cranes, scenarios.StormCrane{Project: p.ID, Crane: predict.Crane{ID: c.ID, Site: s.ID, Lat: s.Lat, Lon: s.Lon,
					HeightM: c.HeightM, Terrain: s.Terrain, InServiceLimitMS: c.InServiceLimitMS, OutOfServiceLimitMS: c.OutOfServiceLimitMS}})
			}
		}
	}
	if track.Name == "" {
		track.Name, _, _ = strings.Cut(filepath.Base(file), "_") // mangkhut_2018_1822_jma.csv: mangkhut
	}
	rules := twin.DefaultRules()
	lat, lon = lat/float64(n), lon/float64(n)
	st := scenarios.Storm{Track: scenarios.Shift(track, lat, lon, when), Cranes: cranes, Lat: lat, Lon: lon,
		Crane: predict.CraneOptions{TerrainAlpha: rules.TerrainAlpha}, Seed: seed}
	return st.Events()
}

// parseStart reads --start: a date is midnight in Shenzhen.
func parseStart(s string) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, shenzhen); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: --start %q: give a date (2026-06-01) or an RFC 3339 time (2026-06-01T08:00:00+08:00)", errUsage, s)
}

// createOutput opens where the events go. A file is written under a
// temporary name beside it and renamed by commit, so that a run that fails
// or is interrupted leaves no partial file; abort removes the temporary
// file unless commit succeeded.
func createOutput(name string, stdout io.Writer) (w io.Writer, commit func() error, abort func(), err error) {
	if name == "-" {
		return stdout, func() error { return nil }, func() {}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return nil, nil, nil, err
	}
	done := false
	commit = func() error {
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Chmod(f.Name(), 0o644); err != nil {
			return err
		}
		if err := os.Rename(f.Name(), name); err != nil {
			return err
		}
		done = true
		return nil
	}
	abort = func() {
		if !done {
			f.Close()
			os.Remove(f.Name())
		}
	}
	return f, commit, abort, nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// size writes a byte count for a person: "812 MB".
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d kB", n>>10)
}
