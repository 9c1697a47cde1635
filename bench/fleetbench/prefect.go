package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/plate-resort/plate-resort/bench/internal/stack"
	"github.com/plate-resort/plate-resort/bridge"
	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/benchstat"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// prefectOptions configure the Prefect part: the same runs on each
// database, through three workers on one server.
type prefectOptions struct {
	bin         string        // prefect executable in a venv ("" skips the Prefect part)
	dbs         []string      // "sqlite", "postgres"
	sizes       []int         // fleet sizes the bridge serves
	floorRuns   int           // sequential floor runs
	bridgeRuns  int           // sequential bridge runs per fleet size
	burst       int           // runs created at once for runs/s per device (the floor: as many as the largest fleet), capped at maxBurst
	processRuns int           // sequential process-worker runs (0: skip the process worker)
	procBurst   int           // process-worker runs created at once
	regTimeout  time.Duration // how long the bridge may take to register a fleet
	fleetMode   string        // how the bridge's fleet runs: modeProcess (default) or modeShared
	serverPid   int           // the Prefect server's process, for its CPU (settle)
	// floorOne is one floor run (newFloor): the floor rows, and one beside
	// each sequential bridge run (prow.PairedFloor).
	floorOne func(context.Context) (string, error)
}

// maxBurst keeps a burst within one page of /flow_runs/filter
// (PREFECT_API_DEFAULT_LIMIT, 200).
const maxBurst = 200

// prow is one worker's figures on one database.
type prow struct {
	DB, Worker  string
	Devices     int
	FleetMode   string        // bridge rows: modeProcess or modeShared
	Runs        int           // sequential runs measured
	P50, P99    time.Duration // created -> Completed, Prefect timestamps
	Burst       int           // runs created at once
	RunsPerS    float64       // Burst / (last Completed - first created)
	BrokerKiB   int64         // peak during the burst (bridge rows)
	BridgeKiB   int64
	DeviceRTP50 time.Duration // the fleet's get_position p50 (bridge rows, when measured)
	// Phases are the p50s of created -> Pending -> Running -> Completed of
	// the sequential runs (floor and bridge rows): where the time goes.
	Phases [3]time.Duration
	// NotCompleted counts burst runs that ended in another final state
	// (process worker rows: a stock worker that hits a busy SQLite server
	// reports its run Crashed; that is its figure, not the bench's error).
	NotCompleted int
	// Register is bridge start -> every deployment of every device in the
	// pool (bridge rows); Reregister the same bridge started again ->
	// it logged every device registered (nothing left to change).
	Register, Reregister time.Duration
	// PairedFloor is the p50 of floor runs made alternately with the
	// bridge's sequential runs (bridge rows): the same minutes of the same
	// machine, where a floor measured minutes before moved by up to 30%.
	// The goal is taken from it.
	PairedFloor time.Duration
	// Settle is how long Prefect's server stayed busy after the restarted
	// bridge registered (settle): the runs are timed after it.
	Settle time.Duration
	// Err is why a bridge row stopped short (its other figures are what
	// was measured before).
	Err string
}

// waitRegistered waits until the pool holds one deployment per flow the
// bridge registers (bridge.FlowNames: the fleet's agents offer every
// command) for each of devs, polling the cheap count (listing a thousand
// deployments with their schemas twice a second would load the server
// being measured), and returns each device's get-position deployment id.
// It fails when timeout passes or the bridge exits.
func waitRegistered(ctx context.Context, pc *prefect.Client, pool string, devs []string, timeout time.Duration, br *stack.Child) (map[string]string, error) {
	want := len(bridge.FlowNames()) * len(devs)
	deadline := time.Now().Add(timeout)
	for {
		n, err := pc.CountDeploymentsInPool(ctx, pool)
		if err == nil && n >= want {
			break
		}
		select {
		case <-br.Done():
			return nil, errors.New("the bridge exited before registering")
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d deployments registered in pool %s after %s (last error: %v)", n, want, pool, timeout, err)
		}
		if err := stack.Sleep(ctx, 250*time.Millisecond); err != nil {
			return nil, err
		}
	}
	fl, err := pc.ReadFlowByName(ctx, "get-position")
	if err != nil {
		return nil, err
	}
	deps, err := pc.DeploymentsInPool(ctx, pool)
	if err != nil {
		return nil, err
	}
	getPos := map[string]string{}
	for _, d := range deps {
		if d.FlowID != fl.ID {
			continue
		}
		for _, t := range d.Tags {
			if slices.Contains(devs, t) {
				getPos[t] = d.ID
			}
		}
	}
	for _, dev := range devs {
		if getPos[dev] == "" {
			return nil, fmt.Errorf("no get-position deployment of %s in pool %s", dev, pool)
		}
	}
	return getPos, nil
}

