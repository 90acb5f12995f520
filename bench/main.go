// Command bench measures sitetwin and appends its figures to
// bench/RESULTS.md with the command and the machine.
//
//	go run ./bench restore [--twins 100000] [--steady-minutes 0] [--cpuprofile FILE] [--results bench/RESULTS.md]
//	go run ./bench websocket|ws [--clients 1000] [--projects 300] [--seconds 20] [--rate 0] [--checkpoint 0] [--updates-per-second 0] [--cpuprofile FILE] [--results bench/RESULTS.md]
//	go run ./bench drill [--projects 5500] [--scenario mangkhut_2018.json] [--members N] [--runs 1] [--results bench/RESULTS.md]
//	go run ./bench apply [--projects 300] [--events 1000000] [--rate 100] [--cpuprofile FILE] [--results bench/RESULTS.md]
//	go run ./bench decode [--projects 300] [--events 500000] [--rate 100] [--rounds 3] [--cpuprofile FILE] [--results bench/RESULTS.md]
//	go run ./bench twins [--projects 10000,100000] [--sensor-every 1m] [--steady-minutes 180] [--memprofile FILE] [--results bench/RESULTS.md]
//	go run ./bench forecast [--projects 1000] [--steady-minutes 60] [--storm FILE] [--storm-in 24h] [--cpuprofile FILE] [--results bench/RESULTS.md]
//	go run ./bench e2e [--events 1000000] [--projects 300] [--rate 0] [--broker inproc|process] [--exactly-once=true] [--partitions 6] [--results bench/RESULTS.md]
//	go run ./bench compare [--json] [--events 1000000] [--projects 300] [--rate 0] [--broker inproc|process] [--partitions 6] [--peer bench/peers/goka] [--results bench/RESULTS.md]
//
// Scenarios:
//
//	restore  build twins from the simulated city, write their snapshots to
//	         the changelog of an embedded broker, and time an engine that
//	         joins the group and restores them (the start of a process that
//	         takes over partitions).
//	websocket the engine at full rate (or at the --rate the producer
//	         holds) without and with websocket clients subscribed to the
//	         city: its throughput, and the delivery latency (p50, p99) from
//	         produce to client receipt. ws is another name for it.
//	drill    a ready drill (Mangkhut: 72 h at 10-minute steps, 50 track
//	         ensemble members) over the simulated city of about 10,000
//	         sites: the time of scenarios.Run, and a digest of its timeline
//	         and plan (the same inputs must give the same bytes).
//	apply    the simulated city's events (seed 1), decoded beforehand,
//	         applied to twins in memory on one core with twin.Apply: the
//	         bootstrap and the live mix apart, events/s per core, ns, allocations
//	         and bytes per event (the engine's ceiling).
//	decode   the same events encoded as CloudEvent JSON and decoded with
//	         twin.Decode on one core: MB/s and events/s.
//	twins    the memory of steady-state twins (the bootstrap, then live
//	         events until the sensor series hold their retention): heap
//	         and RSS per project and per site, and which parts of a twin
//	         hold the heap.
//	forecast the prediction models of predict.NewRegistry (delay with its
//	         Monte Carlo, safety, typhoon with an advisory of a real track
//	         active) on every twin of a steady-state city: runs, mean and
//	         p99 time per run, runs/s on one core and on all cores.
//	e2e      a producer writes the simulated city's bootstrap (applied
//	         first, not timed), then N live events of its default mix as
//	         CloudEvent JSON, to the broker (embedded, or `sitetwin broker`
//	         as a separate process) while the engine consumes, applies and
//	         checkpoints them (exactly-once on or off): events/s sustained,
//	         and latency p50/p99 from produce to applied and to committed.
//	compare  e2e for sitetwin with exactly-once on and off and for the
//	         goka peer (bench/peers/goka, its own module) on the same
//	         broker in one run, each on fresh topics: events/s, p99 and
//	         the ratios; --json prints them as one JSON object.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: go run ./bench restore|websocket|drill|apply|decode|e2e|compare|twins|forecast [flags] (see the package comment)")
	}
	switch args[0] {
	case "restore":
		return restoreScenario(ctx, args[1:], out)
	case "websocket", "ws":
		return wsScenario(ctx, args[1:], out)
	case "drill":
		return drillScenario(ctx, args[1:], out)
	case "apply":
		return applyScenario(args[1:], out)
	case "decode":
		return decodeScenario(args[1:], out)
	case "e2e":
		return e2eScenario(ctx, args[1:], out)
	case "compare":
		return compareScenario(ctx, args[1:], out)
	case "twins":
		return twinsScenario(args[1:], out)
	case "forecast":
		return forecastScenario(args[1:], out)
	}
	return fmt.Errorf("unknown scenario %q (known: restore, websocket, drill, apply, decode, e2e, compare, twins, forecast)", args[0])
}

// machine describes where the figures were taken.
func machine() string {
	mem := "unknown memory"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		for _, line := range strings.Split(string(b), "\n") {
			if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
				mem = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
				break
			}
		}
	}
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				if i := strings.Index(line, ":"); i >= 0 {
					cpu = strings.TrimSpace(line[i+1:])
				}
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s, %s/%s, %s", runtime.NumCPU(), cpu, mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

// appendResults appends a section to the results file.
func appendResults(file, title, command, body string) error {
	if file == "" {
		return nil
	}
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "\n## %s — %s\n\nMachine: %s.\n\nCommand: `%s`\n\n%s", time.Now().UTC().Format("2006-01-02"), title, machine(), command, body)
	return err
}

func flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("bench "+name, flag.ContinueOnError)
	return fs
}
