package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
)

// runMode says where a run stands when the bridge takes it up.
type runMode int

const (
	modeClaim      runMode = iota // Scheduled: claim it (Pending, then Running)
	modePending                   // ours, left Pending by a previous life
	modeRunning                   // ours, left Running: re-send with the same command id
	modeCancelling                // ours, Cancelling: cancel on the device, then Cancelled
	modeRetry                     // ours, AwaitingRetry: wait for its time, then Running
)

// runTask is the bridge's handle on a run in flight.
type runTask struct {
	cancelled  chan struct{} // closed when Prefect wants the run cancelled
	cancelOnce sync.Once
}

// run is one flow run being executed.
type run struct {
	b        *Bridge
	fr       prefect.FlowRun
	dep      *deployment
	task     *runTask
	rl       *runLog
	runCount int // Prefect's run_count once our Running proposal is accepted
	// noRetry marks a failure that must not be retried even when the
	// deployment has retries (an e-stop interrupted it, it was cancelled or
	// expired, or its parameters are invalid): see attempts.
	noRetry bool
}

// slot takes one of the bridge's Prefect state-change slots, except for an
// emergency stop, which never waits behind other runs' Prefect calls.
func (r *run) slot(ctx context.Context) func() {
	if r.dep.Def.Command == contract.EmergencyStop {
		return func() {}
	}
	return r.b.acquire(ctx)
}

// start executes fr in its own goroutine unless it is already in flight
// here. Runs are never serialised in the bridge: the agent orders motion, and
// an emergency stop must never wait behind a move.
func (b *Bridge) start(ctx context.Context, fr prefect.FlowRun, dep *deployment, mode runMode) bool {
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
		}()
		r := &run{b: b, fr: fr, dep: dep, task: t, rl: b.newRunLog(fr.ID), runCount: fr.RunCount}
		r.execute(ctx, mode)
	}()
	return true
}

// claimMessage marks our Pending state, so a bridge that died between the
// claim and setting infrastructure_pid still recognises the run as its own.
func claimMessage(worker string) string { return "claimed by plate-resort bridge " + worker }

