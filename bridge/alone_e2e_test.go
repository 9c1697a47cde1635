package bridge

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// A bridge alone in its pool claims runs on the events websocket (the
// safety-net poll is 7-13 s away, the longest poll_interval allowed), each run is executed once (one
// Pending, one Running, run_count 1) although the lone bridge skips the
// claim's settle check, and a clean stop removes its worker record so a
// bridge of the same pool stops counting it at once (peers.go,
// announced.go, docs/prefect.md §4 and §10).
func TestLoneBridgeClaimsOnEventsAndLeavesThePool(t *testing.T) {
	r := newRig(t, rigOptions{configure: func(c *Config) { c.PollInterval = 10 * time.Second }})
	b, stop := r.startBridge(r.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	deadline := time.Now().Add(30 * time.Second)
	for !b.runDeps.peers.alone(time.Now()) {
		if time.Now().After(deadline) {
			t.Fatal("the only bridge of its pool never counted itself alone")
		}
		time.Sleep(100 * time.Millisecond)
	}
	dep, err := r.pc.ReadDeploymentByName(ctx, "get-position", "get-position")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		fr, err := r.pc.CreateFlowRun(ctx, dep.ID, prefect.FlowRunCreate{Parameters: map[string]any{}})
		if err != nil {
			t.Fatal(err)
		}
		// Runs take well under a second here when the event claims them; a
		// run left to the safety-net poll takes up to 13 s.
		var got *prefect.FlowRun
		t0 := time.Now()
		for end := t0.Add(6 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if got, err = r.pc.ReadFlowRun(ctx, fr.ID); err == nil && got.State != nil && got.State.Type.IsFinal() {
				break
			}
		}
		if got == nil || got.State == nil || got.State.Type != prefect.StateCompleted {
			t.Fatalf("run %d: %+v, want Completed within 6 s (claimed on its event)", i, got)
		}
		t.Logf("run %d final after %v", i, time.Since(t0).Round(time.Millisecond))
		sts, err := r.pc.ReadFlowRunStates(ctx, fr.ID)
		if err != nil {
			t.Fatal(err)
		}
		count := map[prefect.StateType]int{}
		for _, s := range sts {
			count[s.Type]++
		}
		if count[prefect.StatePending] != 1 || count[prefect.StateRunning] != 1 || got.RunCount != 1 {
			t.Fatalf("run %d: %d Pending, %d Running, run_count %d; want 1, 1, 1", i, count[prefect.StatePending], count[prefect.StateRunning], got.RunCount)
		}
	}

	// Most of these runs (default queue, due now) are claimed on their
	// event without a poll (eventclaim.go); one whose event came before
	// Prefect committed it may still go through the poll.
	var m dto.Metric
	if err := b.metrics.claims.WithLabelValues(string(claimedOnEvent)).Write(&m); err != nil {
		t.Fatal(err)
	}
	if n := m.GetCounter().GetValue(); n < 4 {
		t.Errorf("%v of 8 runs claimed on their event, want most", n)
	}

	listed := func() (bool, error) {
		ws, err := r.pc.FilterWorkers(ctx, r.cfg.WorkPool)
		for _, w := range ws {
			if w.Name == r.cfg.WorkerName {
				return true, err
			}
		}
		return false, err
	}
	if ok, err := listed(); !ok || err != nil {
		t.Fatalf("running bridge not among the pool's workers (err %v)", err)
	}
	stop()
	if ok, err := listed(); ok || err != nil {
		t.Fatalf("a cleanly stopped bridge is still among the pool's workers (err %v)", err)
	}
}
