// Command fleetbench measures how a fleet of carousels scales on one
// machine: one broker process, N agent processes (each exactly
// `plate-resort agent`, as on a Pi) and their N simulated servos on ptys
// (all served from this process: an idle simulator costs no CPU, and a
// process per simulator would only add RSS that is not the fleet's), and
// one MQTT 5 client.
//
//	go run ./bench/fleetbench [-bin bin/plate-resort] [-sizes 1,10,50,100] [-requests 2000] [-load 10s]
//
// For each fleet size it reports each device's sequential get_position
// round trip (p50/p99, the client asking the devices in turn, one request
// outstanding), its ratio to the one-device figure, replies/s sustained
// with every device loaded (one request outstanding per device), the
// broker's and agents' RSS, the agents' CPU per get_position while
// answering the sequential requests, and the total CPU of broker + agents
// + this process during the load. It prints a markdown table.
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
	var po prefectOptions
	flag.StringVar(&po.bin, "prefect", "", "prefect executable in a venv: also measure the Prefect figures (floor, bridge, process worker); empty skips them")
	prefectDB := flag.String("prefect-db", "both", "Prefect server database: sqlite, postgres or both")
	prefectSizes := flag.String("prefect-sizes", "1,10", "fleet sizes the bridge serves, comma separated")
	flag.IntVar(&po.floorRuns, "floor-runs", 100, "sequential floor runs (create, Pending, Running, Completed)")
	flag.IntVar(&po.bridgeRuns, "bridge-runs", 50, "sequential get-position runs through the bridge per fleet size")
	flag.IntVar(&po.burst, "burst", 20, "runs created at once for runs/s: the floor's count, and per device for the bridge (at most 200)")
	flag.IntVar(&po.processRuns, "process-runs", 5, "sequential runs through a stock Prefect process worker (~10 s each; 0 skips it)")
	flag.IntVar(&po.procBurst, "process-burst", 10, "process-worker runs created at once")
	flag.Parse()
	ns, err := parseSizes(*sizes)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fleetbench: %v\n", err)
		os.Exit(2)
	}
	o := options{bin: *bin, sizes: ns, requests: *requests, load: *load, baud: *baud, progress: os.Stderr}
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
	rt := map[int]time.Duration{}
	for _, r := range rows {
		rt[r.N] = r.P50
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
