package bridge

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// What the database behind Prefect does with two workers proposing PENDING
// for one Scheduled run at the same moment. PreventPendingTransitions
// should ABORT the second (src/prefect/server/orchestration/core_policy.py;
// docs/prefect.md §4), but the bridge has seen Prefect accept both on SQLite
// (run.go, claim). This test never fails on a double accept: it records how
// often the server let both through, and checks the bridge's own rule
// (firstClaim over the run's history) names exactly one winner, one of the
// accepted claims, every time, which is what keeps a run from executing twice.
func TestRacingClaimsHaveOneWinner(t *testing.T) {
	r := newRig(t, rigOptions{noAgent: true})
	ctx := context.Background()
	depID := claimTestDeployment(t, r, "claim-race")
	const runs, claimers = 20, 3
	both := 0
	for i := 0; i < runs; i++ {
		fr := createRunKey(t, r.pc, depID, nil, fmt.Sprintf("%s-%d-%d", t.Name(), time.Now().UnixNano(), i))
		accepted := make([]string, claimers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for c := 0; c < claimers; c++ {
			wg.Add(1)
			go func(c int) {
				defer wg.Done()
				p := prefect.Pending()
				p.Message = claimMessage(fmt.Sprintf("racer-%d", c))
				<-start
				res, err := r.pc.ProposeState(ctx, fr.ID, p)
				if err == nil && res.Status == prefect.Accept && res.State != nil && res.State.Type == prefect.StatePending {
					accepted[c] = res.State.ID
				}
			}(c)
		}
		close(start)
		wg.Wait()
		var ids []string
		for _, id := range accepted {
			if id != "" {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			t.Fatalf("run %s: no claim accepted", fr.ID)
		}
		if len(ids) > 1 {
			both++
		}
		states, err := r.pc.ReadFlowRunStates(ctx, fr.ID)
		if err != nil {
			t.Fatal(err)
		}
		first := firstClaim(states)
		if first == nil {
			t.Fatalf("run %s: %d claims accepted but none in its history", fr.ID, len(ids))
		}
		found := false
		for _, id := range ids {
			found = found || id == first.ID
		}
		if !found {
			t.Errorf("run %s: the history's first claim %s is none of the accepted %v", fr.ID, first.ID, ids)
		}
	}
	t.Logf("%s: %d of %d runs had more than one of %d simultaneous PENDING proposals accepted", r.prefect.Database, both, runs, claimers)
}

// claimTestDeployment registers a flow and a deployment in the rig's pool
// for tests that claim runs by hand (no bridge running).
func claimTestDeployment(t *testing.T, r *rig, flowName string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := r.pc.EnsureWorkPool(ctx, r.cfg.WorkPool, PoolType, flowName); err != nil {
		t.Fatal(err)
	}
	flow, err := r.pc.UpsertFlow(ctx, flowName, nil)
	if err != nil {
		t.Fatal(err)
	}
	dep, err := r.pc.UpsertDeployment(ctx, prefect.DeploymentSpec{Name: r.cfg.WorkPool, FlowID: flow.ID, WorkPoolName: r.cfg.WorkPool, Entrypoint: "mqtt://" + flowName})
	if err != nil {
		t.Fatal(err)
	}
	return dep.ID
}
