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
	j := &job{req: req, dest: s.replyDest(in, req), received: in.received, started: start, user: in.user, flowRun: in.flowRun}
	var cerr *contract.Error
	if err != nil {
		cerr = toError(ctx, err)
	}
	s.finish(j, result, cerr)
}

// urgentStop is every emergency stop (the session calls it on a goroutine
// of its own): it never waits its turn. Its arrival number is recorded
// first, so a reset or connect that arrived before it cannot clear it.
func (s *service) urgentStop(in inbound) {
	s.noteEStop(in.seq)
	s.counters.receive()
	s.emergencyStop(context.Background(), in)
}

// noteEStop records the arrival number of the latest emergency stop.
func (s *service) noteEStop(seq uint64) {
	for {
		old := s.estopSeq.Load()
		if seq <= old || s.estopSeq.CompareAndSwap(old, seq) {
			return
		}
	}
}

// estopAfter says whether an emergency stop arrived after the command
// with arrival number seq.
func (s *service) estopAfter(seq uint64) bool { return s.estopSeq.Load() > seq }

// refuseBusy answers a command that found the inbox full: nothing is
// dropped without a word.
func (s *service) refuseBusy(in inbound) {
	s.counters.receive()
	s.counters.drop()
	req, _ := s.catalog().Parse(s.commandName(in), in.payload, in.received)
	j := &job{req: req, dest: s.replyDest(in, req), received: in.received, user: in.user, flowRun: in.flowRun}
	s.finish(j, nil, contract.Errorf(contract.CodeQueueFull,
		"agent busy: %d commands are already waiting; this one was not executed: retry later", inboxLimit))
}

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
