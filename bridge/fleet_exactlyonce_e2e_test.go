package bridge

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/bridge/prefect/prefecttest"
	"github.com/plate-resort/plate-resort/driver/bus"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

// EnvFleetRuns sets how many runs TestThreeBridgesTwentyDevicesEachRunOnce
// creates (default 60, about a minute; make test-fleet-long runs 600).
const EnvFleetRuns = "PLATE_RESORT_FLEET_RUNS"

// goalLog counts the Goal Position values each simulated servo was given,
// so every execution of a run is seen where it matters: at the device.
type goalLog struct {
	mu     sync.Mutex
	writes map[string]map[int32]int // device -> goal pulses -> writes
}

func (g *goalLog) hook(dev string) func(addr uint16, data []byte, at time.Time) {
	goal := xseries.GoalPosition.Addr
	return func(addr uint16, data []byte, _ time.Time) {
		// A write may cover Goal Position among other registers.
		if addr > goal || int(addr)+len(data) < int(goal)+4 {
			return
		}
		off := int(goal - addr)
		v := int32(binary.LittleEndian.Uint32(data[off : off+4]))
		g.mu.Lock()
		g.writes[dev][v]++
		g.mu.Unlock()
	}
}

func (g *goalLog) count(dev string, pulses int32) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.writes[dev][pulses]
}

