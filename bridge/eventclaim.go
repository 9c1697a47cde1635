package bridge

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// A run of the default queue is claimed straight from its Scheduled event,
// without the get_scheduled_flow_runs poll in between (docs/prefect.md
// §10). That poll was a third of a read's created → Completed: the call
// itself, and the deployment and queue "ready" writes Prefect queues
// behind every poll (src/prefect/server/api/workers.py
// get_scheduled_flow_runs), which the Pending proposal then waited behind
// on the database.
//
// The poll is also where Prefect applies what a worker must respect before
// it claims: a paused pool or queue returns nothing, and a pool or queue
// concurrency limit caps what it returns. So the direct claim is taken only
// where none of that can apply:
//   - the run is on the pool's default queue (a device's queue has a limit
//     of 1, docs/prefect.md §12: those runs always wait for the poll);
//   - the pool and the default queue were read under peersMaxAge ago, and
//     neither was paused nor had a concurrency limit (gate);
//   - the run is due within the second (the event does not carry its
//     scheduled time; Prefect's WaitForScheduledTime only holds back
//     RUNNING, so a run claimed early would sit Pending). A run created
//     just now (createdOnDefaultQueue) is claimed first and its time taken
//     from the Pending, a run claimed before its time put back at once
//     (earlyclaim.go); any other is read by id first, and must still be
//     Scheduled, of this deployment and due.
//
// Everything else, and any failure to read the run, goes the poll's way
// (announced.go). The claim itself is the same as the poll's (run.go): the
// pool's rendezvous share, the settle check when not alone.

// gate is whether Prefect's poll would hand out default-queue runs without
// holding any back, as last read.
type gate struct {
	mu   sync.Mutex
	open bool
	sent time.Time // when the reads behind open were sent
}

func (g *gate) set(open bool, sent time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open, g.sent = open, sent
}

// allows says whether a direct claim may skip the poll at now.
func (g *gate) allows(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.open && now.Sub(g.sent) < peersMaxAge
}

// gateOpen is the poll's own test for the default queue: neither the pool
// nor the queue paused, neither with a concurrency limit.
func gateOpen(wp *prefect.WorkPool, q *prefect.WorkQueue) bool {
	return !wp.IsPaused && wp.ConcurrencyLimit == nil && !q.IsPaused && q.ConcurrencyLimit == nil
}

// refreshGate reads the pool and its default queue (peersLoop).
func (b *Bridge) refreshGate(ctx context.Context) error {
	sent := time.Now()
	wp, err := b.pc.ReadWorkPool(ctx, b.cfg.WorkPool)
	if err != nil {
		b.gate.set(false, sent)
		return fmt.Errorf("read work pool %q: %w", b.cfg.WorkPool, err)
	}
	q, err := b.pc.ReadWorkQueue(ctx, b.cfg.WorkPool, DefaultQueue)
	if err != nil {
		b.gate.set(false, sent)
		return fmt.Errorf("read the default queue of pool %q: %w", b.cfg.WorkPool, err)
	}
	b.gate.set(gateOpen(wp, q), sent)
	return nil
}

// maxEventReads bounds the runs being read for a claim on their event at
// once; more go to the poll.
const maxEventReads = 4

// eventReadTries bounds reading a run that its event announced before the
// run's transaction committed (announced.go): a few tries over ~150 ms, then
// the poll takes over.
var eventReadTries = []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}

// claimFromEvent claims the run ev announced Scheduled, of dep, without
// waiting for a poll when the gate allows; otherwise, or when the run cannot
// be read as due, it leaves the run to the poll, woken now.
func (b *Bridge) claimFromEvent(ctx context.Context, ev prefect.Event, dep *deployment) {
	id := ev.FlowRunID()
	if dep.Queue != DefaultQueue || !b.gate.allows(time.Now()) {
		b.toPoll(id)
		return
	}
	select {
	case b.eventReads <- struct{}{}:
	default:
		// A burst: one poll hands out many runs for one call, where
		// reading each would add a request per run.
		b.toPoll(id)
		return
	}
	if createdOnDefaultQueue(ev) {
		b.claimOnCreate(ctx, ev, dep)
		return
	}
	fr, err := b.readAnnounced(ctx, id)
	<-b.eventReads
	if err != nil || !dueOnDefaultQueue(fr, dep, time.Now()) {
		b.toPoll(id)
		return
	}
	b.startVia(ctx, *fr, dep, modeClaim, claimedOnEvent, nil)
}

