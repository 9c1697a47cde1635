package agent

import (
	"context"
	"time"

	"github.com/plate-resort/plate-resort/contract"
)

// The control commands other than emergency_stop (estop.go): they act on
// the executor itself and never wait in its queue.

// stopInfo is what the inline part of stop did.
type stopInfo struct {
	running *job
	dropped int
}

// interruptForStop is stop's inline part: end the running command and drop
// the queue, without waiting for either.
func (s *service) interruptForStop() stopInfo {
	dropped, running := s.exec.interrupt(errCauseStop)
	for _, j := range dropped {
		s.replyErr(j, contract.Errorf(contract.CodeCancelled, "dropped from the queue by a stop command"))
	}
	return stopInfo{running: running, dropped: len(dropped)}
}

// holdAfterStop is stop's second part: the carousel holds its position.
func (s *service) holdAfterStop(ctx context.Context, st stopInfo) (any, error) {
	out := contract.StopResult{Interrupted: jobID(st.running), Dropped: st.dropped}
	if !s.resort.Opened() {
		return out, nil
	}
	if s.resort.EStopped() {
		out.Note = "emergency stop is latched; torque stays off"
		return out, nil
	}
	if st.running != nil {
		// The interrupted move holds position itself as it ends; wait for
		// that rather than fight it for the bus.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if r, _ := s.exec.busy(); r != st.running {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		pos, err := s.resort.Position(ctx)
		if err == nil {
			out.PositionDeg = ptr(degrees(pos))
		}
		return out, err
	}
	pos, err := s.resort.Hold(ctx)
	if err != nil {
		return out, err
	}
	out.PositionDeg = ptr(degrees(pos))
	return out, nil
}

func (s *service) doReset(ctx context.Context, _ *contract.Request) (any, error) {
	if s.estopAfter(arrival(ctx)) {
		// An emergency stop acts the moment it arrives; this reset was
		// published before it and only now had its turn. It must not undo
		// the stop that came after it.
		return nil, contract.Errorf(contract.CodeEStopLatched, "an emergency stop arrived after this reset; the stop stays latched: send reset again")
	}
	was := s.resort.ResetEStop()
	s.notify.stateChanged()
	return contract.ResetResult{WasLatched: was, Torque: s.resort.Torque()}, nil
}

func (s *service) doCancel(_ context.Context, req *contract.Request) (any, error) {
	id := req.String("command_id")
	removed, running := s.exec.cancelID(id, errCauseCancel)
	switch {
	case removed != nil:
		s.replyErr(removed, contract.Errorf(contract.CodeCancelled, "cancelled by command %s before it ran", orNone(req.ID)))
		return contract.CancelResult{CommandID: id, Was: "queued"}, nil
	case running:
		return contract.CancelResult{CommandID: id, Was: "running"}, nil
	}
	return nil, contract.Errorf(contract.CodeInvalidArg, "no queued or running command has id %q", id)
}

func jobID(j *job) *string {
	if j == nil {
		return nil
	}
	if j.req.ID == "" {
		return ptr(j.req.Command)
	}
	return ptr(j.req.ID)
}

func orNone(s string) string {
	if s == "" {
		return "(no id)"
	}
	return s
}
