package agent

import (
	"context"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/contract"
)

// dispatchLoop takes inbound commands one by one, in arrival order. It does
// only quick work itself (parse, dedupe, route); reads run on the read
// pool (readpool.go, at most maxReads at once), motion goes to the
// executor. Emergency stops never come here: the session hands them over
// at once.
func (s *service) dispatchLoop(ctx context.Context) {
	for {
		in, ok := s.inbox.pop(ctx)
		if !ok {
			return
		}
		s.dispatch(ctx, in)
	}
}

func (s *service) dispatch(ctx context.Context, in inbound) {
	name := s.commandName(in)
	s.counters.receive()
	now := in.received
	if name == contract.EmergencyStop && !in.retain {
		s.noteEStop(in.seq)
		s.emergencyStop(ctx, in)
		return
	}
	req, perr := s.catalog().Parse(name, in.payload, now)
	j := &job{req: req, dest: s.replyDest(in, req), received: now, user: in.user, flowRun: in.flowRun}
	if s.logLevel.get() <= zerolog.DebugLevel {
		s.log.Debug().Str("command", name).Str("id", req.ID).Str("user", in.user).Msg("command received")
	}
	if perr != nil {
		s.replyErr(j, perr)
		return
	}
	if in.retain {
		// Never act on a retained command: it would re-run on every
		// reconnect of every subscriber (Tasmota's "ghost switching").
		s.replyErr(j, contract.Errorf(contract.CodeBadRequest,
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
		s.replyErr(j, contract.Errorf(contract.CodeExpired, "command expired at %s, before the agent received it; it was not executed", req.ExpiresAt.UTC().Format(time.RFC3339Nano)))
		return
	}
	if req.ID != "" && req.Spec.Kind != contract.KindRead {
		// Commands that act are remembered on disk, for the whole window
		// and across restarts (journal.go); reads only in memory below.
		if done := s.journalSeen(j, now); done {
			return
		}
	}
	if req.ID != "" {
		state, stored, other := s.dd.begin(req.ID, req.Command, j.dest, now)
		switch state {
		case seenOther:
			s.sendReply(j.dest, contract.Reply{ID: idPtr(req.ID), Command: req.Command, Status: contract.StatusError,
				Error:      contract.Errorf(contract.CodeBadRequest, "id %q was already used for %s; use a new id per command", req.ID, other),
				ReceivedAt: now, FinishedAt: time.Now().UTC()}, true)
			return
		case seenDone:
			stored.Duplicate = true
			s.sendReply(j.dest, stored, true)
			return
		case seenRunning:
			return // the reply goes to this caller too when the command ends
		}
	}
	if lerr := s.locks.check(req, now); lerr != nil {
		// Someone else holds the lock: refused before it is journaled, so
		// it never started and its id may be sent again after the unlock.
		// A repeat of an id that already ran was answered above from the
		// journal: it was executed, and saying "locked" would be false.
		s.replyErr(j, lerr)
		return
	}
	if req.ID != "" {
		if req.Spec.Kind != contract.KindRead {
			if err := s.journalBegin(req, now); err != nil {
				s.replyErr(j, err) // never started: dedupe forgets the id
				return
			}
			j.journaled = true
		}
	}
	j.ctx, j.cancel = context.WithCancelCause(context.WithValue(context.WithValue(ctx, arrivalKey{}, in.seq), userKey{}, in.user))
	s.eventReceived(j)
	switch req.Spec.Kind {
	case contract.KindRead:
		// Reads run apart, at most maxReads at once: a flood of them
		// waits here, and so (unacknowledged) at the broker.
		if !s.reads.submit(ctx, j) {
			s.replyErr(j, contract.Errorf(contract.CodeCancelled, "agent shutting down before this command ran"))
			return
		}
	case contract.KindControl:
		// Inline, on the dispatch goroutine, in arrival order: a reset
		// published just before an emergency stop can never land after it.
		// Only stop's wait-and-hold part runs apart (it needs the bus).
		if req.Command == contract.Stop {
			st := s.interruptForStop()
			j.started = time.Now()
			go s.runWith(j, func(ctx context.Context, _ *contract.Request) (any, error) { return s.holdAfterStop(ctx, st) })
		} else {
			s.run(j)
		}
	default:
		// An emergency stop that arrived after this command (it acts on
		// arrival, ahead of this loop) dropped everything queued before
		// it, and this command was queued: in the inbox. Same answer as
		// the executor's queue gets (estop.go), never estop_latched, so a
		// caller can tell "stopped" from "refused because stopped".
		if s.estopAfter(in.seq) {
			j.cancel(nil)
			s.replyErr(j, contract.Errorf(contract.CodeEStopped, "dropped by an emergency stop that arrived after it, before it ran"))
			return
		}
		if err := s.exec.submit(j); err != nil {
			j.cancel(nil)
			s.replyErr(j, err)
		}
	}
}

// commandName is the command an inbound message names: the last level of
// <base>/cmd/<name> or of <prefix>/_fleet/cmd/<name>.
func (s *service) commandName(in inbound) string {
	if in.fleet {
		return strings.TrimPrefix(in.topic, contract.FleetCommand(s.topics.Prefix, ""))
	}
	return strings.TrimPrefix(in.topic, s.topics.CommandPrefix())
}

// replyDest is where the reply to in goes besides <base>/reply/<command>.
// A fleet command reaches every agent with one Response Topic (or
// reply_to); each answers below its own device level of it
// (contract.FleetResponseTopic), or not at all there.
func (s *service) replyDest(in inbound, req *contract.Request) destination {
	d := in.dest
	d.replyTo = req.ReplyTo
	if !in.fleet {
		return d
	}
	for _, t := range []*string{&d.responseTopic, &d.replyTo} {
		if *t == "" {
			continue
		}
		mapped, ok := contract.FleetResponseTopic(s.topics.Prefix, s.topics.Device, *t)
		if !ok {
			s.log.Warn().Str("topic", *t).Msg("fleet reply topic refused: name <prefix>/responses/<your-name>[/...]; each device answers on <prefix>/responses/<your-name>/<device>[/...]")
		}
		*t = mapped
	}
	return d
}

// arrivalKey carries a command's arrival number in its context.
type arrivalKey struct{}

// arrival is the arrival number of the command ctx belongs to (0: none).
func arrival(ctx context.Context) uint64 {
	n, _ := ctx.Value(arrivalKey{}).(uint64)
	return n
}
