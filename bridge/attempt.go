package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
)

// attempt sends the command once and returns the final state to propose, or
// nil when rctx ended first.
func (r *run) attempt(rctx context.Context) *prefect.StateCreate {
	if st := r.checkAvailable(rctx); st != nil {
		return st
	}
	params, st := r.params()
	if st != nil {
		return st
	}
	id, timeout := r.commandID(), r.timeout()
	body, st := r.payload(rctx, params, id, timeout)
	if st != nil {
		return st
	}
	key, replies, done := r.deps.req.expect()
	defer done()
	// Taken before the command goes out: a reconnect from now on may have
	// lost it or its reply, so the command is sent again (wait).
	up := r.deps.req.mq.nextUp()
	topic, st := r.send(rctx, body, key, timeout)
	if st != nil {
		return st
	}
	r.sent, r.reply = toAgentParams(r.dep.Def, params), nil
	r.rl.Infof("sent %s to %s on %s (command id %s, parameters %s; reply expected within %s)", r.dep.Def.Command, r.dep.Device, topic, id,
		contract.Clip(string(mustJSON(r.sent)), 500), timeout)
	again := func() { r.resend(rctx, body, key, id) }
	return r.wait(rctx, replies, id, timeout, up, again)
}

// resend publishes the command again, same id, payload and correlation key,
// after the MQTT connection came back (possibly on another broker of
// mqtt.urls): the command or its reply may have been lost with the old
// connection, and an MQTT session does not move between brokers. It is
// safe because the agent never runs an id twice: a repeat joins the
// running command or gets its stored reply (agent dedupe, topics.md). It is
// not sent when less than a second of the command's deadline is left: the
// agent would refuse it as expired before looking the id up.
func (r *run) resend(ctx context.Context, body []byte, key, id string) {
	var p struct {
		ExpiresAt time.Time `json:"expires_at"`
	}
	_ = json.Unmarshal(body, &p)
	left := time.Until(p.ExpiresAt)
	if left < time.Second {
		r.rl.Infof("MQTT connection re-established; command %s not re-sent, its deadline %s is (nearly) past", id, p.ExpiresAt.UTC().Format(time.RFC3339))
		return
	}
	pctx, cancel := context.WithTimeout(ctx, min(left, 10*time.Second))
	defer cancel()
	if _, err := r.deps.req.send(pctx, r.dep.Device, r.dep.Def.Command, body, key, left); err != nil {
		r.rl.Infof("MQTT connection re-established; re-sending command %s failed: %v", id, err)
		return
	}
	r.resent.Add(1)
	r.rl.Infof("MQTT connection re-established; re-sent command %s with the same id (the agent runs an id once: it joins the running command or returns its stored reply)", id)
}

// checkAvailable ends the run Crashed at once when the device's agent is not
// online, instead of waiting out a timeout for a reply that cannot come.
func (r *run) checkAvailable(ctx context.Context) *prefect.StateCreate {
	dev, cfg := r.dep.Device, r.deps.cfg
	wctx, cancel := context.WithTimeout(ctx, cfg.AvailabilityWait)
	defer cancel()
	st, ok := r.deps.devs.await(wctx, dev, func(s deviceStatus) bool { return s.Availability != "" })
	avail := contract.DeviceTopics(cfg.Prefix, dev).Availability()
	if !ok {
		return ptr(prefect.Crashed(fmt.Sprintf("device %s: no availability on %s within %s; is its agent running and connected to the same broker with prefix %q? Nothing was sent.",
			dev, avail, cfg.AvailabilityWait, cfg.Prefix)))
	}
	if st.Gone {
		return ptr(prefect.Crashed(fmt.Sprintf("device %s is gone: its retained info on %s was removed at %s (taken out of service). Nothing was sent.",
			dev, contract.DeviceTopics(cfg.Prefix, dev).Info(), st.GoneAt.UTC().Format(time.RFC3339))))
	}
	if st.Availability == contract.Online {
		return nil
	}
	since := st.Since
	if t, err := time.Parse(time.RFC3339Nano, st.State.UpdatedAt); err == nil && t.Before(since) {
		since = t // the agent's own last word is the better "since"
	}
	return ptr(prefect.Crashed(fmt.Sprintf("device %s is offline since %s (%s = %s: its agent is not connected to the broker). Nothing was sent.",
		dev, since.UTC().Format(time.RFC3339), avail, contract.Offline)))
}

