//go:build bridgebench

package bridge

// The benchmark of issue 5, kept out of default test runs (build tag):
//
//	PLATE_RESORT_TEST_PREFECT=/tmp/pr-venv-test/bin/prefect \
//	  go test -tags bridgebench -run BenchBridgeVsProcessWorker -v -timeout 40m ./bridge/
//
// Created -> Completed of get-position, N runs one after another, from
// Prefect's own timestamps (flow run "created" and the Completed state's
// timestamp), for the bridge (a separate `plate-resort bridge` process) and
// for a stock `prefect worker start --type process` running an equivalent
// trivial Python flow from its own pool. Also the bridge's RSS, idle and
// with 20 runs in flight. It prints numbers; it asserts nothing about them.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/internal/benchstat"
)

const benchRuns = 50

func TestBenchBridgeVsProcessWorker(t *testing.T) {
	r := newRig(t, rigOptions{speed: 3}) // slow moves keep 20 runs in flight
	r.acfg.QueueSize = 32
	r.stopAgent()
	r.startAgent()
	pid := r.startBridgeProcess()
	ctx := context.Background()
	waitDeployment(t, r.pc, "get-position", "get-position")
	time.Sleep(2 * time.Second)
	idle := rssKB(t, pid)

	bridgeLat := r.sequentialRuns(ctx, "get-position", "get-position", map[string]any{})

	// The stock process worker part takes minutes; PLATE_RESORT_TEST_BENCH_RSS_ONLY=1
	// skips it to measure the bridge alone.
	var procLat []time.Duration
	if os.Getenv("PLATE_RESORT_TEST_BENCH_RSS_ONLY") != "1" {
		procLat = r.processWorkerRuns(ctx)
	}

	// RSS with 20 runs in flight (slow moves, queued in the agent): sample
	// while they are claimed and running; report the peak and the most that
	// were Running at one sample.
	dep, err := r.pc.ReadDeploymentByName(ctx, "move-to-angle", "move-to-angle")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 20; i++ {
		fr := createRun(t, r.pc, dep.ID, map[string]any{"angle": float64(10 + 15*(i%2))})
		ids = append(ids, fr.ID)
	}
	deadline := time.Now().Add(30 * time.Second)
	running, busy := 0, 0
	for time.Now().Before(deadline) && running < 20 {
		runs, err := r.pc.FilterFlowRuns(ctx, prefect.FlowRunFilter{IDs: ids, StateTypes: []prefect.StateType{prefect.StateRunning}})
		if err == nil {
			running = max(running, len(runs))
		}
		busy = max(busy, rssKB(t, pid))
		time.Sleep(200 * time.Millisecond)
	}

	bp50, bp99 := benchstat.Percentile(bridgeLat, 50), benchstat.Percentile(bridgeLat, 99)
	fmt.Printf("\nCreated -> Completed, get-position, %d sequential runs each (Prefect timestamps)\n", benchRuns)
	fmt.Printf("  bridge          p50 %8.1f ms   p99 %8.1f ms\n", ms(bp50), ms(bp99))
	if len(procLat) > 0 {
		pp50, pp99 := benchstat.Percentile(procLat, 50), benchstat.Percentile(procLat, 99)
		fmt.Printf("  process worker  p50 %8.1f ms   p99 %8.1f ms\n", ms(pp50), ms(pp99))
		fmt.Printf("  ratio (process/bridge) at p50: %.0fx   at p99: %.0fx\n", float64(pp50)/float64(bp50), float64(pp99)/float64(bp99))
	}
	fmt.Printf("bridge RSS: idle %.1f MB; peak %.1f MB while 20 runs were in flight (at most %d Running at one sample)\n\n", float64(idle)/1024, float64(busy)/1024, running)
}

