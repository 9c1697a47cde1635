// Command bridgebench measures the Prefect bridge as a lab runs it: a real
// Prefect server (the pinned version in .ci/requirements-prefect.txt) and the
// plate-resort binary as separate processes (broker, simulated servo on a
// pseudo-terminal, agent, bridge), so the bridge's RSS is its own.
//
//	make build && go run ./bench/bridgebench                 # ~10 min on 2 cores
//	go run ./bench/bridgebench -rss-only                     # ~1 min: the bridge alone
//	go run ./bench/bridgebench -runs 10 -prefect DIR/bin/prefect
//
// It prints, from Prefect's own timestamps (flow run "created" and the
// Completed state's timestamp), Created -> Completed of -runs sequential
// get-position runs through the bridge, and (unless -rss-only) the same for a
// stock `prefect worker start --type process` running an equivalent trivial
// Python flow from its own pool. Then the bridge's RSS idle and its peak
// while -inflight slow move-to-angle runs are in flight. It asserts nothing
// about the numbers.
//
// The prefect executable comes from -prefect, else $PLATE_RESORT_TEST_PREFECT,
// else .cache/prefect-venv/bin/prefect, else `prefect` on PATH; it must live
// in a venv (its python is used for the process worker's deployment).
// `./.ci/prefect-venv.sh .cache/prefect-venv` (or `make test-deps`) makes one.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/plate-resort/plate-resort/bench/internal/stack"
	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/benchstat"
)

// The stack runs with these names; the first device of a bridge gets the
// upstream deployment names (get-position/get-position, ...).
const (
	prefix     = contract.DefaultPrefix
	device     = "resort-1"
	workPool   = "bench-pool"
	workerName = "bench-bridge"
	procPool   = "bench-process"
)

