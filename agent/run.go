package agent

import (
	"context"
	"errors"
	"time"

	"github.com/plate-resort/plate-resort/contract"
)

// workLoop runs motion commands one at a time, in arrival order.
func (s *service) workLoop(ctx context.Context) {
	for {
		j, expired := s.exec.next(ctx)
		if j == nil {
			return
		}
		if expired {
			s.replyErr(j, contract.Errorf(contract.CodeExpired, "command expired at %s while waiting in the queue; it was not executed", j.req.ExpiresAt.UTC().Format(time.RFC3339Nano)))
		} else if lerr := s.locks.check(j.req, time.Now()); lerr != nil {
			// Queued before someone locked the carousel: the lock holder
			// owns it now, so this never starts (and is not remembered).
			j.refused = true
			s.replyErr(j, lerr)
		} else {
			s.run(j)
		}
		s.exec.done(j)
	}
}

// run executes j's handler and replies.
func (s *service) run(j *job) {
	s.runWith(j, s.handlers[j.req.Command])
}

func (s *service) runWith(j *job, h handler) {
	// Executor jobs come started (executor.next); reads and control
	// commands, which telemetry never sees as running, start here.
	if j.started.IsZero() {
		j.started = time.Now()
	}
	s.eventStarted(j)
	result, err := h(j.ctx, j.req)
	var cerr *contract.Error
	if err != nil {
		cerr = toError(j.ctx, err)
		// Refused before it did anything: the reply says it never started
		// (telemetry may still read started, so it is left alone).
		j.refused = errors.As(err, new(notStarted))
	}
	j.cancel(nil)
	s.finish(j, result, cerr)
}

// replyErr answers a command that did not run (or was refused).
func (s *service) replyErr(j *job, e *contract.Error) {
	if j.cancel != nil {
		j.cancel(nil)
	}
	s.finish(j, nil, e)
}
