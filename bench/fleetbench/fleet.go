// Command fleetbench measures how a fleet of carousels scales on one
// machine, run two ways (-mode): as N agent processes (each exactly
// `plate-resort agent`, as on a Pi) with one broker process and their N
// simulated servos on ptys served from this process (an idle simulator
// costs no CPU, and a process per simulator would only add RSS that is
// not the fleet's); and as one `plate-resort up --devices N` process
// holding the broker, the N agents (each built by agent.New from the
// same config as the standalone agent) and their simulators. One MQTT 5
// client asks.
//
//	go run ./bench/fleetbench [-bin bin/plate-resort] [-sizes 1,10,50,100] [-mode both] [-requests 2000] [-load 10s]
//
// For each fleet size and mode it reports each device's sequential
// get_position round trip (p50/p99, the client asking the devices in
// turn, one request outstanding), its ratio to the mode's one-device
// figure, replies/s sustained with every device loaded (one request
// outstanding per device), the fleet's RSS (broker + agents, or `up`),
// its CPU per get_position while answering the sequential requests, and
// the total CPU of the fleet + this process during the load. It prints a
// markdown table, the two modes of each size side by side. With -prefect
// it then measures the Prefect figures (prefect.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	bin := flag.String("bin", "bin/plate-resort", "plate-resort binary (make build)")
	sizes := flag.String("sizes", "1,10,50,100", "fleet sizes, comma separated")
	requests := flag.Int("requests", 2000, "sequential get_position requests per fleet size (spread over the devices)")
	load := flag.Duration("load", 0, "how long to load every device at once (0: 10s)")
	baud := flag.Int("baud", 57600, "simulated baud rate (wire timing)")
	mode := flag.String("mode", "both", "how the fleet runs: process (an agent process per device, as on a Pi), shared (one `plate-resort up --devices N`) or both, side by side")
	var po prefectOptions
	flag.StringVar(&po.bin, "prefect", "", "prefect executable in a venv: also measure the Prefect figures (floor, bridge, process worker); empty skips them")
	prefectDB := flag.String("prefect-db", "both", "Prefect server database: sqlite, postgres or both")
	prefectSizes := flag.String("prefect-sizes", "1,10", "fleet sizes the bridge serves, comma separated")
	flag.IntVar(&po.floorRuns, "floor-runs", 100, "sequential floor runs (create, Pending, Running, Completed)")
	flag.IntVar(&po.bridgeRuns, "bridge-runs", 50, "sequential get-position runs through the bridge per fleet size")
	flag.IntVar(&po.burst, "burst", 20, "runs created at once for runs/s: the floor's count, and per device for the bridge (at most 200)")
	flag.IntVar(&po.processRuns, "process-runs", 5, "sequential runs through a stock Prefect process worker (~10 s each; 0 skips it)")
	flag.IntVar(&po.procBurst, "process-burst", 10, "process-worker runs created at once")
	flag.StringVar(&po.fleetMode, "prefect-fleet", modeProcess, "how the bridge's fleet runs in the Prefect part: process or shared")
	flag.DurationVar(&po.regTimeout, "register-timeout", 15*time.Minute, "how long the bridge may take to register a fleet's deployments")
	flag.Parse()
	ns, err := parseSizes(*sizes)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fleetbench: %v\n", err)
		os.Exit(2)
	}
	modes, err := parseModes(*mode)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fleetbench: %v\n", err)
		os.Exit(2)
	}
	if po.fleetMode != modeProcess && po.fleetMode != modeShared {
		fmt.Fprintln(os.Stderr, "fleetbench: -prefect-fleet: want process or shared")
		os.Exit(2)
	}
	o := options{bin: *bin, sizes: ns, modes: modes, requests: *requests, load: *load, baud: *baud, progress: os.Stderr}
	var rows []row
	if len(ns) > 0 {
		if rows, err = run(context.Background(), o); err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench:", err)
			os.Exit(1)
		}
		fmt.Print(table(rows))
	}
	if po.bin == "" {
		return
	}
	if po.dbs, err = parseDBs(*prefectDB); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		os.Exit(2)
	}
	if po.sizes, err = parseSizes(*prefectSizes); err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		os.Exit(2)
	}
	// The bridge's goal adds the fleet's get_position p50 in the mode its
	// fleet runs in.
	rt := map[int]time.Duration{}
	for _, r := range rows {
		if r.Mode == po.fleetMode {
			rt[r.N] = r.P50
		}
	}
	prows, err := runPrefect(context.Background(), o, po, rt)
	fmt.Println()
	fmt.Print(prefectTable(prows))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		os.Exit(1)
	}
}

func parseSizes(s string) ([]int, error) {
	var ns []int
	if strings.TrimSpace(s) == "" || s == "none" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad size %q", f)
		}
		ns = append(ns, n)
	}
	return ns, nil
}
