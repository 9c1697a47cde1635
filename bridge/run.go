package bridge

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
)

// One flow run, forward: Bridge.start → run.execute → claim → toRunning →
// attempts → attempt (attempt.go: check the device, build the command,
// send, wait for the reply, outcome) → finish. Cancellation is in
// cancel.go, the restart cases in recover.go.

// runDeps is everything a run uses, built once by the Bridge (New): a run
// gets these and nothing else, so it never reaches back into the Bridge.
type runDeps struct {
	pc    *prefect.Client
	req   *requester    // commands to the devices and their replies
	devs  *devices      // retained availability, state and catalogue
	slots proposalSlots // see proposalSlots
	ship  *logShipper   // run logs to Prefect
	peers *peers        // which bridge of the pool claims which run
	log   zerolog.Logger
	cfg   runConfig
	// artifactFailures counts artifacts Prefect did not take (artifacts.go).
	artifactFailures atomic.Uint64

	// metrics counts final states (metrics.go); nil in tests that build
	// runDeps by hand.
	metrics *bridgeMetrics
}

// runConfig are the settings a run reads.
type runConfig struct {
	Prefix           string
	WorkerName       string
	WorkPool         string
	RunTimeout       time.Duration
	AvailabilityWait time.Duration
	CommandTimeout   TimeoutsConfig
}

func newRunDeps(cfg Config, log zerolog.Logger, pc *prefect.Client, req *requester, devs *devices, ship *logShipper) *runDeps {
	return &runDeps{pc: pc, req: req, devs: devs, slots: make(proposalSlots, maxConcurrentProposals), ship: ship, log: log,
		peers: newPeers(cfg.WorkerName, 2*cfg.HeartbeatInterval),
		cfg: runConfig{Prefix: cfg.Prefix, WorkerName: cfg.WorkerName, WorkPool: cfg.WorkPool, RunTimeout: cfg.RunTimeout,
			AvailabilityWait: cfg.AvailabilityWait, CommandTimeout: cfg.CommandTimeout}}
}

// proposalSlots bounds concurrent state proposals: a burst of runs must not
// pile up writers on a SQLite-backed Prefect server (one writer lock).
type proposalSlots chan struct{}

// maxConcurrentProposals: see proposalSlots.
const maxConcurrentProposals = 4

// acquire takes a proposal slot; the returned func gives it back.
func (s proposalSlots) acquire(ctx context.Context) func() {
	select {
	case s <- struct{}{}:
		return func() { <-s }
	case <-ctx.Done():
		return func() {}
	}
}

// runMode says where a run stands when the bridge takes it up.
type runMode int

const (
	modeClaim      runMode = iota // Scheduled: claim it (Pending, then Running)
	modePending                   // ours, left Pending by a previous life
	modeRunning                   // ours, left Running: re-send with the same command id
	modeCancelling                // ours, Cancelling: cancel on the device, then Cancelled
	modeRetry                     // ours, AwaitingRetry: wait for its time, then Running
	modeStray                     // ours, left Pending by this life (recover.go strayLoop)
)

// runTask is the bridge's handle on a run in flight.
type runTask struct {
	cancelled  chan struct{} // closed when Prefect wants the run cancelled
	cancelOnce sync.Once
}

// run is one flow run being executed.
type run struct {
	deps     *runDeps
	fr       prefect.FlowRun
	dep      *deployment
	task     *runTask // nil for a run recovery only finishes
	rl       *runLog
	runCount int // Prefect's run_count once our Running proposal is accepted
	// noRetry marks a failure that must not be retried even when the
	// deployment has retries (an e-stop interrupted it, it was cancelled or
	// expired, or its parameters are invalid): see attempts.
	noRetry bool
	// resent counts re-sends of the command after a reconnect (attempt.go).
	resent atomic.Int32
	// sent and reply are the current attempt's parameters as sent to the
	// agent and its reply (nil until one came), for the artifacts.
	sent  map[string]any
	reply *contract.Reply
	// lock is the lock id the run's commands carry (lock.go), once
	// lockResolved.
	lock         string
	lockResolved bool
	// alone: claimed while alone in the pool, without the settle check
	// (peers.go). patch is recordClaim's.
	alone bool
	patch *claimPatch
	// via is how the run was found, for the claims metric.
	via claimPath
	// early is set for a run claimed on its creation event before it was
	// read (claimOnCreate, earlyclaim.go).
	early *earlyClaim
}

