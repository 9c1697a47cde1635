package bridge

import (
	"context"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// A run this bridge claimed and then left Pending (its claim check could not
// read Prefect, or the history named nobody) is resumed by the running
// bridge, not only after a restart; a Pending claimed by another bridge is
// left alone. Without the sweep the first run stays Pending for good: it
// is no longer Scheduled, so no poll returns it.
func TestStrayPendingIsResumed(t *testing.T) {
	oldEvery, oldAge := strayEvery, strayAge
	strayEvery, strayAge = 300*time.Millisecond, time.Second
	t.Cleanup(func() { strayEvery, strayAge = oldEvery, oldAge })

	r := newRig(t, rigOptions{})
	b, _ := r.startBridge(r.cfg)
	ctx := context.Background()
	dep, err := r.pc.ReadDeploymentByName(ctx, "get-position", "get-position")
	if err != nil {
		t.Fatal(err)
	}
	pending := func(worker string) *prefect.FlowRun {
		fr, err := r.pc.CreateFlowRun(ctx, dep.ID, prefect.FlowRunCreate{Parameters: map[string]any{},
			State: &prefect.StateCreate{Type: prefect.StatePending, Name: "Pending", Message: claimMessage(worker)}})
		if err != nil {
			t.Fatal(err)
		}
		return fr
	}
	ours, theirs := pending(r.cfg.WorkerName), pending("another-bridge")

	fr := waitFinal(t, r.pc, ours.ID, 20*time.Second)
	if fr.State.Type != prefect.StateCompleted || fr.RunCount != 1 {
		t.Fatalf("our stray run: %s, run_count %d; want Completed, 1", fr.State.Name, fr.RunCount)
	}
	time.Sleep(strayAge + 3*strayEvery)
	got, err := r.pc.ReadFlowRun(ctx, theirs.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State == nil || got.State.Type != prefect.StatePending || b.running(theirs.ID) {
		t.Fatalf("another bridge's Pending run: %+v, want left Pending", got.State)
	}
}

func TestStray(t *testing.T) {
	now := time.Now()
	old := now.Add(-2 * strayAge)
	run := func(typ prefect.StateType, msg, pid string, at time.Time) prefect.FlowRun {
		return prefect.FlowRun{InfrastructurePID: pid, State: &prefect.State{Type: typ, Message: msg, Timestamp: at}}
	}
	cases := []struct {
		name string
		fr   prefect.FlowRun
		want bool
	}{
		{"ours, old", run(prefect.StatePending, claimMessage("w"), "", old), true},
		{"ours, recorded by us", run(prefect.StatePending, claimMessage("w"), "w/x", old), true},
		{"recorded by another bridge", run(prefect.StatePending, claimMessage("w"), "v/x", old), false},
		{"a claim under way", run(prefect.StatePending, claimMessage("w"), "", now), false},
		{"another bridge's claim", run(prefect.StatePending, claimMessage("v"), "", old), false},
		{"a name that only starts like ours", run(prefect.StatePending, claimMessage("w2"), "", old), false},
		{"running", run(prefect.StateRunning, runMessage("w"), "", old), false},
	}
	for _, c := range cases {
		if got := stray(c.fr, "w", now); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