// phases reads each run's state history (outside the timed part) and
// returns the p50 of each step: created -> Pending, Pending -> Running,
// Running -> Completed.
func phases(ctx context.Context, pc *prefect.Client, ids []string) ([3]time.Duration, error) {
	var steps [3][]time.Duration
	for _, id := range ids {
		fr, err := pc.ReadFlowRun(ctx, id)
		if err != nil {
			return [3]time.Duration{}, err
		}
		sts, err := pc.ReadFlowRunStates(ctx, id)
		if err != nil {
			return [3]time.Duration{}, err
		}
		at := map[prefect.StateType]time.Time{}
		for _, st := range sts {
			if _, ok := at[st.Type]; !ok {
				at[st.Type] = st.Timestamp
			}
		}
		pe, ru, co := at[prefect.StatePending], at[prefect.StateRunning], at[prefect.StateCompleted]
		if pe.IsZero() || ru.IsZero() || co.IsZero() {
			continue
		}
		steps[0] = append(steps[0], pe.Sub(fr.Created))
		steps[1] = append(steps[1], ru.Sub(pe))
		steps[2] = append(steps[2], co.Sub(ru))
	}
	var out [3]time.Duration
	for i := range out {
		out[i] = benchstat.Percentile(steps[i], 50)
	}
	return out, nil
}

const (
	floorPool  = "fleetbench-floor" // no worker serves it: the floor drives its runs itself
	floorFlow  = "fleetbench-floor"
	bridgePool = "fleetbench-bridge"
	procPool   = "fleetbench-process"
)

// runPrefect measures, on each database, the floor, the bridge serving
// each fleet size, and a stock process worker; rt maps a fleet size to
// its get_position p50 from the first part (may be empty).
func runPrefect(ctx context.Context, o options, po prefectOptions, rt map[int]time.Duration) ([]prow, error) {
	prefectBin, python, err := stack.FindPrefect(po.bin)
	if err != nil {
		return nil, err
	}
	if po.regTimeout <= 0 {
		po.regTimeout = 15 * time.Minute
	}
	// A failure on one database still lets the other be measured.
	var rows []prow
	var errs []error
	for _, db := range po.dbs {
		r, err := runPrefectDB(ctx, o, po, prefectBin, python, db, rt)
		rows = append(rows, r...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", db, err))
		}
	}
	return rows, errors.Join(errs...)
}