func newRun(deps *runDeps, fr prefect.FlowRun, dep *deployment, task *runTask) *run {
	return &run{deps: deps, fr: fr, dep: dep, task: task, rl: newRunLog(deps.log, deps.ship, fr.ID), runCount: fr.RunCount}
}

// start executes fr in its own goroutine unless it is already in flight
// here. Runs are never serialised in the bridge: the agent orders motion, and
// an emergency stop must never wait behind a move.
func (b *Bridge) start(ctx context.Context, fr prefect.FlowRun, dep *deployment, mode runMode) bool {
	return b.startVia(ctx, fr, dep, mode, claimedOnPoll, nil)
}

// claimPath is how the bridge found a run it claims (metrics.go).
type claimPath string

const (
	claimedOnPoll  claimPath = "poll"
	claimedOnEvent claimPath = "event"
)

// startVia is start for a run found by via; early, when not nil, is a
// claim before the run was read, and fr only what its event said
// (claimOnCreate).
func (b *Bridge) startVia(ctx context.Context, fr prefect.FlowRun, dep *deployment, mode runMode, via claimPath, early *earlyClaim) bool {
	b.mu.Lock()
	if _, busy := b.inflight[fr.ID]; busy {
		b.mu.Unlock()
		return false
	}
	t := &runTask{cancelled: make(chan struct{})}
	b.inflight[fr.ID] = t
	b.mu.Unlock()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer func() {
			b.mu.Lock()
			delete(b.inflight, fr.ID)
			b.mu.Unlock()
			// The run freed its device's work queue slot (docs/prefect.md
			// §12): the next run waiting there can be handed out now, not
			// at the next safety-net poll. The default queue has no slots,
			// so a run there frees nothing and is not worth a poll.
			if dep.Queue != DefaultQueue {
				b.kickPoll()
			}
		}()
		r := newRun(b.runDeps, fr, dep, t)
		r.via, r.early = via, early
		r.execute(ctx, mode)
	}()
	return true
}

func (r *run) execute(ctx context.Context, mode runMode) {
	rctx, cancel := context.WithTimeout(ctx, r.deps.cfg.RunTimeout)
	defer cancel()
	switch mode {
	case modeClaim:
		if !r.claim(rctx) || !r.toRunning(ctx, rctx) {
			return
		}
		if r.early != nil && !r.awaitRead(ctx, rctx) {
			return
		}
	case modePending:
		r.rl.Infof("bridge %s restarted: resuming this run, which it had claimed", r.deps.cfg.WorkerName)
		if !r.toRunning(ctx, rctx) {
			return
		}
	case modeStray:
		r.rl.Infof("bridge %s resumes this run: its claim was left Pending (the claim check could not confirm it)", r.deps.cfg.WorkerName)
		if !r.toRunning(ctx, rctx) {
			return
		}
	case modeRunning:
		r.rl.Infof("bridge %s restarted: re-sending command %s with the same id; the agent returns its stored reply or joins the running command", r.deps.cfg.WorkerName, r.commandID())
	case modeCancelling:
		r.cancelOnDevice(rctx, r.commandID())
		r.finish(ctx, prefect.Cancelled("cancelled in Prefect; cancel sent to the device after the bridge restarted"))
		return
	case modeRetry:
		if !r.awaitRetry(ctx, rctx, r.fr.State) {
			return
		}
	}
	r.attempts(ctx, rctx)
}

// claimSettle is how long a claim waits before checking it was not also
// given to another worker: longer than the few milliseconds seen between
// two racing accepts, short against a run's total.
const claimSettle = 60 * time.Millisecond