// params decodes the run's parameters (upstream names).
func (r *run) params() (map[string]any, *prefect.StateCreate) {
	var params map[string]any
	if len(r.fr.Parameters) > 0 && string(r.fr.Parameters) != "null" {
		if err := json.Unmarshal(r.fr.Parameters, &params); err != nil {
			return nil, ptr(prefect.Failed(fmt.Sprintf("bad_request: the run's parameters are not a JSON object: %v", err)))
		}
	}
	return params, nil
}

// timeout is the reply wait for the command's kind.
func (r *run) timeout() time.Duration {
	t := r.deps.cfg.CommandTimeout
	switch r.deps.devs.kind(r.dep.Device, r.dep.Def.Command) {
	case contract.KindRead:
		return t.Read
	case contract.KindControl:
		return t.Control
	}
	return t.Motion
}

// payload is the command as the agent takes it: the parameters in its names,
// the command id, the deadline (expires_at) and, for a child run, the lock
// id (lock.go).
func (r *run) payload(ctx context.Context, params map[string]any, id string, timeout time.Duration) ([]byte, *prefect.StateCreate) {
	payload := toAgentParams(r.dep.Def, params)
	if st := r.addLockID(ctx, payload); st != nil {
		return nil, st
	}
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
			return nil, ptr(prefect.Crashed(fmt.Sprintf("the bridge restarted and command %s's deadline (%s) has passed: it was not re-sent, so it cannot run late; the outcome is unknown, check the device's state", id, expires.UTC().Format(time.RFC3339))))
		}
	}
	payload["expires_at"] = expires.UTC().Format(time.RFC3339Nano)
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, ptr(prefect.Failed(fmt.Sprintf("bad_request: parameters cannot be encoded: %v", err)))
	}
	return body, nil
}

// send publishes the command and returns its topic, or the final state when
// it could not go out.
func (r *run) send(rctx context.Context, body []byte, key string, timeout time.Duration) (string, *prefect.StateCreate) {
	dev, cmd := r.dep.Device, r.dep.Def.Command
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
		return "", ptr(prefect.Cancelled("cancelled in Prefect before the command was sent to the device"))
	}
	topic, err := r.deps.req.send(pctx, dev, cmd, body, key, timeout)
	cancel()
	if err != nil {
		if r.cancelledNow() {
			return "", ptr(prefect.Cancelled("cancelled in Prefect before the command could be sent to the device"))
		}
		return "", ptr(prefect.Crashed(fmt.Sprintf("could not send %s to device %s: %v", cmd, dev, err)))
	}
	return topic, nil
}

// wait waits for the reply, logging progress from the retained state and
// reacting to a cancellation in Prefect.
func (r *run) wait(rctx context.Context, replies <-chan []byte, id string, timeout time.Duration, up <-chan struct{}, again func()) *prefect.StateCreate {
	deadline := time.NewTimer(timeout + time.Second) // the agent expires it at timeout
	defer deadline.Stop()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	p := progress{lastPos: math.NaN()}
	for {
		select {
		case msg := <-replies:
			return r.outcome(msg, id)
		case <-r.task.cancelled:
			return r.cancelWhileRunning(rctx, replies, id)
		case <-deadline.C:
			return ptr(prefect.Crashed(fmt.Sprintf("timeout: no reply from device %s to %s within %s (command id %s); the command expired and will not run late",
				r.dep.Device, r.dep.Def.Command, timeout, id)))
		case <-rctx.Done():
			return nil
		case <-up:
			up = r.deps.req.mq.nextUp()
			again() // bounded (resend); a reply arriving meanwhile waits in replies
		case <-tick.C:
			st, _ := r.deps.devs.get(r.dep.Device)
			if crashed := r.wentAway(st, id); crashed != nil {
				return crashed
			}
			p.log(r.rl, r.dep.Device, st.State, id)
		}
	}
}

