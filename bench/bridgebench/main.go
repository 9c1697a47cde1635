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
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

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

// envPrefect is the variable the Makefile and the e2e tests use for the
// prefect executable (bridge/prefect/prefecttest.EnvBinary).
const envPrefect = "PLATE_RESORT_TEST_PREFECT"

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
	flag.StringVar(&o.prefect, "prefect", "", "prefect executable in a venv (default: $"+envPrefect+", .cache/prefect-venv/bin/prefect, PATH)")
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
	prefectBin, python, err := findPrefect(o.prefect)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bridgebench-")
	if err != nil {
		return err
	}
	s := &stack{dir: dir}
	defer func() {
		if err != nil {
			s.dumpLogs()
		}
		s.stopAll()
		_ = os.RemoveAll(dir)
	}()

	// 1. Prefect server.
	began := time.Now()
	apiURL, err := s.startPrefect(ctx, prefectBin)
	if err != nil {
		return err
	}
	s.progress("prefect server %s healthy after %s", apiURL, time.Since(began).Round(time.Millisecond))
	pc, err := prefect.New(prefect.Config{APIURL: apiURL})
	if err != nil {
		return err
	}

	// 2. The stack: broker, simulated servo, agent, bridge, each its own process.
	brokerAddr, err := s.startBroker(ctx, bin)
	if err != nil {
		return err
	}
	link := filepath.Join(dir, "servo")
	if err := s.startSim(ctx, bin, link, o.baud); err != nil {
		return err
	}
	if err := s.startAgent(bin, brokerAddr, link); err != nil {
		return err
	}
	if err := waitRetained(ctx, brokerAddr, contract.DeviceTopics(prefix, device).Availability(), contract.Online, 30*time.Second); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	bridge, err := s.startBridge(bin, brokerAddr, apiURL)
	if err != nil {
		return err
	}
	// Every deployment the bench uses, then time to settle (the first
	// registration pass, the events websocket).
	if _, err := waitDeployment(ctx, pc, "get-position", "get-position"); err != nil {
		return err
	}
	moveDep, err := waitDeployment(ctx, pc, "move-to-angle", "move-to-angle")
	if err != nil {
		return err
	}
	s.progress("stack up: broker %s, servo %s, bridge pid %d", brokerAddr, link, bridge.Process.Pid)
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	idle, err := benchstat.RSSKiB(bridge.Process.Pid)
	if err != nil {
		return fmt.Errorf("bridge RSS: %w", err)
	}

	// 3. get-position through the bridge, one run after another.
	s.progress("%d sequential get-position runs through the bridge", o.runs)
	bridgeLat, err := sequentialRuns(ctx, pc, "get-position", "get-position", o.runs)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}

	// 4. The same through a stock Prefect process worker.
	var procLat []time.Duration
	if !o.rssOnly {
		s.progress("%d sequential runs through a Prefect process worker (about 10 s each)", o.runs)
		if procLat, err = s.processWorkerRuns(ctx, prefectBin, python, apiURL, pc, o.runs); err != nil {
			return fmt.Errorf("process worker: %w", err)
		}
	}

	// 5. RSS with slow moves in flight (queued in the agent): sample while
	// they are claimed and running; the peak, and the most that were Running
	// at one sample.
	s.progress("%d move-to-angle runs in flight", o.inflight)
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
		if kib, err := benchstat.RSSKiB(bridge.Process.Pid); err == nil {
			busy = max(busy, kib)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
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

// findPrefect resolves the prefect executable and the python of its venv.
func findPrefect(flagValue string) (prefectBin, python string, err error) {
	prefectBin = flagValue
	if prefectBin == "" {
		prefectBin = os.Getenv(envPrefect)
	}
	if prefectBin == "" {
		if _, err := os.Stat(".cache/prefect-venv/bin/prefect"); err == nil {
			prefectBin = ".cache/prefect-venv/bin/prefect"
		}
	}
	if prefectBin == "" {
		if prefectBin, err = exec.LookPath("prefect"); err != nil {
			return "", "", errors.New("no prefect executable: run ./.ci/prefect-venv.sh .cache/prefect-venv (or make test-deps), or pass -prefect DIR/bin/prefect")
		}
	}
	if prefectBin, err = filepath.Abs(prefectBin); err != nil {
		return "", "", err
	}
	if _, err := os.Stat(prefectBin); err != nil {
		return "", "", fmt.Errorf("prefect executable: %w", err)
	}
	python = filepath.Join(filepath.Dir(prefectBin), "python")
	if _, err := os.Stat(python); err != nil {
		return "", "", fmt.Errorf("no python next to %s (expected a venv): %w", prefectBin, err)
	}
	return prefectBin, python, nil
}

// stack holds the child processes; stopAll ends them newest first.
type stack struct {
	dir   string
	mu    sync.Mutex
	procs []*child
}

type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// progress goes to stderr, the numbers to stdout.
func (s *stack) progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bridgebench: "+format+"\n", args...)
}

