package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/bench/internal/stack"
	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// soak is one run of the harness.
type soak struct {
	o          options
	idp        string // command id prefix of this run
	st         *stack.Stack
	bin        string
	prefectBin string
	dir        string

	brokerAddr, storage         string
	link, writeLogPath, control string
	prefectHome                 string
	prefectPort                 int
	apiURL                      string

	pmu   sync.Mutex
	procs map[string]*stack.Child

	pc      *prefect.Client
	mq      *client
	mqttCtx context.Context // the harness's MQTT client lives until run returns
	mqLog   *os.File
	reg     *registry
	kick    *kicker
	angles  *angles
	runs    *runs
	moveDep string
	readDep string

	// exclusive is held by a fault from injection to recovery and by an
	// e-stop/reset sequence: a fault never lands in the middle of one, so
	// neither blurs the other's numbers.
	exclusive sync.Mutex
	faults    []faultRec
	fmu       sync.Mutex

	drivers  sync.WaitGroup
	active   atomic.Int64 // commands still being driven
	probeSeq atomic.Int64
	creates  sync.WaitGroup
	retry    context.Context // ends when the drain ends: re-sends stop
	started  time.Time
	loadEnd  time.Time
}

func (s *soak) progress(format string, args ...any) {
	if s.o.progress != nil {
		fmt.Fprintf(s.o.progress, "soak: %s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

func run(ctx context.Context, o options) (sum *summary, err error) {
	if o.duration <= 0 {
		return nil, errors.New("-duration must be positive")
	}
	if o.motionTimeout <= 0 {
		o.motionTimeout = 60 * time.Second
	}
	if o.drain <= 0 {
		o.drain = o.motionTimeout + 30*time.Second
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s: %w (run make build first, or pass -bin)", o.bin, err)
	}
	prefectBin, _, err := stack.FindPrefect(o.prefect)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "soak-")
	if err != nil {
		return nil, err
	}
	s := &soak{o: o, st: stack.New(dir, "soak"), bin: bin, prefectBin: prefectBin, dir: dir, procs: map[string]*stack.Child{},
		reg: newRegistry(), kick: newKicker(), angles: newAngles(rand.New(rand.NewPCG(uint64(o.seed), 1))), runs: newRuns()}
	s.st.LogLevel = "info" // the agent's and bridge's logs are the evidence when a promise breaks
	// Command ids of this run only: nothing another run left in a journal
	// can answer them.
	s.idp = fmt.Sprintf("soak-%04x-", rand.Uint32()&0xffff)
	mqttCtx, stopMQTT := context.WithCancel(context.Background())
	s.mqttCtx = mqttCtx
	defer func() {
		if err != nil {
			s.st.DumpLogs(os.Stderr, 4<<10)
		}
		if s.mq != nil {
			dctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = s.mq.cm.Disconnect(dctx)
			cancel()
		}
		stopMQTT()
		if s.mqLog != nil {
			_ = s.mqLog.Close()
		}
		s.st.StopAll()
		if sum != nil {
			sum.Dir = dir
		}
		if o.keep || err != nil || (sum != nil && len(sum.Broken) > 0) {
			s.progress("work directory kept: %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
		if sum != nil {
			sum.Dir = ""
		}
	}()
	if err := s.up(ctx); err != nil {
		return nil, err
	}
	return s.soak(ctx)
}

// up starts Prefect, broker, simulator, agent, the harness's MQTT client
// and the bridge, and waits for the deployments.
func (s *soak) up(ctx context.Context) error {
	var err error
	s.prefectHome = filepath.Join(s.dir, "prefect-home")
	if s.prefectPort, err = stack.FreePort(); err != nil {
		return err
	}
	began := time.Now()
	if err := s.startPrefect(ctx); err != nil {
		return err
	}
	s.progress("prefect server %s healthy after %s", s.apiURL, time.Since(began).Round(time.Millisecond))
	if s.pc, err = prefect.New(prefect.Config{APIURL: s.apiURL, Timeout: 10 * time.Second}); err != nil {
		return err
	}

	if s.brokerAddr, err = stack.FreeAddr(); err != nil {
		return err
	}
	s.storage = filepath.Join(s.dir, "broker.db")
	if err := s.startBroker(ctx); err != nil {
		return err
	}
	s.link = filepath.Join(s.dir, "servo")
	s.writeLogPath = filepath.Join(s.dir, "writes.jsonl")
	if s.control, err = stack.FreeAddr(); err != nil {
		return err
	}
	c, err := s.st.StartSim(ctx, s.bin, s.link, "--control", s.control, "--write-log", s.writeLogPath)
	s.setProc("sim", c)
	if err != nil {
		return err
	}
	if err := s.startAgent(); err != nil {
		return err
	}
	if s.mqLog, err = os.Create(filepath.Join(s.dir, "harness-mqtt.log")); err != nil {
		return err
	}
	if s.mq, err = connectClient(s.mqttCtx, s.brokerAddr, s.reg, s.kick, zerolog.New(s.mqLog).With().Timestamp().Logger()); err != nil {
		return err
	}
	if err := waitFor(ctx, 30*time.Second, func() bool { s.reg.mu.Lock(); defer s.reg.mu.Unlock(); return s.reg.online }); err != nil {
		return fmt.Errorf("agent never came online: %w", err)
	}
	if err := s.startBridge(); err != nil {
		return err
	}
	mv, err := stack.WaitDeployment(ctx, s.pc, "move-to-angle", "move-to-angle", time.Minute)
	if err != nil {
		return err
	}
	rd, err := stack.WaitDeployment(ctx, s.pc, "get-position", "get-position", time.Minute)
	if err != nil {
		return err
	}
	s.moveDep, s.readDep = mv.ID, rd.ID
	s.progress("stack up: broker %s (storage %s), servo %s (control http://%s), work dir %s", s.brokerAddr, s.storage, s.link, s.control, s.dir)
	return nil
}

func (s *soak) setProc(name string, c *stack.Child) {
	s.pmu.Lock()
	defer s.pmu.Unlock()
	s.procs[name] = c
}

// kill is kill -9 of a child's process group.
func (s *soak) kill(name string) {
	s.pmu.Lock()
	c := s.procs[name]
	delete(s.procs, name)
	s.pmu.Unlock()
	if c != nil {
		s.st.KillRemove(c)
	}
}

func (s *soak) startPrefect(ctx context.Context) error {
	c, apiURL, err := s.st.StartPrefect(ctx, s.prefectBin, s.prefectHome, s.prefectPort, 3*time.Minute)
	if c != nil {
		s.setProc("prefect", c)
	}
	if err != nil {
		return err
	}
	s.apiURL = apiURL
	return nil
}

func (s *soak) startBroker(ctx context.Context) error {
	c, err := s.st.StartBroker(ctx, s.bin, s.brokerAddr, "--storage.path", s.storage)
	if c != nil {
		s.setProc("broker", c)
	}
	return err
}

func (s *soak) startAgent() error {
	c, err := s.st.StartAgent(s.bin, prefix, device, s.brokerAddr, s.link,
		"PLATE_RESORT_CONNECT_ON_START=true",
		"PLATE_RESORT_HOMEASSISTANT__ENABLED=false",
		"PLATE_RESORT_RESORT__LATENCY_MS=1", // a pty has no FTDI latency timer
		// 207 °/s instead of 69 °/s: more moves per minute of soak.
		"PLATE_RESORT_RESORT__DEFAULT_SPEED="+fmt.Sprint(agentSpeed),
		// The soak sends more ids in dedupe_window (10 min) than the default
		// dedupe_size (1024) remembers; it re-sends ids at most 5 min old.
		"PLATE_RESORT_DEDUPE_SIZE=100000",
	)
	if c != nil {
		s.setProc("agent", c)
	}
	return err
}

func (s *soak) startBridge() error {
	c, err := s.st.StartBridge(s.bin, prefix, device, s.brokerAddr, s.apiURL, workPool, workerName,
		"PLATE_RESORT_DEPLOYMENTS__GET-MOTOR-HEALTH__PAUSED=true", // its schedule would add runs
		"PLATE_RESORT_COMMAND_TIMEOUT__MOTION="+s.o.motionTimeout.String(),
	)
	if c != nil {
		s.setProc("bridge", c)
	}
	return err
}

// soak applies the load and the faults for the duration, drains, and counts.
func (s *soak) soak(ctx context.Context) (*summary, error) {
	retry, stopRetry := context.WithCancel(ctx)
	defer stopRetry()
	s.retry = retry
	s.started = time.Now()
	s.loadEnd = s.started.Add(s.o.duration)
	load, stopLoad := context.WithDeadline(ctx, s.loadEnd)
	defer stopLoad()
	s.progress("soak for %s (seed %d)", s.o.duration, s.o.seed)

	var loops sync.WaitGroup
	for i, fn := range []func(context.Context, *rand.Rand){s.directMoves, s.directReads, s.resends, s.estops, s.prefectRuns, s.heal, s.status} {
		loops.Add(1)
		rng := rand.New(rand.NewPCG(uint64(s.o.seed), uint64(100+i)))
		go func() { defer loops.Done(); fn(load, rng) }()
	}
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		s.faultLoop(load, ctx, rand.New(rand.NewPCG(uint64(s.o.seed), 99)))
	}()
	loops.Wait()
	<-faultsDone // a fault injected at the end recovers first
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}

	// Drain: the re-sends go on until every command is answered and every
	// run final, or the drain time is up.
	drainStart := time.Now()
	s.progress("load stopped; draining (at most %s)", s.o.drain)
	s.creates.Wait()
	for time.Since(drainStart) < s.o.drain {
		if s.active.Load() == 0 {
			if n, err := s.runs.nonFinal(ctx, s.pc); err == nil && n == 0 {
				break
			}
		}
		if err := stack.Sleep(ctx, time.Second); err != nil {
			return nil, err
		}
	}
	drained := time.Since(drainStart)
	stopRetry()
	s.drivers.Wait()
	if err := s.runs.refresh(ctx, s.pc); err != nil {
		return nil, fmt.Errorf("final run states: %w", err)
	}
	// The last goal writes reach the file before the replies do (the hook
	// runs before the servo answers); a moment for the file system anyway.
	_ = stack.Sleep(ctx, 500*time.Millisecond)
	wl, err := readWriteLog(s.writeLogPath)
	if err != nil {
		return nil, fmt.Errorf("write log: %w", err)
	}
	if err := s.dump(wl); err != nil {
		s.progress("soak.json: %v", err)
	}
	return s.summarize(wl, drained), nil
}

// every calls fn at random intervals in [lo, hi) until ctx ends.
func every(ctx context.Context, rng *rand.Rand, lo, hi time.Duration, fn func()) {
	for {
		d := lo + time.Duration(rng.Int64N(int64(hi-lo)))
		if stack.Sleep(ctx, d) != nil {
			return
		}
		fn()
	}
}

func (s *soak) goDrive(c *command) {
	s.reg.add(c)
	s.active.Add(1)
	s.drivers.Add(1)
	go func() {
		defer s.drivers.Done()
		defer s.active.Add(-1)
		s.drive(s.retry, c)
	}()
}

// agentSpeed is the agent's resort.default_speed (Profile Velocity units).
const agentSpeed = 150

// directMoves: move_to_angle every 2-5 s, QoS 0 or 1, precise (70 %) or
// plain, each to a target nothing else uses.
func (s *soak) directMoves(ctx context.Context, rng *rand.Rand) {
	n := 0
	every(ctx, rng, 2*time.Second, 5*time.Second, func() {
		angle, goal, err := s.angles.next()
		if err != nil {
			return
		}
		n++
		c := newCommand(fmt.Sprintf("%sm%05d", s.idp, n), "move_to_angle", kMove, byte(rng.IntN(2)),
			map[string]any{"angle": angle, "precise": rng.Float64() < 0.7})
		c.Goal, c.Angle = goal, angle
		s.goDrive(c)
	})
}

// directReads: get_position every 0.3-0.9 s, QoS 0 or 1.
func (s *soak) directReads(ctx context.Context, rng *rand.Rand) {
	n := 0
	every(ctx, rng, 300*time.Millisecond, 900*time.Millisecond, func() {
		n++
		s.goDrive(newCommand(fmt.Sprintf("%sp%06d", s.idp, n), "get_position", kRead, byte(rng.IntN(2)), nil))
	})
}

// resends: every 4-10 s, an id that was already answered is sent again
// unchanged (a double click, a client retrying after a lost reply): a
// direct move, or a bridge run's move (the flow run id is the command id).
// Only ids at most 5 minutes old, well inside the agent's dedupe_window.
func (s *soak) resends(ctx context.Context, rng *rand.Rand) {
	every(ctx, rng, 4*time.Second, 10*time.Second, func() {
		now := time.Now()
		if rng.IntN(3) > 0 {
			var cands []*command
			s.reg.mu.Lock()
			for _, c := range s.reg.order {
				if c.Kind == kMove && c.ResendAt.IsZero() && len(c.Replies) > 0 && now.Sub(c.Replies[0].At) > 500*time.Millisecond && now.Sub(c.Created) < 5*time.Minute {
					cands = append(cands, c)
				}
			}
			s.reg.mu.Unlock()
			if len(cands) > 0 {
				s.resend(ctx, cands[rng.IntN(len(cands))])
			}
			return
		}
		var cands []*flowRun
		s.runs.mu.Lock()
		s.reg.mu.Lock()
		for _, r := range s.runs.list {
			if r.Kind == runMove && r.ID != "" && !r.resent && len(s.reg.runReplies[r.ID]) > 0 && now.Sub(r.Created) < 5*time.Minute {
				cands = append(cands, r)
			}
		}
		s.reg.mu.Unlock()
		if len(cands) == 0 {
			s.runs.mu.Unlock()
			return
		}
		r := cands[rng.IntN(len(cands))]
		r.resent = true
		s.runs.mu.Unlock()
		c := newCommand(r.ID, "move_to_angle", kRunDup, 1, map[string]any{"angle": r.Angle, "precise": r.Precise})
		c.Goal, c.Angle = r.Goal, r.Angle
		s.goDrive(c)
	})
}

// estops: now and then emergency_stop, then reset 0.3-1.5 s later.
func (s *soak) estops(ctx context.Context, rng *rand.Rand) {
	lo := min(max(s.o.duration/4, 15*time.Second), 90*time.Second)
	n := 0
	every(ctx, rng, lo, 2*lo, func() {
		s.exclusive.Lock()
		defer s.exclusive.Unlock()
		if ctx.Err() != nil {
			return
		}
		n++
		s.progress("emergency_stop + reset #%d", n)
		s.driveNow(newCommand(fmt.Sprintf("%sestop%04d", s.idp, n), "emergency_stop", kEStop, 1, nil))
		_ = stack.Sleep(ctx, 300*time.Millisecond+time.Duration(rng.Int64N(int64(1200*time.Millisecond))))
		s.driveNow(newCommand(fmt.Sprintf("%sreset%04d", s.idp, n), "reset", kReset, 1, nil))
	})
}

// driveNow drives a command to its end in this goroutine.
func (s *soak) driveNow(c *command) {
	s.reg.add(c)
	s.active.Add(1)
	defer s.active.Add(-1)
	s.drive(s.retry, c)
}

// heal sends reset when the retained state shows the e-stop latched for
// more than 6 s outside an e-stop sequence: a re-sent emergency_stop that
// arrived after its reset would otherwise stop all motion for the rest of
// the soak. Counted apart.
func (s *soak) heal(ctx context.Context, rng *rand.Rand) {
	n := 0
	every(ctx, rng, time.Second, 1500*time.Millisecond, func() {
		if s.reg.latchedFor(time.Now()) < 6*time.Second || !s.exclusive.TryLock() {
			return
		}
		defer s.exclusive.Unlock()
		n++
		s.progress("e-stop latched outside an e-stop sequence: reset #%d", n)
		s.driveNow(newCommand(fmt.Sprintf("%sheal%04d", s.idp, n), "reset", kHeal, 1, nil))
	})
}

// status prints a line of counts every minute on long runs.
func (s *soak) status(ctx context.Context, rng *rand.Rand) {
	if s.o.duration < 3*time.Minute {
		return
	}
	every(ctx, rng, time.Minute, time.Minute+time.Millisecond, func() {
		cmds := s.reg.snapshot()
		s.reg.mu.Lock()
		answered := 0
		for _, c := range cmds {
			if len(c.Replies) > 0 {
				answered++
			}
		}
		s.reg.mu.Unlock()
		s.fmu.Lock()
		nf := len(s.faults)
		s.fmu.Unlock()
		s.progress("%s in: %d direct commands (%d answered, %d being driven), %d runs created, %d faults",
			time.Since(s.started).Round(time.Second), len(cmds), answered, s.active.Load(), s.runs.count(), nf)
	})
}

// probeMQTT is one get_position round trip (QoS 1, 2 s); it returns when
// the ok reply arrived, or zero.
func (s *soak) probeMQTT(ctx context.Context, n int64) time.Time {
	c := newCommand(fmt.Sprintf("%sprobe%05d", s.idp, n), "get_position", kProbe, 1, nil)
	s.reg.add(c)
	err := s.mq.publish(ctx, c, 0)
	s.reg.mu.Lock()
	c.Attempts = append(c.Attempts, attempt{At: time.Now(), Accepted: err == nil})
	s.reg.mu.Unlock()
	if err != nil {
		_ = stack.Sleep(ctx, 200*time.Millisecond)
		return time.Time{}
	}
	select {
	case <-c.answered:
	case <-time.After(2 * time.Second):
		return time.Time{}
	case <-ctx.Done():
		return time.Time{}
	}
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	if r := c.firstReply(); r.Status == "ok" {
		return r.At
	}
	return time.Time{}
}

func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	for deadline := time.Now().Add(d); ; {
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", d)
		}
		if err := stack.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// simFault posts to the simulator's fault API.
func (s *soak) simFault(ctx context.Context, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+s.control+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s", path, resp.Status)
	}
	return nil
}