// wentAway ends a run Crashed when its device went away while the command
// ran: availability offline (the agent's Last Will or clean stop) or its
// retained info removed, for longer than availability_wait, so a broker
// fail-over blip does not end a run whose reply may still come. No reply
// can be expected after that; the device's outcome is unknown.
func (r *run) wentAway(st deviceStatus, id string) *prefect.StateCreate {
	grace, dev := r.deps.cfg.AvailabilityWait, r.dep.Device
	switch {
	case st.Gone && time.Since(st.GoneAt) >= grace:
		return ptr(prefect.Crashed(fmt.Sprintf("device %s went away while running %s (command id %s): its retained info was removed at %s; the outcome is unknown, check the carousel before running again",
			dev, r.dep.Def.Command, id, st.GoneAt.UTC().Format(time.RFC3339))))
	case st.Availability == contract.Offline && time.Since(st.Since) >= grace:
		return ptr(prefect.Crashed(fmt.Sprintf("device %s went offline while running %s (command id %s): %s = %s since %s; the outcome is unknown, check the carousel before running again",
			dev, r.dep.Def.Command, id, contract.DeviceTopics(r.deps.cfg.Prefix, dev).Availability(), contract.Offline, st.Since.UTC().Format(time.RFC3339))))
	}
	return nil
}

// progress is what wait has logged of a command's progress so far.
type progress struct {
	lastPos       float64 // NaN until a position was logged
	waitingLogged bool
}

// log writes a line when the move advanced by half a degree, or once when
// the command waits behind another in the agent's queue.
func (p *progress) log(rl *runLog, dev string, s contract.State, id string) {
	switch {
	case busyWith(s, id) && s.PositionDeg != nil && math.Abs(*s.PositionDeg-p.lastPos) >= 0.5 || busyWith(s, id) && math.IsNaN(p.lastPos) && s.PositionDeg != nil:
		p.lastPos = *s.PositionDeg
		msg := fmt.Sprintf("moving: position %.1f°", p.lastPos)
		if s.Target != nil {
			msg += fmt.Sprintf(", target %.1f°", s.Target.Angle)
			if s.Target.Hotel != nil {
				msg += " (hotel " + *s.Target.Hotel + ")"
			}
		}
		rl.Infof("%s", msg)
	case s.Busy != nil && !busyWith(s, id) && !p.waitingLogged:
		p.waitingLogged = true
		rl.Infof("device %s is busy with %s; this command waits in the agent's queue", dev, s.Busy.Command)
	}
}

// outcome turns a reply payload into the final state.
func (r *run) outcome(p []byte, id string) *prefect.StateCreate {
	def := r.dep.Def
	rep, err := contract.DecodeReply(p, id, def.Command)
	if err != nil {
		r.rl.Errorf("%v", err)
		return ptr(prefect.Failed(err.Error()))
	}
	r.reply = rep
	if rep.Duplicate {
		r.rl.Infof("the device had already run command %s; using its stored reply", id)
	}
	if len(rep.Result) > 0 && string(rep.Result) != "null" {
		r.rl.Infof("reply %s: result %s", rep.Status, contract.Clip(string(rep.Result), 2000))
	}
	if rep.Status == contract.StatusError && rep.Error.Code == contract.CodeExpired && r.resent.Load() > 0 {
		// The answer to the re-sent copy, not to the first: whether the
		// first ran is unknown.
		msg := fmt.Sprintf("the MQTT connection was lost while command %s was in flight and its re-sent copy arrived after the deadline: whether the device executed it is unknown; check its state (%s)", id, rep.Error.Error())
		r.noRetry = true
		r.rl.Errorf("%s", msg)
		return ptr(prefect.Crashed(msg))
	}
	if rep.Status == contract.StatusError {
		msg := rep.Error.Error() // "<code>: <message>"
		switch rep.Error.Code {
		case contract.CodeEStopped, contract.CodeEStopLatched, contract.CodeCancelled, contract.CodeExpired,
			contract.CodeInvalidArg, contract.CodeBadRequest, contract.CodeUnknownCommand, contract.CodeInterrupted:
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
		return ptr(prefect.Failed(fmt.Sprintf("%v: the device's result cannot be stored as a Prefect result", contract.ErrBadReply)))
	}
	return &st
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
