package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
)

// cancelLoop is the safety net for cancellation: every poll interval it asks
// Prefect which of our runs in flight are CANCELLING (docs/prefect.md §6: the Python runner
// does the same when its websocket is down).
func (b *Bridge) cancelLoop(ctx context.Context) {
	every(ctx, b.cfg.PollInterval, func() { b.checkCancelled(ctx) })
}

func (b *Bridge) checkCancelled(ctx context.Context) {
	ids := b.inflightIDs()
	if len(ids) == 0 {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	runs, err := b.pc.FilterFlowRuns(fctx, prefect.FlowRunFilter{IDs: ids, StateTypes: []prefect.StateType{prefect.StateCancelling}})
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn().Err(err).Msg("checking Prefect for cancelled runs failed")
		}
		return
	}
	for _, fr := range runs {
		b.signalCancel(fr.ID)
	}
}

func (b *Bridge) inflightIDs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.inflight))
	for id := range b.inflight {
		out = append(out, id)
	}
	return out
}

// signalCancel tells the run's goroutine that Prefect wants it cancelled.
func (b *Bridge) signalCancel(runID string) {
	b.mu.Lock()
	t := b.inflight[runID]
	b.mu.Unlock()
	if t != nil {
		t.cancelOnce.Do(func() { close(t.cancelled) })
	}
}

// cancelledNow reports whether Prefect asked to cancel this run.
func (r *run) cancelledNow() bool {
	select {
	case <-r.task.cancelled:
		return true
	default:
		return false
	}
}

// cancelWhileRunning sends MQTT cancel for id and ends the run Cancelled.
func (r *run) cancelWhileRunning(rctx context.Context, replies <-chan []byte, id string) *prefect.StateCreate {
	r.rl.Infof("cancellation requested in Prefect: sending cancel for command %s", id)
	r.cancelOnDevice(rctx, id)
	select {
	case p := <-replies:
		if rep, err := contract.DecodeReply(p, id, r.dep.Def.Command); err == nil {
			if rep.Status == contract.StatusOK {
				return ptr(prefect.Cancelled(fmt.Sprintf("cancelled in Prefect, but the device had already finished %s: %s", r.dep.Def.Command, contract.Clip(string(rep.Result), 1000))))
			}
			return ptr(prefect.Cancelled(fmt.Sprintf("cancelled in Prefect; the device reports %s: %s", rep.Error.Code, rep.Error.Message)))
		}
	case <-time.After(r.deps.cfg.CommandTimeout.Control):
	case <-rctx.Done():
	}
	return ptr(prefect.Cancelled("cancelled in Prefect; cancel sent to the device, no confirmation received"))
}

// cancelOnDevice sends the agent's cancel command for id and logs its reply.
func (r *run) cancelOnDevice(ctx context.Context, id string) {
	key, replies, done := r.deps.req.expect()
	defer done()
	timeout := r.deps.cfg.CommandTimeout.Control
	cid := "cancel-" + id
	body := mustJSON(map[string]any{"command_id": id, "id": cid})
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := r.deps.req.send(cctx, r.dep.Device, contract.Cancel, body, key, timeout); err != nil {
		r.rl.Warnf("could not send cancel to %s: %v", r.dep.Device, err)
		return
	}
	select {
	case p := <-replies:
		rep, err := contract.DecodeReply(p, cid, contract.Cancel)
		switch {
		case err != nil:
			r.rl.Warnf("cancel: %v", err)
		case rep.Status == contract.StatusOK:
			r.rl.Infof("device confirmed the cancel: %s", contract.Clip(string(rep.Result), 500))
		default:
			r.rl.Infof("device answered the cancel with %s: %s", rep.Error.Code, rep.Error.Message)
		}
	case <-cctx.Done():
		if !errors.Is(cctx.Err(), context.Canceled) {
			r.rl.Warnf("no answer to cancel from %s within %s", r.dep.Device, timeout)
		}
	}
}
