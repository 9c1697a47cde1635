package agent

import (
	"context"
	"time"

	"github.com/plate-resort/plate-resort/contract"
)

// emergencyStop acts before anything else is looked at: torque off first,
// then the running command and the queue are interrupted. Only then is the
// payload read, for the reply: a bad payload, a reused id or an expiry can
// delay or refuse any other command, never this one.
func (s *service) emergencyStop(ctx context.Context, in inbound) {
	start := time.Now()
	result, err := s.doEmergencyStop(ctx, nil)
	req, perr := s.catalog().Parse(contract.EmergencyStop, in.payload, in.received)
	if req.Spec == nil {
		req.Spec, _ = s.catalog().Lookup(contract.EmergencyStop)
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
	s.finish(j, result, cerr)
}

// urgentStop is the emergency stop of a message that found the inbox full
// (the session calls it on a goroutine of its own): it never waits its turn.
func (s *service) urgentStop(in inbound) { s.emergencyStop(context.Background(), in) }

// doEmergencyStop switches torque off first, then interrupts: the torque-off
// write goes to the bus ahead of everything waiting for it.
func (s *service) doEmergencyStop(ctx context.Context, _ *contract.Request) (any, error) {
	err := s.resort.EmergencyStop(ctx)
	dropped, running := s.exec.interrupt(errCauseEStop)
	for _, j := range dropped {
		s.replyErr(j, contract.Errorf(contract.CodeEStopped, "dropped from the queue by an emergency stop"))
	}
	s.notify.stateChanged()
	out := contract.EStopResult{Torque: ptr(false), Latched: true, Interrupted: jobID(running), Dropped: len(dropped)}
	if err != nil {
		out.Torque = nil
		return out, err
	}
	return out, nil
}
