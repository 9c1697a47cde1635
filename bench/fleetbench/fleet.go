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
)

func main() {
	bin := flag.String("bin", "bin/plate-resort", "plate-resort binary (make build)")
	sizes := flag.String("sizes", "1,10,50,100", "fleet sizes, comma separated")
	requests := flag.Int("requests", 2000, "sequential get_position requests per fleet size (spread over the devices)")
	load := flag.Duration("load", 0, "how long to load every device at once (0: 10s)")
	baud := flag.Int("baud", 57600, "simulated baud rate (wire timing)")
	flag.Parse()
	var ns []int
	for _, f := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "fleetbench: bad size %q\n", f)
			os.Exit(2)
		}
		ns = append(ns, n)
	}
	o := options{bin: *bin, sizes: ns, requests: *requests, load: *load, baud: *baud, progress: os.Stderr}
	rows, err := run(context.Background(), o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		os.Exit(1)
	}
	fmt.Print(table(rows))
}