// stillOurs reads the run after settle and reports whether its current
// state is still the one Prefect gave us (by state id). When it is not,
// another worker holds the run and this one sends nothing. A run that
// cannot be read is not ours either: nothing is sent on a guess.
func (r *run) stillOurs(ctx context.Context, stateID string, settle time.Duration) bool {
	if settle > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(settle):
		}
	}
	var fr *prefect.FlowRun
	var err error
	for try := 0; try < 3; try++ {
		if fr, err = r.deps.pc.ReadFlowRun(ctx, r.fr.ID); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	switch {
	case err != nil:
		r.deps.log.Warn().Err(err).Str("flow_run", r.fr.ID).Msg("could not confirm the claim; nothing sent")
		return false
	case fr.State == nil || fr.State.ID != stateID:
		now := "none"
		if fr.State != nil {
			now = fr.State.Name + ": " + fr.State.Message
		}
		r.deps.log.Info().Str("flow_run", r.fr.ID).Str("now", contract.Clip(now, 200)).Msg("another worker holds this run; leaving it to them")
		return false
	}
	return true
}

// wonClaim reads the run's state history after claimSettle and reports
// whether our Pending (stateID) is the first since the last SCHEDULED
// state. Every claimer reads the same history, so exactly one wins.
func (r *run) wonClaim(ctx context.Context, stateID string) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(claimSettle):
	}
	var states []prefect.State
	var err error
	for try := 0; try < 3; try++ {
		if states, err = r.deps.pc.ReadFlowRunStates(ctx, r.fr.ID); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		r.deps.log.Warn().Err(err).Str("flow_run", r.fr.ID).Msg("could not confirm the claim; nothing sent")
		return false
	}
	first := firstClaim(states)
	if first == nil && !progressed(states) {
		// A Scheduled-type state sorts after every Pending: either the run
		// was re-scheduled after the claims (then it is back in the poll),
		// or its timestamp is older than its commit (below). The run's
		// current state tells which.
		first = r.currentClaim(ctx)
	}
	if first == nil || first.ID != stateID || progressed(states) {
		who := "nobody"
		if first != nil {
			who = first.Message
		}
		r.deps.log.Info().Str("flow_run", r.fr.ID).Str("winner", contract.Clip(who, 200)).Msg("another worker claimed this run first; leaving it to them")
		return false
	}
	return true
}

// currentClaim is the run's current state when it is a PENDING, else nil.
//
// Prefect stamps a state when the request is read, not when it commits. Seen
// on PostgreSQL with 100 devices: the late-runs service's Late (stamped
// 20:01:50.006) committed before our Pending (stamped 20:01:49.895), which had
// waited on the run's row lock; the history then reads Scheduled, Pending,
// Late while the run is Pending, and firstClaim finds no claim at all. Nobody
// ran the run and no poll saw it again (it was not Scheduled). The current
// state is the last commit, so a Pending there came after every state that
// sorts after it: its claimer wins. Every claimer reads the same current
// state, so still exactly one wins.
func (r *run) currentClaim(ctx context.Context) *prefect.State {
	fr, err := r.deps.pc.ReadFlowRun(ctx, r.fr.ID)
	if err != nil || fr.State == nil || fr.State.Type != prefect.StatePending {
		return nil
	}
	return fr.State
}

// firstClaim is the earliest PENDING after the last SCHEDULED state
// (Scheduled, Late, AwaitingRetry), or nil. Equal timestamps are ordered by
// state id, so every reader picks the same one.
func firstClaim(states []prefect.State) *prefect.State {
	start := 0
	for i, s := range states {
		if s.Type == prefect.StateScheduled {
			start = i + 1
		}
	}
	var first *prefect.State
	for i := start; i < len(states); i++ {
		s := &states[i]
		if s.Type != prefect.StatePending {
			continue
		}
		if first == nil || s.Timestamp.Before(first.Timestamp) || (s.Timestamp.Equal(first.Timestamp) && s.ID < first.ID) {
			first = s
		}
	}
	return first
}

// progressed reports whether the run went past Pending since it was last
// scheduled: another claimer got there first (its Pending may have been
// committed after we read, but not its start).
func progressed(states []prefect.State) bool {
	for i := len(states) - 1; i >= 0 && states[i].Type != prefect.StateScheduled; i-- {
		if states[i].Type != prefect.StatePending {
			return true
		}
	}
	return false
}

// claimMessage marks our Pending state, so a bridge that died between the
// claim and setting infrastructure_pid still recognises the run as its own.
func claimMessage(worker string) string { return "claimed by plate-resort bridge " + worker }

