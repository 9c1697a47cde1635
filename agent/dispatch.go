package agent

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/contract"
)

// dispatchLoop takes inbound messages one by one. It does only quick work
// itself (parse, dedupe, route); reads run in their own goroutine, motion
// goes to the executor, and emergency stop acts right here so it never
// waits behind anything.
func (a *Agent) dispatchLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case in := <-a.inbox:
			if in.topic == contract.HAStatus(a.cfg.HomeAssistant.Prefix) {
				if strings.TrimSpace(string(in.payload)) == "online" && a.cfg.HomeAssistant.Enabled {
					// Home Assistant restarted: it needs discovery and state again.
					go func() {
						a.publishDiscovery(ctx)
						a.forceState.Store(true)
						a.kick(a.stateKick)
						a.kick(a.healthKick)
					}()
				}
				continue
			}
			a.dispatch(ctx, in)
		}
	}
}

func (a *Agent) dispatch(ctx context.Context, in inbound) {
	name := strings.TrimPrefix(in.topic, a.topics.CommandPrefix())
	a.counters.mu.Lock()
	a.counters.received++
	a.counters.mu.Unlock()
	now := in.received
	if name == contract.EmergencyStop && !in.retain {
		a.emergencyStop(ctx, in)
		return
	}
	req, perr := a.Catalog().Parse(name, in.payload, now)
	j := &job{req: req, dest: in.dest, received: now}
	j.dest.replyTo = req.ReplyTo
	if perr != nil {
		a.replyErr(j, perr)
		return
	}
	if in.retain {
		// Never act on a retained command: it would re-run on every
		// reconnect of every subscriber (Tasmota's "ghost switching").
		a.replyErr(j, contract.Errorf(contract.CodeBadRequest,
			"retained command refused: publish commands without -r; clear this one with: mosquitto_pub -r -n -t %s", in.topic))
		return
	}
	if in.expiry != nil {
		// The broker hands over the remaining MQTT 5 Message Expiry
		// Interval; the command must not outlive it in our queue either.
		exp := now.Add(time.Duration(*in.expiry) * time.Second)
		if req.ExpiresAt.IsZero() || exp.Before(req.ExpiresAt) {
			req.ExpiresAt = exp
		}
	}
	if req.Expired(now) {
		a.replyErr(j, contract.Errorf(contract.CodeExpired, "command expired at %s, before the agent received it; it was not executed", req.ExpiresAt.UTC().Format(time.RFC3339Nano)))
		return
	}
	if req.ID != "" {
		state, stored, other := a.dd.begin(req.ID, req.Command, j.dest, now)
		switch state {
		case seenOther:
			a.sendReply(j.dest, contract.Reply{ID: idPtr(req.ID), Command: req.Command, Status: contract.StatusError,
				Error:      contract.Errorf(contract.CodeBadRequest, "id %q was already used for %s; use a new id per command", req.ID, other),
				ReceivedAt: now, FinishedAt: time.Now().UTC()}, true)
			return
		case seenDone:
			stored.Duplicate = true
			a.sendReply(j.dest, stored, true)
			return
		case seenRunning:
			return // the reply goes to this caller too when the command ends
		}
	}
	j.ctx, j.cancel = context.WithCancelCause(ctx)
	switch req.Spec.Kind {
	case contract.KindRead:
		go a.run(j)
	case contract.KindControl:
		// Inline, on the dispatch goroutine, in arrival order: a reset
		// published just before an emergency stop can never land after it.
		// Only stop's wait-and-hold part runs apart (it needs the bus).
		if req.Command == contract.Stop {
			st := a.interruptForStop()
			j.started = time.Now()
			go a.runWith(j, func(ctx context.Context, _ *contract.Request) (any, error) { return a.holdAfterStop(ctx, st) })
		} else {
			a.run(j)
		}
	default:
		if err := a.exec.submit(j); err != nil {
			j.cancel(nil)
			a.replyErr(j, err)
		}
	}
}

// workLoop runs motion commands one at a time.
func (a *Agent) workLoop(ctx context.Context) {
	for {
		j := a.exec.next(ctx)
		if j == nil {
			return
		}
		if j.req.Expired(time.Now()) {
			a.replyErr(j, contract.Errorf(contract.CodeExpired, "command expired at %s while waiting in the queue; it was not executed", j.req.ExpiresAt.UTC().Format(time.RFC3339Nano)))
		} else {
			a.run(j)
		}
		a.exec.done(j)
	}
}

