package bridge

import (
	"sync"
	"time"
)

// announced are runs a Prefect event said were Scheduled that no poll has
// returned yet. Prefect emits the state-change event from the orchestration
// transform, before the transaction that creates the run commits
// (src/prefect/server/orchestration/instrumentation_policies.py
// InstrumentFlowRunStateTransitions.after_transition), so the poll the event
// wakes can run before the run is visible; without a second look the run
// waited for the next safety-net poll (poll_interval, 5 s: the p99 of the
// fleet benchmark). The poll loop polls again soon while a run announced
// in the last announceWindow is still missing.
type announced struct {
	mu  sync.Mutex
	ids map[string]time.Time // run id -> when the event came
}

// announceWindow bounds how long an announced run is looked for: a run
// scheduled for later, or one held back by its work queue's concurrency
// limit, is not returned by a poll and must not keep the loop busy.
const announceWindow = 3 * time.Second

func (a *announced) add(id string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ids == nil {
		a.ids = map[string]time.Time{}
	}
	a.ids[id] = now
}

// seen drops the runs a poll returned or the bridge already runs, and those
// announced more than announceWindow ago; it reports whether any announced
// run is still missing.
func (a *announced) seen(found func(id string) bool, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for id, at := range a.ids {
		if found(id) || now.Sub(at) > announceWindow {
			delete(a.ids, id)
		}
	}
	return len(a.ids) > 0
}

// repollDelay is the wait before the n-th poll (0-based) after an event in
// a row that still missed a run: 25 ms, doubling, at most 400 ms.
func repollDelay(n int) time.Duration {
	return min(25*time.Millisecond<<min(n, 4), 400*time.Millisecond)
}