// claim proposes PENDING (docs/prefect.md §4): only an ACCEPT with PENDING back makes the run
// ours; ABORT means another worker won the race, REJECT a concurrency slot
// or cancellation decided otherwise.
func (r *run) claim(ctx context.Context) bool {
	if r.deps.peers.stale(2 * peersMaxAge) {
		// The refresh loop (peers.go) is behind: read the list here, so a
		// bridge that just joined the pool is seen before runs are shared
		// out.
		sent := time.Now()
		if ws, err := r.deps.pc.FilterWorkers(ctx, r.deps.cfg.WorkPool); err == nil {
			r.deps.peers.update(ws, sent)
		}
	}
	if !r.deps.peers.mayClaim(r.fr.ID, due(r.fr), time.Now()) {
		return false // another bridge of the pool is this run's (peers.go)
	}
	// Alone in the pool, nobody can race this claim: the settle and the
	// re-reads are skipped (peers.go). Decided once, before the proposal.
	r.alone = r.deps.peers.alone(time.Now())
	p := prefect.Pending()
	p.Message = claimMessage(r.deps.cfg.WorkerName)
	release := r.slot(ctx)
	defer release()
	res, err := r.proposeClaim(ctx, p)
	if err != nil {
		r.deps.log.Warn().Err(err).Str("flow_run", r.fr.ID).Msg("claim failed; the run stays scheduled for the next poll")
		if r.early != nil {
			r.early.toPoll()
		}
		return false
	}
	if res.Status != prefect.Accept || res.State == nil || res.State.Type != prefect.StatePending {
		r.deps.log.Debug().Str("flow_run", r.fr.ID).Str("status", string(res.Status)).Str("reason", res.Details.Reason).Msg("run not claimed")
		return false
	}
	if r.early != nil && !r.dueAtClaim(ctx, res.State) {
		return false
	}
	// Prefect accepts PENDING for a second worker even when the run is
	// already Pending (seen on 3.8.8 with SQLite: two Pending states 6-80
	// ms apart, both workers ran the flow, run_count 2; it even accepted
	// the loser's RUNNING after Completed). So the workers agree through
	// the history instead: the earliest Pending since the run was last
	// scheduled wins; every other claimer backs off without sending.
	if !r.alone && !r.wonClaim(ctx, res.State.ID) {
		return false
	}
	r.deps.metrics.claimed(r.via)
	if r.early == nil {
		r.recordClaim(ctx) // an early claim records it once read (awaitRead)
	}
	return true
}

// recordClaim marks the run as this bridge's (infrastructure_pid, which
// recovery reads) and sets the deployment's retries on it, in the
// background: neither is needed before the command goes out.
//
// The retries must be in Prefect before a Failed proposal (docs/prefect.md
// §5), so with retries to set the patch starts at once. Otherwise it waits
// recordDelay: a read or an emergency stop is final by then, and the
// patch, one more write Prefect serialises with the run's own state
// changes, added ~10 ms to such a run's Pending → Running (fleetbench
// phases, README "Fleet"). Until the patch, recovery knows the run as ours
// by its state message (claimMessage while Pending, runMessage while
// Running; recover.go owns).
func (r *run) recordClaim(ctx context.Context) {
	pid := r.deps.cfg.WorkerName + "/" + r.fr.ID
	patch := prefect.FlowRunPatch{InfrastructurePID: &pid}
	now := false
	if n := r.dep.Cfg.Retries; n > 0 && r.fr.EmpiricalPolicy.Retries == nil {
		// A deployment cannot carry retries (docs/prefect.md §5): set them on the run, as
		// the Python engine does from @flow(retries=...).
		delay := int(r.dep.Cfg.RetryDelay / time.Second)
		patch.EmpiricalPolicy = &prefect.EmpiricalPolicy{Retries: &n, RetryDelay: &delay}
		now = true
	}
	r.patch = &claimPatch{do: func() {
		if err := r.deps.pc.PatchFlowRun(ctx, r.fr.ID, patch); err != nil {
			r.rl.Warnf("could not record the bridge as this run's infrastructure (%v); a restart may not recover it", err)
		}
	}}
	if now {
		r.patch.start()
	} else {
		r.patch.startAfter(recordDelay)
	}
}

// recordDelay: see recordClaim.
const recordDelay = time.Second

