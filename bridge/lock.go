package bridge

import (
	"context"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
)

// A flow that holds a carousel for a sequence of commands (topics.md
// "Locks"): the agent's `lock` {lock_id, timeout_s} and `unlock` {lock_id}
// commands, and the optional `lock_id` field every command takes; while a
// device is locked it refuses commands that act without the matching
// lock_id with error code `locked` (emergency_stop and reads never need
// it). The bridge's part: for a run that run_deployment started inside a
// Python flow, lock_id is that parent flow run's id, so `lock`, the moves
// and `unlock` of one parent flow share one lock id without the flow
// naming it, and runs from anyone else are refused.

// lockID resolves the lock id this run's commands carry: the parent flow
// run's id for a child run (its parent_task_run_id names a task run of the
// parent flow run, src/prefect/deployments/flow_runs.py run_deployment),
// "" for a top-level run, and "" whenever the device's agent does not
// offer `lock` (an agent without locks refuses unknown fields, so an
// older agent never sees lock_id).
func (r *run) lockID(ctx context.Context) string {
	if r.lockResolved {
		return r.lock
	}
	if r.fr.ParentTaskRunID == "" || !r.deps.devs.offers(r.dep.Device, contract.Lock) {
		return ""
	}
	var tr *prefect.TaskRun
	var err error
	for try := 0; try < 3; try++ {
		if tr, err = r.deps.pc.ReadTaskRun(ctx, r.fr.ParentTaskRunID); err == nil || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil || tr.FlowRunID == "" {
		// Without it the command goes out unlocked: a device locked by this
		// flow refuses it (`locked`), never runs it for someone else.
		r.rl.Warnf("could not read the parent task run %s to find the parent flow run (%v); the command is sent without lock_id", r.fr.ParentTaskRunID, err)
		r.lockResolved = true
		return ""
	}
	r.lock, r.lockResolved = tr.FlowRunID, true
	return r.lock
}

// addLockID puts the run's lock id into the command payload. lock and
// unlock need one: a lock_id parameter of the run wins (to release a lock
// from the UI), else the parent flow run's; a top-level lock run without
// lock_id fails with a message saying how to call it.
func (r *run) addLockID(ctx context.Context, payload map[string]any) *prefect.StateCreate {
	if _, given := payload[contract.LockIDField]; given {
		return nil
	}
	if id := r.lockID(ctx); id != "" {
		payload[contract.LockIDField] = id
		r.rl.Infof("lock_id %s (the parent flow run): passes this flow's lock on %s", id, r.dep.Device)
		return nil
	}
	if r.dep.Def.Command == contract.Lock || r.dep.Def.Command == contract.Unlock {
		return ptr(prefect.Failed(string(contract.CodeInvalidArg) + ": " + r.dep.Def.Command + " needs a lock id: call it with run_deployment from inside a flow (the parent flow run's id becomes the lock id, and every later run_deployment of that flow passes the lock), or give lock_id"))
	}
	return nil
}