// createdOnDefaultQueue says whether ev announces a run created just now
// (Scheduled is its first state) on the default queue, not by a deployment
// schedule: such a run is almost always due at once (run_deployment, a
// Prefect UI "Quick run"), so it is claimed before it is read
// (claimOnCreate). The scheduler creates runs ahead of their time and tags
// them auto-scheduled (src/prefect/server/models/deployments.py); those,
// and a Scheduled that follows another state (a run put back, retried or
// rescheduled), are read first.
func createdOnDefaultQueue(ev prefect.Event) bool {
	q, ok := ev.RelatedName("work-queue")
	return ev.FirstState() && ok && q == DefaultQueue && !ev.Tagged("auto-scheduled")
}

// claimOnCreate proposes the claim for a run createdOnDefaultQueue
// announced while reading the run alongside: the read (~20 ms on an idle
// server, more under load) no longer sits between the event and the
// Pending. What the read decided before is decided from the Pending
// instead: Prefect copies the run's scheduled time onto it
// (src/prefect/server/orchestration/core_policy.py CopyScheduledTime), and
// a run not due within the second is put back to Scheduled at that time
// (earlyclaim.go). Neither the Pending nor the Running waits for the read;
// the command goes out only after it came back (parameters, a parent run's
// lock, retries).
func (b *Bridge) claimOnCreate(ctx context.Context, ev prefect.Event, dep *deployment) {
	id := ev.FlowRunID()
	read := make(chan runRead, 1)
	go func() {
		defer func() { <-b.eventReads }()
		fr, err := b.readAnnounced(ctx, id)
		read <- runRead{fr, err}
	}()
	fr := prefect.FlowRun{ID: id, DeploymentID: dep.ID, WorkQueueName: DefaultQueue, Created: ev.Occurred,
		State: &prefect.State{Type: prefect.StateScheduled, Name: ev.StateName(), Timestamp: ev.Occurred}}
	b.startVia(ctx, fr, dep, modeClaim, claimedOnEvent, &earlyClaim{read: read, toPoll: func() { b.toPoll(id) }})
}

// toPoll hands an announced run to the poll loop (announced.go).
func (b *Bridge) toPoll(id string) {
	b.announced.add(id, time.Now())
	b.kickPoll()
}

// readAnnounced reads run id, trying again briefly while Prefect has not
// committed it yet (404).
func (b *Bridge) readAnnounced(ctx context.Context, id string) (*prefect.FlowRun, error) {
	return untilCommitted(ctx, eventReadTries, func() (*prefect.FlowRun, error) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return b.pc.ReadFlowRun(rctx, id)
	})
}

// untilCommitted calls fn after each delay of tries until it answers
// anything but a 404: a run its event announced may not be committed yet
// (docs/prefect.md §10). The last answer is returned.
func untilCommitted[T any](ctx context.Context, tries []time.Duration, fn func() (T, error)) (T, error) {
	var v T
	var err error
	for _, d := range tries {
		select {
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		case <-time.After(d):
		}
		if v, err = fn(); err == nil || prefect.StatusOf(err) != 404 {
			return v, err
		}
	}
	return v, err
}

// dueOnDefaultQueue says whether fr is what a poll at now would hand out
// from the default queue for dep: Scheduled, this deployment, the default
// queue (a run can be sent to another queue than its deployment's), and
// scheduled within the second (the poll's own scheduled_before, poll.go).
func dueOnDefaultQueue(fr *prefect.FlowRun, dep *deployment, now time.Time) bool {
	return fr.State != nil && fr.State.Type == prefect.StateScheduled &&
		fr.DeploymentID == dep.ID && fr.WorkQueueName == DefaultQueue &&
		fr.NextScheduledStartTime != nil && !fr.NextScheduledStartTime.After(now.Add(time.Second))
}
