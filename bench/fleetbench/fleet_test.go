package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

// TestFleetbench runs the benchmark at CI sizes (1 and 3 devices, a few
// hundred requests, a 2 s load): every request must be answered ok by the
// device it was sent to (getPosition checks the reply), every figure must
// be measured, and the table must have a row per size. Timing goals are
// reported by `make bench-fleet`, not asserted here.
func TestFleetbench(t *testing.T) {
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("no /dev/ptmx for the simulated servos")
	}
	sizes, requests, load := []int{1, 3}, 300, 2*time.Second
	if !testing.Short() {
		sizes, requests, load = []int{1, 10}, 1000, 5*time.Second
	}
	bin := testenv.PlateResort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rows, err := run(ctx, options{bin: bin, sizes: sizes, requests: requests, load: load, baud: 57600})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(sizes) {
		t.Fatalf("%d rows for %d sizes", len(rows), len(sizes))
	}
	for i, r := range rows {
		if r.N != sizes[i] || r.Seq < requests {
			t.Errorf("row %d: %d devices, %d sequential requests", i, r.N, r.Seq)
		}
		// At 57600 baud the servo's reply alone takes 5 ms on the wire
		// (29 bytes x 10 bits), so a faster round trip means the request
		// never reached the simulator.
		if r.P50 < 4*time.Millisecond || r.P99 < r.P50 {
			t.Errorf("%d devices: p50 %s p99 %s", r.N, r.P50, r.P99)
		}
		if r.Replies < r.N || r.RepliesPerS <= 0 {
			t.Errorf("%d devices: %d replies under load", r.N, r.Replies)
		}
		if r.BrokerRSSKiB <= 0 || r.AgentRSSKiB <= 0 || r.AgentCPUms <= 0 || r.TotalCPU <= 0 {
			t.Errorf("%d devices: a figure was not measured: %+v", r.N, r)
		}
	}
	tab := table(rows)
	if got := strings.Count(tab, "\n"); got != 2+len(rows) {
		t.Errorf("table has %d lines:\n%s", got, tab)
	}
	t.Logf("\n%s", tab)
}