func runPrefectDB(ctx context.Context, o options, po prefectOptions, prefectBin, python, db string, rt map[int]time.Duration) (rows []prow, err error) {
	dir, err := os.MkdirTemp("", "fleetbench-prefect-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	st := stack.New(dir, "fleetbench")
	defer func() {
		if err != nil {
			st.DumpLogs(os.Stderr, 4<<10)
		}
		st.StopAll()
	}()
	dbURL := ""
	if db == "postgres" {
		pg, err := testenv.NewPostgres()
		if err != nil {
			return nil, err
		}
		defer pg.Stop()
		dbURL = pg.URL()
	}
	port, err := stack.FreePort()
	if err != nil {
		return nil, err
	}
	began := time.Now()
	// A first boot runs every migration: minutes on a loaded 2-core machine.
	server, apiURL, err := st.StartPrefectDB(ctx, prefectBin, filepath.Join(dir, "prefect-home"), port, dbURL, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	po.serverPid = server.Pid()
	o.logf("prefect on %s: %s healthy after %s", db, apiURL, time.Since(began).Round(time.Millisecond))
	pc, err := prefect.New(prefect.Config{APIURL: apiURL})
	if err != nil {
		return nil, err
	}

	// 1. The floor.
	if po.floorOne, err = newFloor(ctx, pc); err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	r, err := floor(ctx, pc, po)
	if err != nil {
		return rows, fmt.Errorf("floor: %w", err)
	}
	r.DB = db
	rows = append(rows, r)
	o.logf("%s floor: p50 %.1f ms p99 %.1f ms, %.1f runs/s", db, ms(r.P50), ms(r.P99), r.RunsPerS)

	// 2. The bridge, one fleet per size.
	var bridgeErrs []error
	defer func() { err = errors.Join(append(bridgeErrs, err)...) }()
	for _, n := range po.sizes {
		r, err := bridgeRuns(ctx, o, po, pc, apiURL, n)
		r.DB, r.DeviceRTP50 = db, deviceRT(rt, n)
		if err != nil {
			// The row says how far it got; the other sizes and the
			// process worker are still measured.
			r.Err = err.Error()
			rows = append(rows, r)
			bridgeErrs = append(bridgeErrs, fmt.Errorf("bridge, %d devices: %w", n, err))
			o.logf("%s bridge, %d devices: %v", db, n, err)
			continue
		}
		rows = append(rows, r)
		o.logf("%s bridge, %d devices: p50 %.1f ms p99 %.1f ms, %.1f runs/s", db, n, ms(r.P50), ms(r.P99), r.RunsPerS)
	}

	// 3. A stock process worker on its own pool of the same server. As a
	// bridge row, a process worker row that stops short is kept.
	if po.processRuns > 0 {
		o.logf("%s process worker: %d sequential runs (about 10 s each: it polls every 10 s), then %d at once", db, po.processRuns, po.procBurst)
		r, err := processWorkerRuns(ctx, po, st, pc, prefectBin, python, apiURL)
		r.DB = db
		if err != nil {
			r.Err = err.Error()
			return append(rows, r), fmt.Errorf("process worker: %w", err)
		}
		rows = append(rows, r)
		o.logf("%s process worker: p50 %.1f ms p99 %.1f ms, %.2f runs/s", db, ms(r.P50), ms(r.P99), r.RunsPerS)
	}
	return rows, nil
}

// processWorkerRuns times a stock `prefect worker start --type process`:
// sequential runs of a trivial flow, then a burst.
func processWorkerRuns(ctx context.Context, po prefectOptions, st *stack.Stack, pc *prefect.Client, prefectBin, python, apiURL string) (prow, error) {
	r := prow{Worker: "process worker"}
	w, err := st.StartProcessWorker(ctx, prefectBin, python, apiURL, procPool)
	if err != nil {
		return r, err
	}
	defer st.Remove(w)
	lat, err := stack.SequentialRuns(ctx, pc, stack.ProcessFlowName, stack.ProcessDeployment, po.processRuns)
	if err != nil {
		return r, err
	}
	r.Runs, r.P50, r.P99 = len(lat), benchstat.Percentile(lat, 50), benchstat.Percentile(lat, 99)
	dep, err := pc.ReadDeploymentByName(ctx, stack.ProcessFlowName, stack.ProcessDeployment)
	if err != nil {
		return r, err
	}
	deps := make([]string, po.procBurst)
	for i := range deps {
		deps[i] = dep.ID
	}
	r.Burst = po.procBurst
	r.RunsPerS, r.NotCompleted, err = burstN(ctx, pc, deps, 10*time.Minute, nil, true)
	return r, err
}

// pairGap is how long after a bridge run's creation its paired floor run
// starts, and (less the 400 ms every run waits before it is read) how long
// after the floor run the next bridge run does.
const pairGap = 1500 * time.Millisecond

// deviceRT is the fleet's get_position p50 at n devices, or, when n was not
// measured, at the smallest size that was: a round trip to one device
// (the goal's "device round trip"), which stays flat with fleet size
// (README "Fleet").
func deviceRT(rt map[int]time.Duration, n int) time.Duration {
	if d, ok := rt[n]; ok {
		return d
	}
	best := -1
	for k := range rt {
		if best < 0 || k < best {
			best = k
		}
	}
	return rt[best]
}

// newFloor sets up the floor's pool and deployment and returns one floor
// run: create a run, then Pending -> Running -> Completed; its id.
func newFloor(ctx context.Context, pc *prefect.Client) (func(context.Context) (string, error), error) {
	if _, err := pc.EnsureWorkPool(ctx, floorPool, "fleetbench", "fleetbench floor: no worker"); err != nil {
		return nil, err
	}
	fl, err := pc.UpsertFlow(ctx, floorFlow, nil)
	if err != nil {
		return nil, err
	}
	dep, err := pc.UpsertDeployment(ctx, prefect.DeploymentSpec{Name: "floor", FlowID: fl.ID, WorkPoolName: floorPool})
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (string, error) {
		fr, err := stack.CreateRun(ctx, pc, dep.ID, map[string]any{}, "floor-"+strconv.FormatInt(time.Now().UnixNano(), 10), 10)
		if err != nil {
			return "", err
		}
		for _, t := range []prefect.StateType{prefect.StatePending, prefect.StateRunning, prefect.StateCompleted} {
			res, err := pc.SetFlowRunState(ctx, fr.ID, prefect.StateCreate{Type: t}, false)
			if err != nil {
				return "", err
			}
			if res.Status != prefect.Accept {
				return "", fmt.Errorf("run %s: %s not accepted: %s", fr.ID, t, res.Status)
			}
		}
		return fr.ID, nil
	}, nil
}

// floor is what Prefect itself needs for one run: create a flow run of a
// deployment in a pool no worker serves, then Pending -> Running ->
// Completed through POST /flow_runs/{id}/set_state, nothing else (no
// claim poll, no logs, no result, no artifact): the state changes every
// worker makes (src/prefect/workers/base.py proposes Pending, the flow
// engine Running and Completed; docs/prefect.md §4).
func floor(ctx context.Context, pc *prefect.Client, po prefectOptions) (prow, error) {
	one := po.floorOne
	lat := make([]time.Duration, 0, po.floorRuns)
	var seqIDs []string
	for range po.floorRuns {
		id, err := one(ctx)
		if err != nil {
			return prow{}, err
		}
		seqIDs = append(seqIDs, id)
		fr, err := pc.ReadFlowRun(ctx, id)
		if err != nil {
			return prow{}, err
		}
		lat = append(lat, fr.State.Timestamp.Sub(fr.Created))
	}
	r := prow{Worker: "floor", Runs: len(lat), P50: benchstat.Percentile(lat, 50), P99: benchstat.Percentile(lat, 99)}
	var err error
	if r.Phases, err = phases(ctx, pc, seqIDs); err != nil {
		return r, err
	}
	// Runs/s: the same, by 8 clients at once (a worker pool's worth of
	// concurrent state changes), as many runs as the largest bridge burst.
	r.Burst = min(po.burst*max(1, slices.Max(append([]int{1}, po.sizes...))), maxBurst)
	ids := make([]string, r.Burst)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	next := make(chan int, r.Burst)
	for i := range r.Burst {
		next <- i
	}
	close(next)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				id, err := one(ctx)
				mu.Lock()
				ids[i] = id
				if err != nil && first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return r, first
	}
	runs, err := waitCompleted(ctx, pc, ids, time.Minute)
	if err != nil {
		return r, err
	}
	r.RunsPerS = perSecond(runs)
	return r, nil
}

// bridgeRuns starts a fleet of n devices and one `plate-resort bridge`
// serving all of them, then times sequential get-position runs over the
// devices in turn and a burst spread over all of them.
func bridgeRuns(ctx context.Context, o options, po prefectOptions, pc *prefect.Client, apiURL string, n int) (prow, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mode := po.fleetMode
	if mode == "" {
		mode = modeProcess
	}
	// What was measured is kept when a later step fails.
	r := prow{Worker: "bridge", Devices: n, FleetMode: mode}
	f, err := startFleet(ctx, o, mode, n)
	if err != nil {
		return r, err
	}
	defer f.close()
	devs := make([]string, n)
	for i := range devs {
		devs[i] = deviceID(i)
	}
	// A list of up to 64 devices is an allow-list; more is discovery
	// (bridge/config_validate.go), with --devices= empty; the primary device
	// is then resort-1 by default, as with the list.
	list := strings.Join(devs, ",")
	if n > 64 {
		list = ""
	}
	// A pool per fleet size: each size's registration starts from a pool
	// with none of its deployments (the deployments themselves, named by
	// flow and device, move from the previous size's pool).
	pool := bridgePool + "-" + strconv.Itoa(n)
	worker := "fleetbench-bridge-" + strconv.Itoa(n)
	// At info level the bridge logs each device's registration (and little
	// else); the restart below is timed by it.
	bridgeCmd := func() *execCmd {
		return newExecCmd(o.bin, []string{"bridge", "--work_pool", pool, "--worker_name", worker,
			"--mqtt.url", "mqtt://" + f.addr, "--prefix", prefix, "--devices=" + list,
			"--log.level", "info", "--log.format", "json"},
			append(stack.BaseEnv(), "PREFECT_API_URL="+apiURL,
				// The scheduled health deployment would add runs of its own.
				"PLATE_RESORT_DEPLOYMENTS__GET-MOTOR-HEALTH__PAUSED=true"))
	}
	began := time.Now()
	br, err := f.st.Start("bridge", bridgeCmd())
	if err != nil {
		return r, err
	}
	defer func() { f.st.Remove(br) }()
	getPos, err := waitRegistered(ctx, pc, pool, devs, po.regTimeout, br)
	if err != nil {
		f.st.DumpLogs(os.Stderr, 4<<10)
		return r, err
	}
	r.Register = time.Since(began)
	o.logf("bridge registered %d devices in %s", n, r.Register.Round(time.Millisecond))

	// The same bridge started again: everything it registers is already
	// in Prefect as it would send it. The runs go through this second life.
	f.st.Remove(br)
	began = time.Now()
	if br, err = f.st.Start("bridge", bridgeCmd()); err != nil {
		return r, err
	}
	if err := waitLogged(ctx, br, devs, po.regTimeout); err != nil {
		f.st.DumpLogs(os.Stderr, 4<<10)
		return r, fmt.Errorf("restarted bridge: %w", err)
	}
	r.Reregister = time.Since(began)
	o.logf("restarted bridge registered %d devices in %s", n, r.Reregister.Round(time.Millisecond))
	deps := make([]string, n)
	for i, d := range devs {
		deps[i] = getPos[d]
	}
	o.logf("bridge serving %d devices (pid %d)", n, br.Pid())
	// Time to settle: the events websocket, and the server's own work after
	// a registration. The bridge's first poll marks every deployment of
	// the pool ready in one transaction, with an event each
	// (src/prefect/server/api/workers.py get_scheduled_flow_runs,
	// mark_deployments_ready): ~25 s of a busy server at 100 devices, which
	// the first runs would otherwise measure. It is reported as its own
	// figure.
	if r.Settle, err = settle(ctx, po.serverPid, 90*time.Second); err != nil {
		return r, err
	}
	o.logf("Prefect's server quiet %s after the restarted bridge registered", r.Settle.Round(time.Second))
	// RSS is sampled while runs go through the bridge: during the
	// sequential runs and the burst.
	sample := func() {
		if v, err := benchstat.RSSKiB(br.Pid()); err == nil {
			r.BridgeKiB = max(r.BridgeKiB, v)
		}
		if v, err := benchstat.RSSKiB(f.procs()[0].Pid()); err == nil {
			r.BrokerKiB = max(r.BrokerKiB, v) // the broker, or in shared mode all of `up`
		}
	}
	lat := make([]time.Duration, 0, po.bridgeRuns)
	var seqIDs []string
	var paired []time.Duration
	for k := range po.bridgeRuns {
		sample()
		fr, err := stack.CreateRun(ctx, pc, deps[k%n], map[string]any{}, "seq-"+strconv.FormatInt(time.Now().UnixNano(), 10), 10)
		if err != nil {
			return r, err
		}
		// The first read of the run comes after its time: reads during
		// the run would load the server in the run's path, which the floor
		// (it drives its own run) does not have. The time measured is
		// Prefect's state timestamps, not this wait.
		if err := stack.Sleep(ctx, 400*time.Millisecond); err != nil {
			return r, err
		}
		done, err := stack.WaitFinal(ctx, pc, fr.ID, 2*time.Minute)
		if err != nil {
			return r, err
		}
		if done.State.Type != prefect.StateCompleted {
			return r, fmt.Errorf("get-position on %s ended %s: %s", devs[k%n], done.State.Type, done.State.Message)
		}
		lat = append(lat, done.State.Timestamp.Sub(done.Created))
		seqIDs = append(seqIDs, fr.ID)
		// A floor run beside it, on the same server in the same minute,
		// once the bridge's work after the run is done (its artifact and
		// log lines at once, its infrastructure_pid patch 1 s after the
		// claim, bridge/run.go recordDelay), and the next bridge run as
		// long after the floor run: neither measures the other's tail.
		if po.floorOne != nil {
			if err := stack.Sleep(ctx, time.Until(fr.Created.Add(pairGap))); err != nil {
				return r, err
			}
			id, err := po.floorOne(ctx)
			if err != nil {
				return r, fmt.Errorf("paired floor run: %w", err)
			}
			ffr, err := pc.ReadFlowRun(ctx, id)
			if err != nil {
				return r, err
			}
			paired = append(paired, ffr.State.Timestamp.Sub(ffr.Created))
			if err := stack.Sleep(ctx, pairGap-400*time.Millisecond); err != nil {
				return r, err
			}
		}
	}
	r.Runs, r.P50, r.P99 = len(lat), benchstat.Percentile(lat, 50), benchstat.Percentile(lat, 99)
	if len(paired) > 0 {
		r.PairedFloor = benchstat.Percentile(paired, 50)
	}
	if r.Phases, err = phases(ctx, pc, seqIDs); err != nil {
		return r, err
	}
	r.Burst = min(po.burst*n, maxBurst)
	bd := make([]string, r.Burst)
	for i := range bd {
		bd[i] = deps[i%n]
	}
	if r.RunsPerS, err = burst(ctx, pc, bd, 5*time.Minute, sample); err != nil {
		return r, err
	}
	return r, nil
}

// waitLogged waits until the log of this life of the bridge br says
// "deployments registered" for each of devs.
func waitLogged(ctx context.Context, br *stack.Child, devs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(br.Log)
		if err != nil {
			return err
		}
		// Stack.Start appends each life after a "=== ... start" line.
		if i := bytes.LastIndex(b, []byte("\n=== ")); i >= 0 {
			b = b[i+1:]
		}
		done := map[string]bool{}
		for _, line := range bytes.Split(b, []byte("\n")) {
			var e struct{ Message, Device string }
			if json.Unmarshal(line, &e) == nil && e.Message == "deployments registered" {
				done[e.Device] = true
			}
		}
		n := 0
		for _, d := range devs {
			if done[d] {
				n++
			}
		}
		if n == len(devs) {
			return nil
		}
		select {
		case <-br.Done():
			return errors.New("the bridge exited before registering")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d devices registered after %s", n, len(devs), timeout)
		}
		if err := stack.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// burst creates one run of each deployment in deps at once (8 clients, as
// many run_deployment callers would) and waits for all to be Completed;
// sample is called while waiting. It returns completions per second from
// Prefect's timestamps.
func burst(ctx context.Context, pc *prefect.Client, deps []string, timeout time.Duration, sample func()) (float64, error) {
	r, _, err := burstN(ctx, pc, deps, timeout, sample, false)
	return r, err
}

// burstN is burst; with tolerate, runs that end in a final state other
// than Completed are counted (and left out of runs/s), not an error.
func burstN(ctx context.Context, pc *prefect.Client, deps []string, timeout time.Duration, sample func(), tolerate bool) (float64, int, error) {
	ids := make([]string, len(deps))
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	next := make(chan int, len(deps))
	for i := range deps {
		next <- i
	}
	close(next)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				fr, err := stack.CreateRun(ctx, pc, deps[i], map[string]any{}, "burst-"+strconv.FormatInt(time.Now().UnixNano(), 10)+"-"+strconv.Itoa(i), 10)
				mu.Lock()
				if err != nil && first == nil {
					first = err
				} else if err == nil {
					ids[i] = fr.ID
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		return 0, 0, first
	}
	if sample == nil {
		sample = func() {}
	}
	runs, err := waitFinal(ctx, pc, ids, timeout, sample, tolerate)
	if err != nil {
		return 0, 0, err
	}
	var ok []prefect.FlowRun
	for _, fr := range runs {
		if fr.State.Type == prefect.StateCompleted {
			ok = append(ok, fr)
		}
	}
	return perSecond(ok), len(runs) - len(ok), nil
}

func waitCompleted(ctx context.Context, pc *prefect.Client, ids []string, timeout time.Duration) ([]prefect.FlowRun, error) {
	return waitFinal(ctx, pc, ids, timeout, func() {}, false)
}

// waitFinal polls until every run in ids is final; unless tolerate, any
// run not Completed is an error. Only the runs not yet final are read, a
// burst's every second: reading all of 200 runs every 250 ms was a load of
// its own on the server being measured (the times measured are Prefect's
// state timestamps, so the wait's pace does not change them).
func waitFinal(ctx context.Context, pc *prefect.Client, ids []string, timeout time.Duration, sample func(), tolerate bool) ([]prefect.FlowRun, error) {
	every := 250 * time.Millisecond
	if len(ids) > 10 {
		every = time.Second
	}
	deadline := time.Now().Add(timeout)
	done := make(map[string]prefect.FlowRun, len(ids))
	for {
		sample()
		var left []string
		for _, id := range ids {
			if _, ok := done[id]; !ok {
				left = append(left, id)
			}
		}
		runs, err := pc.FilterFlowRuns(ctx, prefect.FlowRunFilter{IDs: left, Limit: maxBurst})
		if err == nil {
			for _, fr := range runs {
				if fr.State == nil || !fr.State.Type.IsFinal() {
					continue
				}
				if fr.State.Type != prefect.StateCompleted && !tolerate {
					return nil, fmt.Errorf("run %s ended %s: %s", fr.ID, fr.State.Type, fr.State.Message)
				}
				done[fr.ID] = fr
			}
			if len(done) == len(ids) {
				out := make([]prefect.FlowRun, 0, len(ids))
				for _, id := range ids {
					out = append(out, done[id])
				}
				return out, nil
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%d of %d runs Completed after %s", len(done), len(ids), timeout)
		}
		if err := stack.Sleep(ctx, every); err != nil {
			return nil, err
		}
	}
}

// settle waits until the process pid used under a quarter of a core over
// two seconds (at least 2 s, at most max) and returns how long that took.
func settle(ctx context.Context, pid int, max time.Duration) (time.Duration, error) {
	const window = 2 * time.Second
	began := time.Now()
	for {
		c0 := procCPU(pid)
		if err := stack.Sleep(ctx, window); err != nil {
			return 0, err
		}
		if busy := procCPU(pid) - c0; busy < window/4 || time.Since(began) >= max {
			return time.Since(began), nil
		}
	}
}

// perSecond is completions per second over the burst: the number of runs
// over the span from the first run's created to the last Completed state.
func perSecond(runs []prefect.FlowRun) float64 {
	if len(runs) == 0 {
		return 0
	}
	start, end := runs[0].Created, runs[0].State.Timestamp
	for _, fr := range runs {
		if fr.Created.Before(start) {
			start = fr.Created
		}
		if fr.State.Timestamp.After(end) {
			end = fr.State.Timestamp
		}
	}
	if d := end.Sub(start); d > 0 {
		return float64(len(runs)) / d.Seconds()
	}
	return 0
}

// prefectTable renders rows as markdown: per database the floor, the
// bridge per fleet size beside its goal (1.5 x floor p50 + the fleet's
// get_position p50), and the process worker.
func prefectTable(rows []prow) string {
	var b strings.Builder
	b.WriteString("| database | worker | devices | runs | created→Completed p50 | p99 | runs/s (burst) | goal: 1.5 × floor + get_position (p50) | broker RSS | bridge RSS | registration: first / restart (then the server's ready wave) | p50 →Pending / →Running / →Completed |\n")
	b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	floors := map[string]time.Duration{}
	for _, r := range rows {
		if r.Worker == "floor" {
			floors[r.DB] = r.P50
		}
	}
	for _, r := range rows {
		dev, goal, brk, brg, reg := "—", "", "", "", ""
		if r.Devices > 0 {
			dev = strconv.Itoa(r.Devices)
		}
		if r.Worker == "bridge" {
			f, ok := floors[r.DB]
			if r.PairedFloor > 0 {
				f, ok = r.PairedFloor, true
			}
			if ok && r.DeviceRTP50 > 0 {
				g := f*3/2 + r.DeviceRTP50
				goal = fmt.Sprintf("%.1f ms (%.2f× of it)", ms(g), float64(r.P50)/float64(g))
				if r.PairedFloor > 0 {
					goal += fmt.Sprintf("; floor alongside %.1f ms", ms(r.PairedFloor))
				}
			} else if ok {
				goal = fmt.Sprintf("%.1f ms + get_position", ms(f*3/2))
			}
			brk, brg = mib(r.BrokerKiB), mib(r.BridgeKiB)
			if r.FleetMode == modeShared {
				brk += " (all of `up`)"
			}
			if r.Register > 0 {
				reg = fmt.Sprintf("%.1f s / %.1f s (server busy %.0f s more)", r.Register.Seconds(), r.Reregister.Seconds(), r.Settle.Seconds())
			}
		}
		ph := ""
		if r.Phases != ([3]time.Duration{}) {
			ph = fmt.Sprintf("%.0f / %.0f / %.0f ms", ms(r.Phases[0]), ms(r.Phases[1]), ms(r.Phases[2]))
		}
		bu := strconv.Itoa(r.Burst)
		if r.NotCompleted > 0 {
			bu += fmt.Sprintf(", %d not Completed", r.NotCompleted)
		}
		if r.Err != "" {
			bu += ", stopped: " + contract.Clip(r.Err, 160)
		}
		p50, p99, rps := "—", "—", "—"
		if r.Runs > 0 {
			p50, p99 = fmt.Sprintf("%.1f ms", ms(r.P50)), fmt.Sprintf("%.1f ms", ms(r.P99))
		}
		if r.RunsPerS > 0 {
			rps = fmt.Sprintf("%.2f", r.RunsPerS)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s | %s (%s) | %s | %s | %s | %s | %s |\n",
			r.DB, r.Worker, dev, r.Runs, p50, p99, rps, bu, goal, brk, brg, reg, ph)
	}
	return b.String()
}

// parseDBs is -prefect-db: sqlite, postgres or both.
func parseDBs(s string) ([]string, error) {
	switch s {
	case "sqlite", "postgres":
		return []string{s}, nil
	case "both":
		return []string{"sqlite", "postgres"}, nil
	}
	return nil, errors.New("-prefect-db: want sqlite, postgres or both")
}