type options struct {
	bin      string
	prefect  string
	runs     int
	inflight int
	baud     int
	rssOnly  bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin/plate-resort", "plate-resort binary (make build)")
	flag.StringVar(&o.prefect, "prefect", "", "prefect executable in a venv (default: $"+stack.EnvPrefect+", .cache/prefect-venv/bin/prefect, PATH)")
	flag.IntVar(&o.runs, "runs", 50, "sequential get-position runs per worker")
	flag.IntVar(&o.inflight, "inflight", 20, "slow move-to-angle runs in flight for the peak RSS")
	flag.IntVar(&o.baud, "baud", 57600, "simulated servo baud rate (wire timing on the pty)")
	flag.BoolVar(&o.rssOnly, "rss-only", false, "skip the Prefect process worker (minutes): measure the bridge alone")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bridgebench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) (err error) {
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("%s: %w (run make build first, or pass -bin)", o.bin, err)
	}
	prefectBin, python, err := stack.FindPrefect(o.prefect)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bridgebench-")
	if err != nil {
		return err
	}
	s := stack.New(dir, "bridgebench")
	defer func() {
		if err != nil {
			s.DumpLogs(os.Stderr, 4<<10)
		}
		s.StopAll()
		_ = os.RemoveAll(dir)
	}()

	// 1. Prefect server.
	began := time.Now()
	port, err := stack.FreePort()
	if err != nil {
		return err
	}
	// First boot runs every SQLite migration: tens of seconds on 2 cores.
	_, apiURL, err := s.StartPrefect(ctx, prefectBin, filepath.Join(dir, "prefect-home"), port, 3*time.Minute)
	if err != nil {
		return err
	}
	s.Progress("prefect server %s healthy after %s", apiURL, time.Since(began).Round(time.Millisecond))
	pc, err := prefect.New(prefect.Config{APIURL: apiURL})
	if err != nil {
		return err
	}

	// 2. The stack: broker, simulated servo, agent, bridge, each its own process.
	brokerAddr, err := stack.FreeAddr()
	if err != nil {
		return err
	}
	if _, err := s.StartBroker(ctx, bin, brokerAddr); err != nil {
		return err
	}
	link := filepath.Join(dir, "servo")
	// No deadband, so plain moves reach their goal.
	if _, err := s.StartSim(ctx, bin, link, "--baud", strconv.Itoa(o.baud), "--deadband", "0"); err != nil {
		return err
	}
	// Slow moves (Profile Velocity 3, about 4 °/s) and a queue of 32 keep
	// the in-flight runs in flight; the timeouts are long enough for them.
	if _, err := s.StartAgent(bin, prefix, device, brokerAddr, link,
		"PLATE_RESORT_QUEUE_SIZE=32",
		"PLATE_RESORT_HOMEASSISTANT__ENABLED=false",
		"PLATE_RESORT_RESORT__DEFAULT_SPEED=3",
		"PLATE_RESORT_RESORT__STAGE1_TIMEOUT=120",
		"PLATE_RESORT_RESORT__MOVEMENT_TIMEOUT=120",
		"PLATE_RESORT_RESORT__LATENCY_MS=1", // a pty has no FTDI latency timer
	); err != nil {
		return err
	}
	if err := stack.WaitRetained(ctx, brokerAddr, "bridgebench", contract.DeviceTopics(prefix, device).Availability(), contract.Online, 30*time.Second); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	// The scheduled get-motor-health deployment paused (it would add runs),
	// a long motion timeout for the slow moves.
	bridge, err := s.StartBridge(bin, prefix, device, brokerAddr, apiURL, workPool, workerName,
		"PLATE_RESORT_DEPLOYMENTS__GET-MOTOR-HEALTH__PAUSED=true",
		"PLATE_RESORT_COMMAND_TIMEOUT__MOTION=10m",
		"PLATE_RESORT_POLL_INTERVAL=5s",
	)
	if err != nil {
		return err
	}
	// Every deployment the bench uses, then time to settle (the first
	// registration pass, the events websocket).
	if _, err := stack.WaitDeployment(ctx, pc, "get-position", "get-position", time.Minute); err != nil {
		return err
	}
	moveDep, err := stack.WaitDeployment(ctx, pc, "move-to-angle", "move-to-angle", time.Minute)
	if err != nil {
		return err
	}
	s.Progress("stack up: broker %s, servo %s, bridge pid %d", brokerAddr, link, bridge.Pid())
	if err := stack.Sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	idle, err := benchstat.RSSKiB(bridge.Pid())
	if err != nil {
		return fmt.Errorf("bridge RSS: %w", err)
	}

	// 3. get-position through the bridge, one run after another.
	s.Progress("%d sequential get-position runs through the bridge", o.runs)
	bridgeLat, err := sequentialRuns(ctx, pc, "get-position", "get-position", o.runs)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}

	// 4. The same through a stock Prefect process worker.
	var procLat []time.Duration
	if !o.rssOnly {
		s.Progress("%d sequential runs through a Prefect process worker (about 10 s each)", o.runs)
		if procLat, err = processWorkerRuns(s, ctx, prefectBin, python, apiURL, pc, o.runs); err != nil {
			return fmt.Errorf("process worker: %w", err)
		}
	}

	// 5. RSS with slow moves in flight (queued in the agent): sample while
	// they are claimed and running; the peak, and the most that were Running
	// at one sample.
	s.Progress("%d move-to-angle runs in flight", o.inflight)
	var ids []string
	for i := 0; i < o.inflight; i++ {
		fr, err := createRun(ctx, pc, moveDep.ID, map[string]any{"angle": float64(10 + 15*(i%2))})
		if err != nil {
			return err
		}
		ids = append(ids, fr.ID)
	}
	busy, running := idle, 0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && running < o.inflight; {
		runs, err := pc.FilterFlowRuns(ctx, prefect.FlowRunFilter{IDs: ids, StateTypes: []prefect.StateType{prefect.StateRunning}})
		if err == nil {
			running = max(running, len(runs))
		}
		if kib, err := benchstat.RSSKiB(bridge.Pid()); err == nil {
			busy = max(busy, kib)
		}
		if err := stack.Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}

	bp50, bp99 := benchstat.Percentile(bridgeLat, 50), benchstat.Percentile(bridgeLat, 99)
	fmt.Printf("\nCreated -> Completed, get-position, %d sequential runs each (Prefect timestamps; simulated servo at %d baud)\n", o.runs, o.baud)
	fmt.Printf("  bridge          p50 %8.1f ms   p99 %8.1f ms\n", ms(bp50), ms(bp99))
	if len(procLat) > 0 {
		pp50, pp99 := benchstat.Percentile(procLat, 50), benchstat.Percentile(procLat, 99)
		fmt.Printf("  process worker  p50 %8.1f ms   p99 %8.1f ms\n", ms(pp50), ms(pp99))
		fmt.Printf("  ratio (process/bridge) at p50: %.0fx   at p99: %.0fx\n", float64(pp50)/float64(bp50), float64(pp99)/float64(bp99))
	}
	fmt.Printf("bridge RSS: idle %.1f MiB; peak %.1f MiB while %d runs were in flight (at most %d Running at one sample)\n",
		float64(idle)/1024, float64(busy)/1024, o.inflight, running)
	return nil
}

// processWorkerRuns times a stock `prefect worker start --type process`
// running stack.ProcessFlow from its own pool; the worker stops afterwards.
func processWorkerRuns(s *stack.Stack, ctx context.Context, prefectBin, python, apiURL string, pc *prefect.Client, n int) ([]time.Duration, error) {
	c, err := s.StartProcessWorker(ctx, prefectBin, python, apiURL, procPool)
	if err != nil {
		return nil, err
	}
	defer s.Remove(c)
	return sequentialRuns(ctx, pc, stack.ProcessFlowName, stack.ProcessDeployment, n)
}

// sequentialRuns is stack.SequentialRuns.
func sequentialRuns(ctx context.Context, pc *prefect.Client, flow, name string, n int) ([]time.Duration, error) {
	return stack.SequentialRuns(ctx, pc, flow, name, n)
}

// createRun creates a run like run_deployment does, retrying a busy SQLite
// server (503) with an idempotency key so a retry cannot make a second run.
func createRun(ctx context.Context, pc *prefect.Client, depID string, params map[string]any) (*prefect.FlowRun, error) {
	return stack.CreateRun(ctx, pc, depID, params, fmt.Sprintf("bridgebench-%d", time.Now().UnixNano()), 10)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