// processWorkerRuns times a stock Prefect process worker running an
// equivalent trivial Python flow from its own pool.
func (r *rig) processWorkerRuns(ctx context.Context) []time.Duration {
	t := r.t
	// Stock Prefect process worker with an equivalent trivial flow.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "flows.py"), []byte("from prefect import flow\n\n@flow(name=\"bench-get-position\")\ndef get_position():\n    return 42.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ok pyOutcome
	r.python(fmt.Sprintf(`
import json, subprocess, sys, os
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect import flow
with get_client(sync_client=True) as c:
    try:
        c.create_work_pool(WorkPoolCreate(name="bench-process", type="process"))
    except Exception:
        pass
f = flow.from_source(source=%q, entrypoint="flows.py:get_position")
f.deploy(name="bench", work_pool_name="bench-process", print_next_steps=False)
print(json.dumps({"type": "OK"}))
`, dir), &ok)
	worker := r.startProcessWorker(dir)
	defer worker()
	return r.sequentialRuns(ctx, "bench-get-position", "bench", map[string]any{})
}

// startBridgeProcess runs the real binary, so its RSS is the bridge's alone.
func (r *rig) startBridgeProcess() int {
	r.t.Helper()
	bin := filepath.Join(r.t.TempDir(), "plate-resort")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/plate-resort").CombinedOutput()
	if err != nil {
		r.t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "bridge", "--log.level", "warn", "--work_pool", r.cfg.WorkPool, "--worker_name", r.cfg.WorkerName, "--mqtt.url", r.cfg.MQTT.URL)
	// baseEnv drops PLATE_RESORT_TEST_PREFECT (the test harness's variable, which
	// the bridge's config loader would read as its "prefect" key).
	cmd.Env = append(baseEnv(), "PREFECT_API_URL="+r.prefect.URL, "PLATE_RESORT_DEPLOYMENTS__GET-MOTOR-HEALTH__PAUSED=true",
		"PLATE_RESORT_COMMAND_TIMEOUT__MOTION=10m", "PLATE_RESORT_POLL_INTERVAL=5s")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	return cmd.Process.Pid
}

func (r *rig) startProcessWorker(dir string) func() {
	r.t.Helper()
	prefectBin := os.Getenv("PLATE_RESORT_TEST_PREFECT")
	cmd := exec.Command(prefectBin, "worker", "start", "--pool", "bench-process", "--type", "process")
	cmd.Dir = dir
	cmd.Env = append(baseEnv(), "PREFECT_API_URL="+r.prefect.URL, "PREFECT_HOME="+filepath.Join(dir, "home"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	return func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); _ = cmd.Wait() }
}

func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PREFECT_") && !strings.HasPrefix(kv, "PLATE_RESORT_TEST_PREFECT=") {
			out = append(out, kv)
		}
	}
	return out
}

// sequentialRuns creates benchRuns runs one after another, each after the
// previous one finished, and returns Created -> Completed per run.
func (r *rig) sequentialRuns(ctx context.Context, flow, name string, params map[string]any) []time.Duration {
	r.t.Helper()
	dep := waitDeployment(r.t, r.pc, flow, name)
	var lat []time.Duration
	for i := 0; i < benchRuns; i++ {
		fr := createRun(r.t, r.pc, dep.ID, params)
		done := waitFinal(r.t, r.pc, fr.ID, 2*time.Minute)
		if done.State.Type != prefect.StateCompleted {
			r.t.Fatalf("%s/%s run ended %s: %s", flow, name, done.State.Type, done.State.Message)
		}
		lat = append(lat, done.State.Timestamp.Sub(done.Created))
	}
	return lat
}

func waitDeployment(t *testing.T, pc *prefect.Client, flow, name string) *prefect.Deployment {
	t.Helper()
	for i := 0; i < 600; i++ {
		if d, err := pc.ReadDeploymentByName(context.Background(), flow, name); err == nil {
			return d
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("deployment %s/%s never appeared", flow, name)
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func rssKB(t *testing.T, pid int) int {
	kib, err := benchstat.RSSKiB(pid)
	if err != nil {
		t.Fatal(err)
	}
	return int(kib)
}