// patchWait settles recordClaim's patch before the final state s is
// proposed: a patch under way is waited for (a later patch of the retries,
// proposeFinal, must not be overwritten by it); one not yet started is
// made now when s is Failed (Prefect may answer AwaitingRetry, which
// recovery knows as ours only by infrastructure_pid) and dropped otherwise.
func (r *run) patchWait(s prefect.StateCreate) {
	if r.patch != nil {
		r.patch.settle(s.Type == prefect.StateFailed)
	}
}

// claimPatch is recordClaim's patch, started at once or after a delay.
type claimPatch struct {
	do    func()
	mu    sync.Mutex
	timer *time.Timer
	done  chan struct{} // nil until started; closed when finished
}

func (p *claimPatch) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startLocked()
}

func (p *claimPatch) startLocked() {
	if p.done != nil {
		return
	}
	done := make(chan struct{})
	p.done = done
	go func() { defer close(done); p.do() }()
}

func (p *claimPatch) startAfter(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = time.AfterFunc(d, p.start)
}

// settle stops a pending start (or, with need, starts it now) and waits for
// a started patch.
func (p *claimPatch) settle(need bool) {
	p.mu.Lock()
	if p.timer != nil {
		p.timer.Stop()
	}
	if need {
		p.startLocked()
	}
	done := p.done
	p.mu.Unlock()
	if done != nil {
		<-done
	}
}

// runMessage marks our Running state, as claimMessage our Pending.
func runMessage(worker string) string { return "run by plate-resort bridge " + worker }

// toRunning proposes RUNNING (ProposeState obeys WAIT).
func (r *run) toRunning(ctx, rctx context.Context) bool {
	release := r.slot(rctx)
	running := prefect.Running()
	running.Message = runMessage(r.deps.cfg.WorkerName)
	res, err := r.deps.pc.ProposeState(rctx, r.fr.ID, running)
	release()
	if err != nil {
		if ctx.Err() == nil {
			r.finish(ctx, prefect.Crashed(fmt.Sprintf("the bridge could not start the run in Prefect: %v", err)))
		}
		return false
	}
	if res.Status == prefect.Accept && res.State != nil && res.State.Type == prefect.StateRunning {
		// The same check once more before anything reaches the device: a
		// worker that raced us past the claim would show its own state.
		// Alone in the pool there is no such worker (peers.go).
		if !r.alone && !r.stillOurs(rctx, res.State.ID, 0) {
			return false
		}
		r.runCount++
		return true
	}
	if res.State != nil && res.State.Type == prefect.StateCancelling {
		r.finish(ctx, prefect.Cancelled("cancelled in Prefect before the command was sent to the device"))
		return false
	}
	r.rl.Warnf("Prefect did not let the run start (%s: %s); nothing was sent to the device", res.Status, res.Details.Reason)
	return false
}

// attempts runs the command until a final state (retrying while Prefect
// answers a Failed proposal with AwaitingRetry, docs/prefect.md §5).
func (r *run) attempts(ctx, rctx context.Context) {
	for {
		st := r.attempt(rctx)
		if ctx.Err() != nil {
			r.rl.Warnf("bridge stopping before the device replied; the run is resumed when the bridge starts again")
			return
		}
		if st == nil {
			st = ptr(prefect.Crashed(fmt.Sprintf("no outcome within run_timeout %s; the bridge gave up waiting for the device", r.deps.cfg.RunTimeout)))
		}
		now := r.finish(ctx, *st)
		if now == nil || st.Type != prefect.StateFailed || now.Type != prefect.StateScheduled {
			return
		}
		if !r.awaitRetry(ctx, rctx, now) {
			return
		}
	}
}

// awaitRetry sleeps until the AwaitingRetry state's scheduled time and
// proposes RUNNING again: polling never re-offers an in-process retry (docs/prefect.md §5).
func (r *run) awaitRetry(ctx, rctx context.Context, st *prefect.State) bool {
	when := time.Now()
	if st != nil && st.StateDetails.ScheduledTime != nil {
		when = *st.StateDetails.ScheduledTime
	}
	r.rl.Infof("Prefect scheduled a retry (AwaitingRetry) at %s", when.UTC().Format(time.RFC3339))
	select {
	case <-time.After(time.Until(when)):
	case <-r.task.cancelled:
		r.finish(ctx, prefect.Cancelled("cancelled in Prefect while awaiting a retry"))
		return false
	case <-rctx.Done():
		if ctx.Err() == nil {
			r.finish(ctx, prefect.Crashed(fmt.Sprintf("run_timeout %s passed while awaiting a retry", r.deps.cfg.RunTimeout)))
		}
		return false
	}
	return r.toRunning(ctx, rctx)
}