// baseEnv is the parent environment without PREFECT_* and PLATE_RESORT_*
// variables: a developer's Prefect profile or plate-resort settings must not
// change what is measured.
func baseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PREFECT_") && !strings.HasPrefix(kv, "PLATE_RESORT_") {
			out = append(out, kv)
		}
	}
	return out
}

// start runs a child in its own process group (so stopping it reaches
// whatever it spawned) with its output in <dir>/<name>.log.
func (s *stack) start(name string, cmd *exec.Cmd) (*child, error) {
	logPath := filepath.Join(s.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(c.done) }()
	s.mu.Lock()
	s.procs = append(s.procs, c)
	s.mu.Unlock()
	return c, nil
}

// stop sends SIGTERM to the child's group, SIGKILL after 15 s.
func (c *child) stop() {
	pgid := c.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.done
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // stragglers of the group
}

func (s *stack) stopAll() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
	}
}

// remove stops one child before the end.
func (s *stack) remove(c *child) {
	c.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.procs {
		if p == c {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			break
		}
	}
}

// dumpLogs prints the end of every child's log (after a failure).
func (s *stack) dumpLogs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.procs {
		b, err := os.ReadFile(c.log)
		if err != nil || len(b) == 0 {
			continue
		}
		if len(b) > 4<<10 {
			b = b[len(b)-4<<10:]
		}
		fmt.Fprintf(os.Stderr, "--- %s log (end) ---\n%s\n", c.name, b)
	}
}