// emergencyStop acts before anything else is looked at: torque off first,
// then the running command and the queue are interrupted. Only then is the
// payload read, for the reply: a bad payload, a reused id or an expiry can
// delay or refuse any other command, never this one.
func (a *Agent) emergencyStop(ctx context.Context, in inbound) {
	start := time.Now()
	result, err := a.doEmergencyStop(ctx, nil)
	req, perr := a.Catalog().Parse(contract.EmergencyStop, in.payload, in.received)
	if req.Spec == nil {
		req.Spec, _ = a.Catalog().Lookup(contract.EmergencyStop)
	}
	if perr != nil {
		if r, ok := result.(contract.EStopResult); ok {
			r.PayloadIgnored = perr.Message
			result = r
		}
	}
	j := &job{req: req, dest: in.dest, received: in.received, started: start}
	j.dest.replyTo = req.ReplyTo
	var cerr *contract.Error
	if err != nil {
		cerr = toError(ctx, err)
	}
	a.finish(j, result, cerr)
}

// run executes j's handler and replies.
func (a *Agent) run(j *job) {
	a.runWith(j, a.handlers[j.req.Command])
}

func (a *Agent) runWith(j *job, h handler) {
	if j.started.IsZero() {
		j.started = time.Now()
	}
	result, err := h(j.ctx, j.req)
	var cerr *contract.Error
	if err != nil {
		cerr = toError(j.ctx, err)
	}
	j.cancel(nil)
	a.finish(j, result, cerr)
}

func (a *Agent) replyErr(j *job, e *contract.Error) {
	if j.cancel != nil {
		j.cancel(nil)
	}
	a.finish(j, nil, e)
}

// finish builds the reply, stores it for dedupe and sends it to the caller
// and to anyone who repeated the id meanwhile.
func (a *Agent) finish(j *job, result any, e *contract.Error) {
	r := contract.Reply{Command: j.req.Command, Status: contract.StatusOK, Error: e, ReceivedAt: j.received.UTC(), FinishedAt: time.Now().UTC()}
	if result != nil {
		raw, err := json.Marshal(result)
		if err != nil {
			raw, e = nil, contract.Errorf(contract.CodeInternal, "result not encodable: %v", err)
			r.Error = e
		}
		r.Result = raw
	}
	if j.req.ID != "" {
		r.ID = idPtr(j.req.ID)
	}
	if e != nil {
		r.Status = contract.StatusError
	}
	if !j.started.IsZero() {
		s := j.started.UTC()
		r.StartedAt = &s
	}
	a.counters.count(e)
	a.sendReply(j.dest, r, true)
	if j.req.ID != "" && j.req.Spec != nil {
		// A command that never started (queue_full, expired, cancelled or
		// dropped before running) is forgotten, so resending it with the
		// same id runs it; only executed commands are remembered.
		for _, d := range a.dd.finish(j.req.ID, r, !j.started.IsZero(), time.Now()) {
			dup := r
			dup.Duplicate = true
			a.sendReply(d, dup, true)
		}
	}
	a.kick(a.stateKick)
}

// sendReply publishes r on <base>/reply/<command> (when common) and on the
// caller's own response topic: the MQTT 5 Response Topic with Correlation
// Data echoed, else the body's reply_to.
func (a *Agent) sendReply(d destination, r contract.Reply, common bool) {
	payload, err := json.Marshal(r)
	if err != nil {
		a.log.Error().Err(err).Str("command", r.Command).Msg("reply not encodable")
		return
	}
	if r.Status == contract.StatusError {
		a.log.Info().Str("command", r.Command).Str("code", string(r.Error.Code)).Str("message", r.Error.Message).Msg("command refused or failed")
	}
	name := r.Command
	if _, ok := a.Catalog().Lookup(name); !ok {
		name = "_unknown" // never echo an arbitrary topic level back
	}
	// The caller's own topic first: that is who is waiting.
	own := d.responseTopic
	if own == "" {
		own = d.replyTo
	}
	if own != "" {
		if contract.ValidTopic(own) != nil || !replyAllowed(a.topics, own, a.cfg.HomeAssistant.Prefix) {
			a.log.Warn().Str("topic", own).Msg("reply topic refused: it would overwrite telemetry or discovery; use <prefix>/responses/... or <base>/reply/...")
		} else {
			var props *paho.PublishProperties
			if d.responseTopic != "" {
				props = &paho.PublishProperties{CorrelationData: d.correlation, ContentType: "application/json"}
			}
			a.enqueue(outbound{topic: own, payload: payload, props: props})
		}
	}
	if common {
		a.enqueue(outbound{topic: a.topics.Reply(name), payload: payload})
	}
}

func idPtr(s string) *string { return &s }
