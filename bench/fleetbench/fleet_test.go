package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bench/internal/stack"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// TestFleetbench runs the benchmark small (1 and 10 devices, 500 requests,
// a 3 s load; -short: 1 and 3, 200, 2 s) in both modes, an agent process
// per device and one `plate-resort up`: every reply must come from the
// device it was sent to (getPosition checks it) and all but 1% be ok,
// every figure must be measured, and the table must have a row per size
// and mode. Timing goals are reported by `make bench-fleet`, not asserted
// here.
func TestFleetbench(t *testing.T) {
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("no /dev/ptmx for the simulated servos")
	}
	sizes, requests, load := []int{1, 3}, 200, 2*time.Second
	if !testing.Short() {
		sizes, requests, load = []int{1, 10}, 500, 3*time.Second
	}
	modes := []string{modeProcess, modeShared}
	bin := testenv.PlateResort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rows, err := run(ctx, options{bin: bin, sizes: sizes, modes: modes, requests: requests, load: load, baud: 57600})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(sizes)*len(modes) {
		t.Fatalf("%d rows for %d sizes in %d modes", len(rows), len(sizes), len(modes))
	}
	for i, r := range rows {
		if r.N != sizes[i/len(modes)] || r.Mode != modes[i%len(modes)] || r.Seq < requests {
			t.Errorf("row %d: %d devices, %s, %d sequential requests", i, r.N, r.Mode, r.Seq)
		}
		// A rare serial timeout of a busy machine is reported, not fatal.
		if r.SeqErrors > r.Seq/100 {
			t.Errorf("%d devices, %s: %d of %d sequential requests answered with an error", r.N, r.Mode, r.SeqErrors, r.Seq)
		}
		// At 57600 baud the servo's reply alone takes 5 ms on the wire
		// (29 bytes x 10 bits), so a faster round trip means the request
		// never reached the simulator.
		if r.P50 < 4*time.Millisecond || r.P99 < r.P50 {
			t.Errorf("%d devices, %s: p50 %s p99 %s", r.N, r.Mode, r.P50, r.P99)
		}
		if r.Replies < r.N || r.RepliesPerS <= 0 {
			t.Errorf("%d devices, %s: %d replies under load", r.N, r.Mode, r.Replies)
		}
		if r.FleetRSSKiB <= 0 || r.FleetCPUms <= 0 || r.TotalCPU <= 0 {
			t.Errorf("%d devices, %s: a figure was not measured: %+v", r.N, r.Mode, r)
		}
		if r.Mode == modeProcess && (r.BrokerRSSKiB <= 0 || r.AgentRSSKiB <= 0 || r.AgentCPUms <= 0 || r.FleetRSSKiB < r.BrokerRSSKiB+int64(r.N)*r.AgentRSSKiB/2) {
			t.Errorf("%d devices, process mode: a figure was not measured: %+v", r.N, r)
		}
	}
	tab := table(rows)
	if got := strings.Count(tab, "\n"); got != 2+len(rows) {
		t.Errorf("table has %d lines:\n%s", got, tab)
	}
	t.Logf("\n%s", tab)
}

// TestFleetbenchPrefect runs the Prefect part small, on SQLite only: the
// floor, the bridge serving 1 and 3 devices, no process worker (it polls
// every 10 s, so each of its runs takes 10 s or more; make bench-fleet
// measures it). Every run must reach Completed (the run functions fail
// otherwise) and every figure must be measured. Skipped under -short (a
// Prefect server's first boot alone takes 25 s to minutes on a loaded
// 2-core machine) and without a prefect executable
// ($PLATE_RESORT_TEST_PREFECT).
func TestFleetbenchPrefect(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the Prefect part boots a Prefect server (make bench-fleet runs it)")
	}
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("no /dev/ptmx for the simulated servos")
	}
	prefectBin := os.Getenv(stack.EnvPrefect)
	if prefectBin == "" {
		if testenv.RequireE2E() {
			t.Fatalf("PLATE_RESORT_REQUIRE_E2E=1 but $%s is not set", stack.EnvPrefect)
		}
		t.Skipf("$%s not set: no Prefect server to measure", stack.EnvPrefect)
	}
	bin := testenv.PlateResort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	o := options{bin: bin, baud: 57600}
	po := prefectOptions{bin: prefectBin, dbs: []string{"sqlite"}, sizes: []int{1, 3}, floorRuns: 10, bridgeRuns: 6, burst: 4}
	rows, err := runPrefect(ctx, o, po, map[int]time.Duration{1: 6 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].Worker != "floor" || rows[1].Devices != 1 || rows[2].Devices != 3 {
		t.Fatalf("rows: %+v", rows)
	}
	for _, r := range rows {
		if r.Runs == 0 || r.P50 <= 0 || r.P99 < r.P50 || r.RunsPerS <= 0 || r.Burst == 0 {
			t.Errorf("%s %s: a figure was not measured: %+v", r.DB, r.Worker, r)
		}
		if r.Worker == "bridge" && (r.BridgeKiB <= 0 || r.BrokerKiB <= 0 || r.Register <= 0 || r.Reregister <= 0) {
			t.Errorf("bridge, %d devices: no RSS or registration time: %+v", r.Devices, r)
		}
	}
	tab := prefectTable(rows)
	if got := strings.Count(tab, "\n"); got != 2+len(rows) {
		t.Errorf("table has %d lines:\n%s", got, tab)
	}
	t.Logf("\n%s", tab)
}