// finish proposes a final state and returns the state Prefect holds now;
// then it writes the run's artifacts, which never delay or change the
// state (artifacts.go).
func (r *run) finish(ctx context.Context, s prefect.StateCreate) *prefect.State {
	now := r.proposeFinal(ctx, s)
	if now != nil {
		r.report(ctx, s, now)
	}
	r.deps.ship.flushSoon()
	return now
}

// proposeFinal proposes a final state and returns the state Prefect holds
// now. It runs on a context that outlives the run timeout, so a timed-out
// run still ends Crashed.
func (r *run) proposeFinal(ctx context.Context, s prefect.StateCreate) *prefect.State {
	r.patchWait(s)
	if s.Type == prefect.StateFailed && r.noRetry {
		// Prefect would turn this Failed into AwaitingRetry when the run
		// has retries left, whoever set them (this config, the deployment
		// or the run in Prefect); an interrupted, cancelled, expired or
		// invalid command must not run again by itself (after an e-stop
		// reset, a retry would resume the move). So its retries are set to
		// the tries it has had, whatever they were.
		n := max(r.runCount-1, 0)
		if err := r.deps.pc.PatchFlowRun(context.WithoutCancel(ctx), r.fr.ID, prefect.FlowRunPatch{EmpiricalPolicy: &prefect.EmpiricalPolicy{Retries: &n}}); err != nil {
			r.rl.Warnf("could not switch retries off for this failure (%v)", err)
		}
	}
	res := r.propose(ctx, s)
	if res == nil {
		return nil
	}
	if res.State != nil && res.State.Type == prefect.StateCancelling && s.Type != prefect.StateCancelled {
		// Cancelled in Prefect meanwhile: only CANCELLED may follow (docs/prefect.md §6).
		return r.proposeFinal(ctx, prefect.Cancelled("cancelled in Prefect; the device's outcome was: "+contract.Clip(s.Message, 1500)))
	}
	if res.State != nil && res.State.Type != s.Type {
		r.deps.log.Info().Str("flow_run", r.fr.ID).Str("proposed", string(s.Type)).Str("now", res.State.Name).Msg("Prefect chose another state")
	}
	r.deps.metrics.finished(r.fr, r.dep, res.State)
	return res.State
}

// propose proposes the final state s until Prefect answers; nil when ctx
// ends first.
func (r *run) propose(ctx context.Context, s prefect.StateCreate) *prefect.OrchestrationResult {
	// Keep trying while the bridge runs: a Prefect restart or a locked
	// database at this moment must not leave the run Running forever. If
	// the bridge stops first, recovery at the next start finishes it.
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		release := r.slot(fctx)
		res, err := r.deps.pc.ProposeState(fctx, r.fr.ID, s)
		release()
		cancel()
		if err == nil {
			return res
		}
		r.deps.log.Error().Err(err).Str("flow_run", r.fr.ID).Str("state", string(s.Type)).Dur("retry_in", delay).Msg("could not report the run's outcome to Prefect; retrying")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
}

// slot takes one of the bridge's Prefect state-change slots, except for an
// emergency stop, which never waits behind other runs' Prefect calls.
func (r *run) slot(ctx context.Context) func() {
	if r.dep.Def.Command == contract.EmergencyStop {
		return func() {}
	}
	return r.deps.slots.acquire(ctx)
}

// commandID is the MQTT command id of the current attempt: the flow run id,
// so a re-send after a restart is recognised by the agent's dedupe; retries
// append the run count, because a retry must run again.
func (r *run) commandID() string {
	if r.runCount <= 1 {
		return r.fr.ID
	}
	return fmt.Sprintf("%s-%d", r.fr.ID, r.runCount)
}

func ptr[T any](v T) *T { return &v }
