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
//   - the run, read by id, is still Scheduled, of this deployment, and due
//     within the second (the event does not carry its scheduled time;
//     Prefect's WaitForScheduledTime only holds back RUNNING, so a run
//     claimed early would sit Pending).
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

// claimFromEvent claims run id of dep, announced Scheduled by an event,
// without waiting for a poll when the gate allows; otherwise, or when the run
// cannot be read as due, it leaves the run to the poll, woken now.
func (b *Bridge) claimFromEvent(ctx context.Context, id string, dep *deployment) {
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
	fr, err := b.readAnnounced(ctx, id)
	<-b.eventReads
	if err != nil || !dueOnDefaultQueue(fr, dep, time.Now()) {
		b.toPoll(id)
		return
	}
	b.startVia(ctx, *fr, dep, modeClaim, claimedOnEvent)
}

// toPoll hands an announced run to the poll loop (announced.go).
func (b *Bridge) toPoll(id string) {
	b.announced.add(id, time.Now())
	b.kickPoll()
}

// readAnnounced reads run id, trying again briefly while Prefect has not
// committed it yet (404).
func (b *Bridge) readAnnounced(ctx context.Context, id string) (*prefect.FlowRun, error) {
	var err error
	for _, d := range eventReadTries {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var fr *prefect.FlowRun
		fr, err = b.pc.ReadFlowRun(rctx, id)
		cancel()
		if err == nil {
			return fr, nil
		}
		if prefect.StatusOf(err) != 404 {
			return nil, err
		}
	}
	return nil, err
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
