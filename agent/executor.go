package agent

import (
	"context"
	"sync"
	"time"

	"github.com/plate-resort/plate-resort/contract"
)

// job is one accepted command on its way through the executor.
type job struct {
	req      *contract.Request
	dest     destination
	received time.Time
	started  time.Time
	// journaled: the id was recorded in the journal (journalBegin) and
	// must be finished or forgotten there.
	journaled bool
	// refused: the handler refused it before it did anything.
	refused bool
	// user and flowRun are who sent it (the broker's stamp) and the
	// Prefect flow run it came from, for its events (events.go).
	user, flowRun string
	// latchedAtStart: an e-stop was latched when it started (events.go).
	latchedAtStart bool

	ctx    context.Context
	cancel context.CancelCauseFunc
}

// executor runs motion commands one at a time, in arrival order, from a
// bounded queue. Control commands (e-stop, stop, cancel) reach into it
// without waiting: they cancel the running job's context and drop queued
// jobs. It never touches the bus itself.
type executor struct {
	mu      sync.Mutex
	queue   []*job
	running *job
	size    int
	wake    chan struct{}
	changed func() // state changed (queue length, busy)
}

func newExecutor(size int, changed func()) *executor {
	return &executor{size: size, wake: make(chan struct{}, 1), changed: changed}
}

// submit queues j, or refuses with queue_full.
func (e *executor) submit(j *job) *contract.Error {
	e.mu.Lock()
	if len(e.queue) >= e.size {
		n := len(e.queue)
		e.mu.Unlock()
		return contract.Errorf(contract.CodeQueueFull, "%d commands are already waiting (queue_size %d); retry when the running move ends", n, e.size)
	}
	e.queue = append(e.queue, j)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	e.changed()
	return nil
}

// next blocks until a job is available or ctx ends. A job that expired
// while it waited comes back with expired set and never runs (nor counts as
// started, so dedupe forgets it). Any other is marked started and running
// under the lock, before busy can hand it to telemetry, which reads started
// from its own goroutine.
func (e *executor) next(ctx context.Context) (j *job, expired bool) {
	for {
		if ctx.Err() != nil {
			return nil, false // shutting down: nothing new starts
		}
		e.mu.Lock()
		if len(e.queue) > 0 {
			j := e.queue[0]
			e.queue = e.queue[1:]
			now := time.Now()
			expired := j.req.Expired(now)
			if !expired {
				j.started = now
				e.running = j
			}
			e.mu.Unlock()
			e.changed()
			return j, expired
		}
		e.mu.Unlock()
		select {
		case <-e.wake:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// done clears the running job.
func (e *executor) done(j *job) {
	e.mu.Lock()
	if e.running == j {
		e.running = nil
	}
	e.mu.Unlock()
	e.changed()
}

// cancelID cancels the queued or running job with id. It returns the
// removed queued job (the caller replies for it), whether a running job was
// signalled, and whether anything matched.
func (e *executor) cancelID(id string, cause error) (removed *job, running bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.running != nil && e.running.req.ID == id {
		e.running.cancel(cause)
		return nil, true
	}
	for i, j := range e.queue {
		if j.req.ID == id {
			e.queue = append(e.queue[:i:i], e.queue[i+1:]...)
			go e.changed()
			return j, false
		}
	}
	return nil, false
}

// interrupt cancels the running job with cause and drops the queue,
// returning the dropped jobs so the caller can reply for them.
func (e *executor) interrupt(cause error) (dropped []*job, running *job) {
	e.mu.Lock()
	dropped, e.queue = e.queue, nil
	running = e.running
	if running != nil {
		running.cancel(cause)
	}
	e.mu.Unlock()
	e.changed()
	return dropped, running
}

// busy returns the running job, if any, and the queue length.
func (e *executor) busy() (*job, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running, len(e.queue)
}
