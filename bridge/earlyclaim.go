package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// A run claimed on its creation event before it was read (claimOnCreate,
// eventclaim.go) has two checks left once Prefect accepted the Pending:
// that it is due (dueAtClaim, before the Running proposal), and the read
// itself (awaitRead, after it). Both decide before anything reaches the
// device.

// earlyClaim is what a run claimed before it was read carries.
type earlyClaim struct {
	read   <-chan runRead // the read, under way
	toPoll func()         // hands the run to the poll (eventclaim.go)
}

// runRead is the read claimOnCreate made alongside the claim.
type runRead struct {
	fr  *prefect.FlowRun
	err error
}

// proposeClaim proposes our Pending. An early claim can reach Prefect
// before the run's creation committed (its event is sent from inside that
// transaction, docs/prefect.md §10): a 404 is tried again as the read is
// (eventReadTries).
func (r *run) proposeClaim(ctx context.Context, p prefect.StateCreate) (*prefect.OrchestrationResult, error) {
	tries := []time.Duration{0}
	if r.early != nil {
		tries = eventReadTries
	}
	return untilCommitted(ctx, tries, func() (*prefect.OrchestrationResult, error) {
		return r.deps.pc.ProposeState(ctx, r.fr.ID, p)
	})
}

// dueAtClaim says whether the claimed run is due within the second, by the
// scheduled time Prefect copied onto our Pending (claimed). A run created
// for later (run_deployment with scheduled_time, a Prefect UI run "later")
// is put back to Scheduled at its time, where the poll finds it when due:
// a worker holds a claim only shortly before a run's time (Prefect's own
// worker prefetches 10 s, src/prefect/workers/base.py).
func (r *run) dueAtClaim(ctx context.Context, claimed *prefect.State) bool {
	when := claimed.StateDetails.ScheduledTime
	if when == nil || !when.After(time.Now().Add(time.Second)) {
		return true
	}
	r.putBack(ctx, *when, fmt.Sprintf("scheduled for %s, not due yet", when.UTC().Format(time.RFC3339)))
	return false
}

// putBack returns our Pending to Scheduled at when. Should that fail, the
// run stays Pending as ours: the stray sweep resumes it (recover.go), and
// Prefect holds its RUNNING back until when (WaitForScheduledTime,
// docs/prefect.md §4), so it still does not run early.
func (r *run) putBack(ctx context.Context, when time.Time, why string) {
	s := prefect.StateCreate{Type: prefect.StateScheduled, Name: "Scheduled",
		Message:      fmt.Sprintf("returned to Scheduled by plate-resort bridge %s: %s (claimed on its creation event before it was read)", r.deps.cfg.WorkerName, why),
		StateDetails: prefect.StateDetailsCreate{ScheduledTime: &when}}
	release := r.slot(ctx)
	res, err := r.deps.pc.ProposeState(ctx, r.fr.ID, s)
	release()
	if err == nil && res.Status == prefect.Accept {
		r.rl.Infof("%s", s.Message)
		return
	}
	reason := ""
	if err != nil {
		reason = err.Error()
	} else {
		reason = string(res.Status) + ": " + res.Details.Reason
	}
	r.rl.Warnf("claimed this run before its time (%s) and could not return it to Scheduled (%s); it stays Pending and is started at its time", why, reason)
}

// awaitRead takes the run's read claimOnCreate made alongside the claim,
// once the run is Running: the read is needed only for the command
// (parameters, a parent run's lock) and for recordClaim (retries), so
// neither the Pending nor the Running waits for it. A read that keeps
// failing ends the run Crashed with nothing sent.
func (r *run) awaitRead(ctx, rctx context.Context) bool {
	var rr runRead
	select {
	case rr = <-r.early.read:
	case <-rctx.Done():
		if ctx.Err() == nil {
			r.finish(ctx, prefect.Crashed(fmt.Sprintf("run_timeout %s passed before the bridge could read the run from Prefect; nothing was sent to the device", r.deps.cfg.RunTimeout)))
		}
		return false
	}
	for try := 0; rr.err != nil && try < 3 && rctx.Err() == nil; try++ {
		time.Sleep(200 * time.Millisecond)
		rr.fr, rr.err = r.deps.pc.ReadFlowRun(rctx, r.fr.ID)
	}
	if rr.err != nil {
		if ctx.Err() == nil {
			r.finish(ctx, prefect.Crashed(fmt.Sprintf("the bridge could not read the run from Prefect (%v); nothing was sent to the device", rr.err)))
		}
		return false
	}
	fr := *rr.fr
	if fr.DeploymentID != r.dep.ID || fr.WorkQueueName != DefaultQueue {
		// The event named both, so this is not expected.
		r.finish(ctx, prefect.Crashed(fmt.Sprintf("the run is of deployment %s on queue %q, not what its Scheduled event said (%s on %q); nothing was sent to the device",
			fr.DeploymentID, fr.WorkQueueName, r.dep.ID, DefaultQueue)))
		return false
	}
	// The run was created just now (its first state was Scheduled), so
	// its run_count was 0 and is now ours (toRunning); its state is ours
	// too. The rest is the read's.
	fr.State, fr.RunCount = r.fr.State, r.fr.RunCount
	r.fr = fr
	r.recordClaim(ctx)
	return true
}