// startPrefect starts `prefect server start` with its own PREFECT_HOME and
// SQLite database in the temp dir, on a free loopback port, UI and analytics
// off (the settings bridge/prefect/prefecttest uses), and waits until
// /api/health answers true.
func (s *stack) startPrefect(ctx context.Context, prefectBin string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	home := filepath.Join(s.dir, "prefect-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", err
	}
	cmd := exec.Command(prefectBin, "server", "start", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Env = append(baseEnv(),
		"PREFECT_HOME="+home,
		"PREFECT_SERVER_DATABASE_CONNECTION_URL=sqlite+aiosqlite:///"+filepath.Join(home, "prefect.db"),
		"PREFECT_SERVER_API_HOST=127.0.0.1",
		"PREFECT_SERVER_API_PORT="+strconv.Itoa(port),
		"PREFECT_SERVER_ANALYTICS_ENABLED=false",
		"PREFECT_UI_ENABLED=false",
		"PREFECT_SERVER_UI_ENABLED=false",
		"PREFECT_SERVER_LOGGING_LEVEL=WARNING",
		"DO_NOT_TRACK=1",
	)
	c, err := s.start("prefect-server", cmd)
	if err != nil {
		return "", err
	}
	apiURL := fmt.Sprintf("http://127.0.0.1:%d/api", port)
	hc := &http.Client{Timeout: 2 * time.Second}
	// First boot runs every SQLite migration: tens of seconds on 2 cores.
	for deadline := time.Now().Add(3 * time.Minute); ; {
		select {
		case <-c.done:
			return "", errors.New("prefect server exited before becoming healthy")
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", errors.New("prefect server not healthy after 3 min")
		}
		resp, err := hc.Get(apiURL + "/health")
		if err != nil {
			continue
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.TrimSpace(b.String()) == "true" {
			return apiURL, nil
		}
	}
}

// startBroker runs `plate-resort broker` (dev defaults: anonymous from
// loopback) on a free port and waits until it accepts connections.
func (s *stack) startBroker(ctx context.Context, bin string) (string, error) {
	port, err := freePort()
	if err != nil {
		return "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "broker", "--listeners.tcp.address", addr, "--log.level", "warn", "--log.format", "json")
	cmd.Env = baseEnv()
	c, err := s.start("broker", cmd)
	if err != nil {
		return "", err
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = conn.Close()
			return addr, nil
		}
		select {
		case <-c.done:
			return "", errors.New("broker exited")
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("broker not listening on %s after 15 s", addr)
		}
	}
}

// startSim runs `plate-resort sim` (no deadband, so plain moves reach their
// goal) and waits for its pty symlink.
func (s *stack) startSim(ctx context.Context, bin, link string, baud int) error {
	cmd := exec.Command(bin, "sim", "--link", link, "--baud", strconv.Itoa(baud), "--deadband", "0",
		"--log.level", "warn", "--log.format", "json")
	cmd.Env = baseEnv()
	c, err := s.start("sim", cmd)
	if err != nil {
		return err
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		if _, err := os.Stat(link); err == nil {
			return nil
		}
		select {
		case <-c.done:
			return errors.New("simulated servo exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("simulated servo: no %s after 15 s", link)
		}
	}
}

// startAgent runs `plate-resort agent` on the simulated servo. Slow moves
// (Profile Velocity 3, about 4 °/s) and a queue of 32 keep the in-flight
// runs in flight; the timeouts are long enough for them.
func (s *stack) startAgent(bin, brokerAddr, link string) error {
	cmd := exec.Command(bin, "agent", "--prefix", prefix, "--device", device, "--mqtt.url", "mqtt://"+brokerAddr,
		"--resort.device", link, "--log.level", "warn", "--log.format", "json")
	cmd.Env = append(baseEnv(),
		"PLATE_RESORT_QUEUE_SIZE=32",
		"PLATE_RESORT_HOMEASSISTANT__ENABLED=false",
		"PLATE_RESORT_RESORT__DEFAULT_SPEED=3",
		"PLATE_RESORT_RESORT__STAGE1_TIMEOUT=120",
		"PLATE_RESORT_RESORT__MOVEMENT_TIMEOUT=120",
		"PLATE_RESORT_RESORT__LATENCY_MS=1", // a pty has no FTDI latency timer
	)
	_, err := s.start("agent", cmd)
	return err
}

// startBridge runs `plate-resort bridge` against the server: the scheduled
// get-motor-health deployment paused (it would add runs), a long motion
// timeout for the slow moves.
func (s *stack) startBridge(bin, brokerAddr, apiURL string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, "bridge", "--work_pool", workPool, "--worker_name", workerName,
		"--mqtt.url", "mqtt://"+brokerAddr, "--prefix", prefix, "--devices", device,
		"--log.level", "warn", "--log.format", "json")
	cmd.Env = append(baseEnv(),
		"PREFECT_API_URL="+apiURL,
		"PLATE_RESORT_DEPLOYMENTS__GET-MOTOR-HEALTH__PAUSED=true",
		"PLATE_RESORT_COMMAND_TIMEOUT__MOTION=10m",
		"PLATE_RESORT_POLL_INTERVAL=5s",
	)
	c, err := s.start("bridge", cmd)
	if err != nil {
		return nil, err
	}
	return c.cmd, nil
}

// processFlow is the process worker's equivalent of get-position.
const processFlow = `from prefect import flow

@flow(name="bench-get-position")
def get_position():
    return 42.0
`

// processDeploy creates the process pool and deploys the flow from source,
// as a lab user would.
const processDeploy = `
import sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect import flow
with get_client(sync_client=True) as c:
    try:
        c.create_work_pool(WorkPoolCreate(name=%q, type="process"))
    except Exception:
        pass
f = flow.from_source(source=%q, entrypoint="flows.py:get_position")
f.deploy(name="bench", work_pool_name=%q, print_next_steps=False)
print("OK")
`

// processWorkerRuns times a stock `prefect worker start --type process`
// running processFlow from its own pool; the worker stops afterwards.
func (s *stack) processWorkerRuns(ctx context.Context, prefectBin, python, apiURL string, pc *prefect.Client, n int) ([]time.Duration, error) {
	dir := filepath.Join(s.dir, "process-worker")
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "flows.py"), []byte(processFlow), 0o600); err != nil {
		return nil, err
	}
	env := append(baseEnv(), "PREFECT_API_URL="+apiURL, "PREFECT_HOME="+filepath.Join(dir, "home"),
		"PREFECT_SERVER_ANALYTICS_ENABLED=false", "DO_NOT_TRACK=1")
	dctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	deploy := exec.CommandContext(dctx, python, "-c", fmt.Sprintf(processDeploy, procPool, dir, procPool))
	deploy.Dir, deploy.Env = dir, env
	if out, err := deploy.CombinedOutput(); err != nil || !strings.Contains(string(out), "OK") {
		return nil, fmt.Errorf("deploy the process flow: %v\n%s", err, out)
	}
	worker := exec.Command(prefectBin, "worker", "start", "--pool", procPool, "--type", "process")
	worker.Dir, worker.Env = dir, env
	c, err := s.start("process-worker", worker)
	if err != nil {
		return nil, err
	}
	defer s.remove(c)
	return sequentialRuns(ctx, pc, "bench-get-position", "bench", n)
}

