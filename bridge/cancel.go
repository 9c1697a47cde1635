package bridge

import (
	"context"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// cancelLoop is the safety net for cancellation: every poll interval it asks
// Prefect which of our runs in flight are CANCELLING (§6: the Python runner
// does the same when its websocket is down).
func (b *Bridge) cancelLoop(ctx context.Context) {
	t := time.NewTicker(b.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids := b.inflightIDs()
		if len(ids) == 0 {
			continue
		}
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		runs, err := b.pc.FilterFlowRuns(fctx, prefect.FlowRunFilter{IDs: ids, StateTypes: []prefect.StateType{prefect.StateCancelling}})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn().Err(err).Msg("checking Prefect for cancelled runs failed")
			}
			continue
		}
		for _, fr := range runs {
			b.signalCancel(fr.ID)
		}
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
