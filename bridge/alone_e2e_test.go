package bridge

import (
	"context"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/internal/testenv"
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

	testenv.Eventually(t, 30*time.Second, "the only bridge of its pool to count itself alone", func() bool {
		return b.runDeps.peers.alone(time.Now())
	})
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
		t0 := time.Now()
		got := completes(t, r, fr.ID, 6*time.Second)
		t.Logf("run %d final after %v", i, time.Since(t0).Round(time.Millisecond))
		claimedOnce(t, r, got)
	}

	// Most of these runs (default queue, due now) are claimed on their
	// event without a poll (eventclaim.go); one whose event came before
	// Prefect committed it may still go through the poll.
	if n := claimCount(t, b, claimedOnEvent); n < 4 {
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