// sequentialRuns creates n runs one after another, each after the previous
// one finished, and returns Created -> Completed of each from Prefect's own
// timestamps.
func sequentialRuns(ctx context.Context, pc *prefect.Client, flow, name string, n int) ([]time.Duration, error) {
	dep, err := waitDeployment(ctx, pc, flow, name)
	if err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		fr, err := createRun(ctx, pc, dep.ID, map[string]any{})
		if err != nil {
			return nil, err
		}
		done, err := waitFinal(ctx, pc, fr.ID, 2*time.Minute)
		if err != nil {
			return nil, err
		}
		if done.State.Type != prefect.StateCompleted {
			return nil, fmt.Errorf("%s/%s run ended %s: %s", flow, name, done.State.Type, done.State.Message)
		}
		lat = append(lat, done.State.Timestamp.Sub(done.Created))
	}
	return lat, nil
}

func waitDeployment(ctx context.Context, pc *prefect.Client, flow, name string) (*prefect.Deployment, error) {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		if d, err := pc.ReadDeploymentByName(ctx, flow, name); err == nil {
			return d, nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("deployment %s/%s never appeared", flow, name)
}

// createRun creates a run like run_deployment does, retrying a busy SQLite
// server (503) with an idempotency key so a retry cannot make a second run.
func createRun(ctx context.Context, pc *prefect.Client, depID string, params map[string]any) (*prefect.FlowRun, error) {
	key := fmt.Sprintf("bridgebench-%d", time.Now().UnixNano())
	var err error
	for i := 0; i < 10; i++ {
		var fr *prefect.FlowRun
		if fr, err = pc.CreateFlowRun(ctx, depID, prefect.FlowRunCreate{Parameters: params, IdempotencyKey: key}); err == nil {
			return fr, nil
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("create flow run: %w", err)
}

func waitFinal(ctx context.Context, pc *prefect.Client, id string, d time.Duration) (*prefect.FlowRun, error) {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		fr, err := pc.ReadFlowRun(ctx, id)
		if err == nil && fr.State != nil && fr.State.Type.IsFinal() {
			return fr, nil
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("run %s not final within %s", id, d)
}

// waitRetained subscribes to topic and waits for the payload want (the
// agent's retained availability).
func waitRetained(ctx context.Context, addr, topic, want string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	got := make(chan string, 16)
	c := paho.NewClient(paho.ClientConfig{
		ClientID: "bridgebench",
		Conn:     packets.NewThreadSafeConn(conn),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			select {
			case got <- string(pr.Packet.Payload):
			default:
			}
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: "bridgebench", CleanStart: true, KeepAlive: 30}); err != nil {
		return err
	}
	defer func() { _ = c.Disconnect(&paho.Disconnect{}) }()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
		return err
	}
	for {
		select {
		case v := <-got:
			if v == want {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("%s did not become %q within %s", topic, want, timeout)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// freePort asks the kernel for a free loopback port; the window before the
// child binds it is acceptable for a benchmark.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