// Three bridges share one work pool and twenty carousels (an agent and a
// simulated servo each). A burst of move_to_angle runs, each with its own
// goal angle, must be executed exactly once each: one Goal Position write
// of that angle at that device's servo, one Pending and one Running in
// Prefect's history, every run Completed and none left non-final. It runs
// on the package's Prefect server: PostgreSQL with
// PLATE_RESORT_TEST_PREFECT_DB=postgres (make test-prefect-postgres), SQLite
// when PLATE_RESORT_FLEET_RUNS is set.
func TestThreeBridgesTwentyDevicesEachRunOnce(t *testing.T) {
	const nDev, nBridges = 20, 3
	// Three bridges registering 20 devices' deployments cost minutes on a
	// SQLite server (one writer at a time), too much for every `make test`
	// under -race: CI runs it on PostgreSQL (make test-prefect-postgres);
	// on SQLite it runs when PLATE_RESORT_FLEET_RUNS asks for it.
	if db := os.Getenv(prefecttest.EnvDatabase); db != prefecttest.DBPostgres && db != "postgresql" && os.Getenv(EnvFleetRuns) == "" {
		t.Skipf("on SQLite only with %s set (CI runs it on PostgreSQL: make test-prefect-postgres)", EnvFleetRuns)
	}
	nRuns := 60
	if v := os.Getenv(EnvFleetRuns); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q", EnvFleetRuns, v)
		}
		nRuns = n
	}
	devs := make([]string, nDev)
	for i := range devs {
		devs[i] = fmt.Sprintf("resort-%d", i+1)
	}
	r := newRig(t, rigOptions{noAgent: true, configure: func(c *Config) {
		c.Devices = devs
		c.PollInterval = 5 * time.Second
		c.RunTimeout = 5 * time.Minute
	}})
	t.Logf("prefect on %s", r.prefect.Database)

	goals := &goalLog{writes: map[string]map[int32]int{}}
	for _, dev := range devs {
		goals.writes[dev] = map[int32]int{}
		servo := sim.New(sim.Config{Deadband: -1, Seed: 1})
		servo.OnWrite(goals.hook(dev))
		acfg := r.acfg
		acfg.Device = dev
		acfg.MQTT.ClientID = ""
		acfg.JournalFile = filepath.Join(t.TempDir(), "journal.db")
		acfg.Resort.DefaultSpeed = 1000 // fast moves: the test is about claims, not motion
		host, stop := sim.Pipe(servo)
		a, err := agent.New(acfg, testLogger(t, "agent-"+dev), agent.Options{SerialOpen: func(string, int) (bus.Port, error) { return host, nil }})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(ctx); stop() }()
		t.Cleanup(func() { cancel(); <-done })
	}

	began := time.Now()
	// The three start together: each upserts 20 devices' deployments
	// (register.go), minutes when done one bridge after another.
	bridges := make([]*Bridge, nBridges)
	for i := range bridges {
		cfg := r.cfg
		cfg.WorkerName = fmt.Sprintf("%s-%d", r.cfg.WorkerName, i+1)
		cfg.MQTT.ClientID = ""
		b, err := New(cfg, testLogger(t, cfg.WorkerName))
		if err != nil {
			t.Fatal(err)
		}
		bridges[i] = b
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("bridge %s: %v", cfg.WorkerName, err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("bridge %s did not stop within 30 s", cfg.WorkerName)
			}
		})
	}
	regDeadline := time.Now().Add(5 * time.Minute)
	for _, b := range bridges {
		for {
			b.mu.Lock()
			n := len(b.deps)
			b.mu.Unlock()
			if n >= len(flowDefs)*nDev {
				break
			}
			if time.Now().After(regDeadline) {
				t.Fatalf("bridge %s registered %d of %d deployments within 5 min", b.cfg.WorkerName, n, len(flowDefs)*nDev)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	t.Logf("%d bridges registered %d devices in %s", nBridges, nDev, time.Since(began).Round(time.Millisecond))

	// The move-to-angle deployment of each device.
	depOf := map[string]string{}
	bridges[0].mu.Lock()
	for id, d := range bridges[0].deps {
		if d.Def.Command == "move_to_angle" {
			depOf[d.Device] = id
		}
	}
	bridges[0].mu.Unlock()
	if len(depOf) != nDev {
		t.Fatalf("move-to-angle deployments for %d devices, want %d", len(depOf), nDev)
	}

	// Run i goes to device i%nDev with the k-th angle of that device,
	// k = i/nDev: distinct goals per device, so each execution is counted.
	perDev := (nRuns + nDev - 1) / nDev
	step := min(10.0, 340.0/float64(perDev))
	type want struct {
		dev    string
		angle  float64
		pulses int32
	}
	wants := make([]want, nRuns)
	ids := make([]string, nRuns)
	for i := range wants {
		a := 5 + step*float64(i/nDev)
		wants[i] = want{devs[i%nDev], a, xseries.Degrees(a).Pulses()}
	}
	// Created from four clients at once: a burst, as a lab's scripts make.
	created := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < nRuns; i += 4 {
				fr := createRunKey(t, r.pc, depOf[wants[i].dev], map[string]any{"angle": wants[i].angle, "precise": false}, fmt.Sprintf("%s-%d-%d", t.Name(), created.UnixNano(), i))
				ids[i] = fr.ID
			}
		}(w)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d runs created in %s", nRuns, time.Since(created).Round(time.Millisecond))

	// Every run final, then the checks.
	final := waitAllFinal(t, r, ids, 2*time.Minute+time.Duration(nRuns)*time.Second)
	took := time.Since(created)

	byBridge := map[string]int{}
	for i, fr := range final {
		w := wants[i]
		if fr.State.Type != prefect.StateCompleted {
			t.Errorf("run %s (%s to %.1f°) ended %s: %s", fr.ID, w.dev, w.angle, fr.State.Name, fr.State.Message)
		}
		if n := goals.count(w.dev, w.pulses); n != 1 {
			t.Errorf("run %s: %d Goal Position writes of %.1f° at %s; want exactly one execution", fr.ID, n, w.angle, w.dev)
		}
		byBridge[claimedOnce(t, r, fr)]++
	}
	// No other goal than the runs' reached any servo (a hold on connect
	// writes the present position, which is none of the runs' angles).
	total := 0
	for _, w := range wants {
		total += goals.count(w.dev, w.pulses)
	}
	if total != nRuns {
		t.Errorf("%d executions at the servos for %d runs", total, nRuns)
	}
	// Reads and control commands (the default queue) are claimed on their
	// event (eventclaim.go), by three bridges at once: each still once.
	reads := map[string]string{}
	bridges[0].mu.Lock()
	for id, d := range bridges[0].deps {
		if d.Def.Command == "get_position" {
			reads[d.Device] = id
		}
	}
	bridges[0].mu.Unlock()
	readIDs := make([]string, nDev)
	for i, dev := range devs {
		readIDs[i] = createRunKey(t, r.pc, reads[dev], map[string]any{}, fmt.Sprintf("%s-read-%d-%d", t.Name(), created.UnixNano(), i)).ID
	}
	onEvent := 0.0
	for _, fr := range waitAllFinal(t, r, readIDs, 2*time.Minute) {
		if fr.State.Type != prefect.StateCompleted {
			t.Errorf("read %s ended %s: %s", fr.ID, fr.State.Name, fr.State.Message)
		}
		claimedOnce(t, r, fr)
	}
	for _, b := range bridges {
		onEvent += claimCount(t, b, claimedOnEvent)
	}
	if onEvent == 0 {
		t.Errorf("none of %d reads was claimed on its event", nDev)
	}
	t.Logf("%d reads: %v claimed on their event", nDev, onEvent)

	names := make([]string, 0, len(byBridge))
	for n := range byBridge {
		names = append(names, fmt.Sprintf("%s: %d", n, byBridge[n]))
	}
	sort.Strings(names)
	t.Logf("%s: %d runs on %d devices by %d bridges final in %s (%.1f runs/s); claims per bridge: %s",
		r.prefect.Database, nRuns, nDev, nBridges, took.Round(time.Millisecond), float64(nRuns)/took.Seconds(), strings.Join(names, ", "))
}

// createRunKey creates a run with a fixed idempotency key, retrying a busy
// server: a retry of a create that did land returns the same run
// (docs/prefect.md §8), so no run is made twice. On failure it reports an
// error (t.Errorf: goroutines call it) and returns a run without an id.
func createRunKey(t *testing.T, pc *prefect.Client, depID string, params map[string]any, key string) *prefect.FlowRun {
	t.Helper()
	var err error
	for i := 0; i < 10; i++ {
		var fr *prefect.FlowRun
		if fr, err = pc.CreateFlowRun(context.Background(), depID, prefect.FlowRunCreate{Parameters: params, IdempotencyKey: key}); err == nil {
			return fr
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("create flow run: %v", err)
	return &prefect.FlowRun{}
}

// waitAllFinal waits for every run of ids to be final, within d.
func waitAllFinal(t *testing.T, r *rig, ids []string, d time.Duration) []*prefect.FlowRun {
	t.Helper()
	began := time.Now()
	deadline := began.Add(d)
	final := make([]*prefect.FlowRun, len(ids))
	for left := len(ids); left > 0; {
		left = 0
		for i, id := range ids {
			if final[i] != nil {
				continue
			}
			fr, err := r.pc.ReadFlowRun(context.Background(), id)
			if err == nil && fr.State != nil && fr.State.Type.IsFinal() {
				final[i] = fr
				continue
			}
			left++
		}
		if left > 0 && time.Now().After(deadline) {
			var stuck []string
			for i, fr := range final {
				if fr == nil {
					now, _ := r.pc.ReadFlowRun(context.Background(), ids[i])
					st := "?"
					if now != nil && now.State != nil {
						st = now.State.Name
					}
					stuck = append(stuck, ids[i]+" "+st)
				}
			}
			t.Fatalf("%d of %d runs not final after %s:\n%s", left, len(ids), time.Since(began).Round(time.Second), strings.Join(stuck, "\n"))
		}
		if left > 0 {
			time.Sleep(250 * time.Millisecond)
		}
	}
	return final
}

// claimedOnce checks fr was claimed and started once (one Pending, one
// Running, run_count 1) and returns the claiming bridge.
func claimedOnce(t *testing.T, r *rig, fr *prefect.FlowRun) string {
	t.Helper()
	states, err := r.pc.ReadFlowRunStates(context.Background(), fr.ID)
	if err != nil {
		t.Fatal(err)
	}
	var pending, running int
	var hist []string
	who := ""
	for _, s := range states {
		switch s.Type {
		case prefect.StatePending:
			pending++
			who = strings.TrimPrefix(s.Message, claimMessage(""))
		case prefect.StateRunning:
			running++
		}
		hist = append(hist, fmt.Sprintf("%s %s %s: %s", s.Timestamp.Format(time.RFC3339Nano), s.Type, s.Name, s.Message))
	}
	if fr.RunCount != 1 || pending != 1 || running != 1 {
		t.Errorf("run %s: run_count %d, %d Pending and %d Running states; want one claim and one start:\n%s",
			fr.ID, fr.RunCount, pending, running, strings.Join(hist, "\n"))
	}
	return who
}