func (r *run) execute(ctx context.Context, mode runMode) {
	rctx, cancel := context.WithTimeout(ctx, r.b.cfg.RunTimeout)
	defer cancel()
	switch mode {
	case modeClaim:
		if !r.claim(rctx) || !r.toRunning(ctx, rctx) {
			return
		}
	case modePending:
		r.rl.Infof("bridge %s restarted: resuming this run, which it had claimed", r.b.cfg.WorkerName)
		if !r.toRunning(ctx, rctx) {
			return
		}
	case modeRunning:
		r.rl.Infof("bridge %s restarted: re-sending command %s with the same id; the agent returns its stored reply or joins the running command", r.b.cfg.WorkerName, r.commandID())
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

// claim proposes PENDING (§4): only an ACCEPT with PENDING back makes the run
// ours; ABORT means another worker won the race, REJECT a concurrency slot
// or cancellation decided otherwise.
func (r *run) claim(ctx context.Context) bool {
	p := prefect.Pending()
	p.Message = claimMessage(r.b.cfg.WorkerName)
	release := r.slot(ctx)
	defer release()
	res, err := r.b.pc.ProposeState(ctx, r.fr.ID, p)
	if err != nil {
		r.b.log.Warn().Err(err).Str("flow_run", r.fr.ID).Msg("claim failed; the run stays scheduled for the next poll")
		return false
	}
	if res.Status != prefect.Accept || res.State == nil || res.State.Type != prefect.StatePending {
		r.b.log.Debug().Str("flow_run", r.fr.ID).Str("status", string(res.Status)).Str("reason", res.Details.Reason).Msg("run not claimed")
		return false
	}
	pid := r.b.cfg.WorkerName + "/" + r.fr.ID
	patch := prefect.FlowRunPatch{InfrastructurePID: &pid}
	if n := r.dep.Cfg.Retries; n > 0 && r.fr.EmpiricalPolicy.Retries == nil {
		// A deployment cannot carry retries (§5): set them on the run, as
		// the Python engine does from @flow(retries=...).
		delay := int(r.dep.Cfg.RetryDelay / time.Second)
		patch.EmpiricalPolicy = &prefect.EmpiricalPolicy{Retries: &n, RetryDelay: &delay}
	}
	if err := r.b.pc.PatchFlowRun(ctx, r.fr.ID, patch); err != nil {
		r.rl.Warnf("could not record the bridge as this run's infrastructure (%v); a restart may not recover it", err)
	}
	return true
}

// toRunning proposes RUNNING (ProposeState obeys WAIT).
func (r *run) toRunning(ctx, rctx context.Context) bool {
	release := r.slot(rctx)
	res, err := r.b.pc.ProposeState(rctx, r.fr.ID, prefect.Running())
	release()
	if err != nil {
		if ctx.Err() == nil {
			r.finish(ctx, prefect.Crashed(fmt.Sprintf("the bridge could not start the run in Prefect: %v", err)))
		}
		return false
	}
	if res.Status == prefect.Accept && res.State != nil && res.State.Type == prefect.StateRunning {
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

// commandID is the MQTT command id of the current attempt: the flow run id,
// so a re-send after a restart is recognised by the agent's dedupe; retries
// append the run count, because a retry must run again.
func (r *run) commandID() string {
	if r.runCount <= 1 {
		return r.fr.ID
	}
	return fmt.Sprintf("%s-%d", r.fr.ID, r.runCount)
}

// attempts runs the command until a final state (retrying while Prefect
// answers a Failed proposal with AwaitingRetry, §5).
func (r *run) attempts(ctx, rctx context.Context) {
	for {
		st := r.attempt(rctx)
		if ctx.Err() != nil {
			r.rl.Warnf("bridge stopping before the device replied; the run is resumed when the bridge starts again")
			return
		}
		if st == nil {
			st = ptr(prefect.Crashed(fmt.Sprintf("no outcome within run_timeout %s; the bridge gave up waiting for the device", r.b.cfg.RunTimeout)))
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

func ptr[T any](v T) *T { return &v }

// awaitRetry sleeps until the AwaitingRetry state's scheduled time and
// proposes RUNNING again: polling never re-offers an in-process retry (§5).
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
			r.finish(ctx, prefect.Crashed(fmt.Sprintf("run_timeout %s passed while awaiting a retry", r.b.cfg.RunTimeout)))
		}
		return false
	}
	return r.toRunning(ctx, rctx)
}

// finish proposes a final state and returns the state Prefect holds now.
// It runs on a context that outlives the run timeout, so a timed-out run
// still ends Crashed.
func (r *run) finish(ctx context.Context, s prefect.StateCreate) *prefect.State {
	if s.Type == prefect.StateFailed && r.noRetry && r.dep.Cfg.Retries > 0 {
		// Prefect would turn this Failed into AwaitingRetry; an interrupted,
		// cancelled, expired or invalid command must not run again by
		// itself (after an e-stop reset, a retry would resume the move).
		n := max(r.runCount-1, 0)
		if err := r.b.pc.PatchFlowRun(context.WithoutCancel(ctx), r.fr.ID, prefect.FlowRunPatch{EmpiricalPolicy: &prefect.EmpiricalPolicy{Retries: &n}}); err != nil {
			r.rl.Warnf("could not switch retries off for this failure (%v)", err)
		}
	}
	var res *prefect.OrchestrationResult
	var err error
	// Keep trying while the bridge runs: a Prefect restart or a locked
	// database at this moment must not leave the run Running forever. If
	// the bridge stops first, recovery at the next start finishes it.
	for delay := time.Second; ; delay = min(2*delay, 30*time.Second) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		release := r.slot(fctx)
		res, err = r.b.pc.ProposeState(fctx, r.fr.ID, s)
		release()
		cancel()
		if err == nil {
			break
		}
		r.b.log.Error().Err(err).Str("flow_run", r.fr.ID).Str("state", string(s.Type)).Dur("retry_in", delay).Msg("could not report the run's outcome to Prefect; retrying")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
	}
	if res.State != nil && res.State.Type == prefect.StateCancelling && s.Type != prefect.StateCancelled {
		// Cancelled in Prefect meanwhile: only CANCELLED may follow (§6).
		return r.finish(ctx, prefect.Cancelled("cancelled in Prefect; the device's outcome was: "+clip(s.Message, 1500)))
	}
	if res.State != nil && res.State.Type != s.Type {
		r.b.log.Info().Str("flow_run", r.fr.ID).Str("proposed", string(s.Type)).Str("now", res.State.Name).Msg("Prefect chose another state")
	}
	return res.State
}

// timeout is the reply wait for the command's kind.
func (r *run) timeout() time.Duration {
	specs, _ := r.b.catalog(r.dep.Device, true)
	kind := contract.KindMotion
	if s, ok := specs[r.dep.Def.Command]; ok {
		kind = s.Kind
	}
	switch kind {
	case contract.KindRead:
		return r.b.cfg.CommandTimeout.Read
	case contract.KindControl:
		return r.b.cfg.CommandTimeout.Control
	}
	return r.b.cfg.CommandTimeout.Motion
}

// cancelledNow reports whether Prefect asked to cancel this run.
func (r *run) cancelledNow() bool {
	select {
	case <-r.task.cancelled:
		return true
	default:
		return false
	}
}

// attempt sends the command once and returns the final state to propose, or
// nil when rctx ended first.
func (r *run) attempt(rctx context.Context) *prefect.StateCreate {
	dev, cmd := r.dep.Device, r.dep.Def.Command
	if st := r.checkAvailable(rctx, dev); st != nil {
		return st
	}
	var params map[string]any
	if len(r.fr.Parameters) > 0 && string(r.fr.Parameters) != "null" {
		if err := json.Unmarshal(r.fr.Parameters, &params); err != nil {
			return ptr(prefect.Failed(fmt.Sprintf("bad_request: the run's parameters are not a JSON object: %v", err)))
		}
	}
	payload := toAgentParams(r.dep.Def, params)
	id := r.commandID()
	timeout := r.timeout()
	payload["id"] = id
	expires := time.Now().Add(timeout)
	if r.fr.State != nil && r.fr.State.Type == prefect.StateRunning && !r.fr.State.Timestamp.IsZero() && r.runCount <= 1 {
		// Re-sending a run a previous bridge life had started: the command
		// keeps its original deadline, so it never runs later than it would
		// have the first time.
		if orig := r.fr.State.Timestamp.Add(timeout); orig.Before(expires) {
			expires = orig
		}
		if !expires.After(time.Now()) {
			return ptr(prefect.Crashed(fmt.Sprintf("the bridge restarted and command %s's deadline (%s) has passed: it was not re-sent, so it cannot run late; the outcome is unknown, check the device's state", id, expires.UTC().Format(time.RFC3339))))
		}
	}
	payload["expires_at"] = expires.UTC().Format(time.RFC3339Nano)
	body, err := json.Marshal(payload)
	if err != nil {
		return ptr(prefect.Failed(fmt.Sprintf("bad_request: parameters cannot be encoded: %v", err)))
	}
	key, replies := r.b.corr.register()
	defer r.b.corr.done(key)
	topic := r.b.cfg.Prefix + "/" + dev + "/cmd/" + cmd
	expiry := uint32(math.Ceil(timeout.Seconds()))
	pctx, cancel := context.WithTimeout(rctx, timeout)
	// A cancellation while waiting for the broker must stop the command
	// from going out late.
	go func() {
		select {
		case <-r.task.cancelled:
			cancel()
		case <-pctx.Done():
		}
	}()
	if r.cancelledNow() {
		cancel()
		return ptr(prefect.Cancelled("cancelled in Prefect before the command was sent to the device"))
	}
	err = r.b.mq.publish(pctx, &paho.Publish{Topic: topic, Payload: body, Properties: &paho.PublishProperties{
		ResponseTopic: r.b.mq.respTopic + "/" + dev, CorrelationData: []byte(key), MessageExpiry: &expiry,
	}})
	cancel()
	if err != nil {
		if r.cancelledNow() {
			return ptr(prefect.Cancelled("cancelled in Prefect before the command could be sent to the device"))
		}
		return ptr(prefect.Crashed(fmt.Sprintf("could not send %s to device %s: %v", cmd, dev, err)))
	}
	r.rl.Infof("sent %s to %s on %s (command id %s, parameters %s; reply expected within %s)", cmd, dev, topic, id, clip(string(mustJSON(toAgentParams(r.dep.Def, params))), 500), timeout)
	return r.wait(rctx, replies, id, timeout)
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// checkAvailable ends the run Crashed at once when the device's agent is not
// online, instead of waiting out a timeout for a reply that cannot come.
func (r *run) checkAvailable(ctx context.Context, dev string) *prefect.StateCreate {
	wctx, cancel := context.WithTimeout(ctx, r.b.cfg.AvailabilityWait)
	defer cancel()
	st, ok := r.b.devs.await(wctx, dev, func(s deviceStatus) bool { return s.Availability != "" })
	avail := r.b.cfg.Prefix + "/" + dev + "/availability"
	if !ok {
		return ptr(prefect.Crashed(fmt.Sprintf("device %s: no availability on %s within %s; is its agent running and connected to the same broker with prefix %q? Nothing was sent.",
			dev, avail, r.b.cfg.AvailabilityWait, r.b.cfg.Prefix)))
	}
	if st.Availability == "online" {
		return nil
	}
	since := st.Since
	if t, err := time.Parse(time.RFC3339Nano, st.State.UpdatedAt); err == nil && t.Before(since) {
		since = t // the agent's own last word is the better "since"
	}
	return ptr(prefect.Crashed(fmt.Sprintf("device %s is offline since %s (%s = offline: its agent is not connected to the broker). Nothing was sent.",
		dev, since.UTC().Format(time.RFC3339), avail)))
}

// wait waits for the reply, logging progress from the retained state and
// reacting to a cancellation in Prefect.
func (r *run) wait(rctx context.Context, replies <-chan []byte, id string, timeout time.Duration) *prefect.StateCreate {
	deadline := time.NewTimer(timeout + time.Second) // the agent expires it at timeout
	defer deadline.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var lastPos = math.NaN()
	waitingLogged := false
	for {
		select {
		case p := <-replies:
			return r.outcome(p, id)
		case <-r.task.cancelled:
			return r.cancelWhileRunning(rctx, replies, id)
		case <-deadline.C:
			return ptr(prefect.Crashed(fmt.Sprintf("timeout: no reply from device %s to %s within %s (command id %s); the command expired and will not run late",
				r.dep.Device, r.dep.Def.Command, timeout, id)))
		case <-rctx.Done():
			return nil
		case <-tick.C:
			st, _ := r.b.devs.get(r.dep.Device)
			s := st.State
			switch {
			case s.busyWith(id) && s.PositionDeg != nil && math.Abs(*s.PositionDeg-lastPos) >= 0.5 || s.busyWith(id) && math.IsNaN(lastPos) && s.PositionDeg != nil:
				lastPos = *s.PositionDeg
				msg := fmt.Sprintf("moving: position %.1f°", lastPos)
				if s.Target != nil {
					msg += fmt.Sprintf(", target %.1f°", s.Target.Angle)
					if s.Target.Hotel != nil {
						msg += " (hotel " + *s.Target.Hotel + ")"
					}
				}
				r.rl.Infof("%s", msg)
			case s.Busy != nil && !s.busyWith(id) && !waitingLogged:
				waitingLogged = true
				r.rl.Infof("device %s is busy with %s; this command waits in the agent's queue", r.dep.Device, s.Busy.Command)
			}
		}
	}
}

// outcome turns a reply payload into the final state.
func (r *run) outcome(p []byte, id string) *prefect.StateCreate {
	def := r.dep.Def
	rep, err := decodeReply(p, id, def.Command)
	if err != nil {
		r.rl.Errorf("%v", err)
		return ptr(prefect.Failed(err.Error()))
	}
	if rep.Duplicate {
		r.rl.Infof("the device had already run command %s; using its stored reply", id)
	}
	if len(rep.Result) > 0 && string(rep.Result) != "null" {
		r.rl.Infof("reply %s: result %s", rep.Status, clip(string(rep.Result), 2000))
	}
	if rep.Status == "error" {
		msg := rep.Error.Code + ": " + rep.Error.Message
		switch rep.Error.Code {
		case "estopped", "estop_latched", "cancelled", "expired", "invalid_argument", "bad_request", "unknown_command":
			r.noRetry = true
		}
		r.rl.Errorf("device refused or failed %s: %s", def.Command, msg)
		return ptr(prefect.Failed(msg))
	}
	data, err := shapeResult(def, rep.Result)
	if err != nil {
		r.rl.Errorf("%v", err)
		return ptr(prefect.Failed(err.Error()))
	}
	st, err := prefect.Completed(def.Command+" done on "+r.dep.Device, data)
	if err != nil {
		return ptr(prefect.Failed(fmt.Sprintf("%v: the device's result cannot be stored as a Prefect result", errBadReply)))
	}
	return &st
}

// cancelWhileRunning sends MQTT cancel for id and ends the run Cancelled.
func (r *run) cancelWhileRunning(rctx context.Context, replies <-chan []byte, id string) *prefect.StateCreate {
	r.rl.Infof("cancellation requested in Prefect: sending cancel for command %s", id)
	r.cancelOnDevice(rctx, id)
	select {
	case p := <-replies:
		if rep, err := decodeReply(p, id, r.dep.Def.Command); err == nil {
			if rep.Status == "ok" {
				return ptr(prefect.Cancelled(fmt.Sprintf("cancelled in Prefect, but the device had already finished %s: %s", r.dep.Def.Command, clip(string(rep.Result), 1000))))
			}
			return ptr(prefect.Cancelled(fmt.Sprintf("cancelled in Prefect; the device reports %s: %s", rep.Error.Code, rep.Error.Message)))
		}
	case <-time.After(r.b.cfg.CommandTimeout.Control):
	case <-rctx.Done():
	}
	return ptr(prefect.Cancelled("cancelled in Prefect; cancel sent to the device, no confirmation received"))
}

// cancelOnDevice sends the agent's cancel command for id and logs its reply.
func (r *run) cancelOnDevice(ctx context.Context, id string) {
	key, replies := r.b.corr.register()
	defer r.b.corr.done(key)
	timeout := r.b.cfg.CommandTimeout.Control
	cid := "cancel-" + id
	body := mustJSON(map[string]any{"command_id": id, "id": cid})
	expiry := uint32(math.Ceil(timeout.Seconds()))
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := r.b.mq.publish(cctx, &paho.Publish{Topic: r.b.cfg.Prefix + "/" + r.dep.Device + "/cmd/" + contract.Cancel, Payload: body,
		Properties: &paho.PublishProperties{ResponseTopic: r.b.mq.respTopic + "/" + r.dep.Device, CorrelationData: []byte(key), MessageExpiry: &expiry}})
	if err != nil {
		r.rl.Warnf("could not send cancel to %s: %v", r.dep.Device, err)
		return
	}
	select {
	case p := <-replies:
		rep, err := decodeReply(p, cid, contract.Cancel)
		switch {
		case err != nil:
			r.rl.Warnf("cancel: %v", err)
		case rep.Status == "ok":
			r.rl.Infof("device confirmed the cancel: %s", clip(string(rep.Result), 500))
		default:
			r.rl.Infof("device answered the cancel with %s: %s", rep.Error.Code, rep.Error.Message)
		}
	case <-cctx.Done():
		if !errors.Is(cctx.Err(), context.Canceled) {
			r.rl.Warnf("no answer to cancel from %s within %s", r.dep.Device, timeout)
		}
	}
}
