package prefect_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

func TestClaimLifecycleWithResult(t *testing.T) {
	c := client(t, srv.Get(t))
	ctx := ctxT(t)
	f := newFixture(t, c)
	fr := f.newRun(t, c, "A")
	runs, err := c.GetScheduledFlowRuns(ctx, f.pool.Name, nil, time.Now().Add(10*time.Second), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].FlowRun.ID != fr.ID || runs[0].FlowRun.DeploymentID != f.dep.ID || runs[0].WorkPoolID != f.pool.ID {
		t.Fatalf("scheduled runs = %+v", runs)
	}

	r, err := c.ProposeState(ctx, fr.ID, prefect.Pending())
	if err != nil || r.Status != prefect.Accept {
		t.Fatalf("first Pending: %+v %v", r, err)
	}
	// A second worker racing for the same run is aborted (PreventPendingTransitions).
	r2, err := c.ProposeState(ctx, fr.ID, prefect.Pending())
	if err != nil {
		t.Fatal(err)
	}
	if r2.Status != prefect.Abort || !strings.Contains(r2.Details.Reason, "PENDING") {
		t.Fatalf("second Pending = %+v, want ABORT", r2)
	}
	pid := "bridge-1/" + fr.ID
	if err := c.PatchFlowRun(ctx, fr.ID, prefect.FlowRunPatch{InfrastructurePID: &pid}); err != nil {
		t.Fatal(err)
	}
	if r, err := c.ProposeState(ctx, fr.ID, prefect.Running()); err != nil || r.Status != prefect.Accept {
		t.Fatalf("Running: %+v %v", r, err)
	}
	done, err := prefect.Completed("hotel A active", map[string]any{"success": true, "angle": 90.5, "hotel": "A"})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := c.ProposeState(ctx, fr.ID, done); err != nil || r.Status != prefect.Accept {
		t.Fatalf("Completed: %+v %v", r, err)
	}

	got, err := c.ReadFlowRun(ctx, fr.ID)
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(got.State.Data, &data); err != nil {
		t.Fatalf("state data %s: %v", got.State.Data, err)
	}
	if data["success"] != true || data["angle"] != 90.5 || got.State.Type != prefect.StateCompleted ||
		got.State.Message != "hotel A active" || got.RunCount != 1 || got.InfrastructurePID != pid || got.EndTime == nil {
		t.Fatalf("read back run %+v state %+v", got, got.State)
	}
	// The run is no longer offered to pollers.
	runs, err = c.GetScheduledFlowRuns(ctx, f.pool.Name, []string{"default"}, time.Now().Add(10*time.Second), 10)
	if err != nil || len(runs) != 0 {
		t.Fatalf("after completion: runs %+v err %v", runs, err)
	}
}

func TestRetryPolicyPatchAndFilter(t *testing.T) {
	c := client(t, srv.Get(t))
	ctx := ctxT(t)
	f := newFixture(t, c)
	a := f.newRun(t, c, "A")
	b, err := c.CreateFlowRun(ctx, f.dep.ID, prefect.FlowRunCreate{Parameters: map[string]any{"hotel": "C"}, IdempotencyKey: "k-" + t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	// Same idempotency key: Prefect returns the existing run, so retrying is safe.
	b2, err := c.CreateFlowRun(ctx, f.dep.ID, prefect.FlowRunCreate{Parameters: map[string]any{"hotel": "C"}, IdempotencyKey: "k-" + t.Name()})
	if err != nil || b2.ID != b.ID {
		t.Fatalf("idempotent create: %v, ids %s %s", err, b.ID, b2ID(b2))
	}
	claim(t, c, a.ID)
	retries, delay := 2, 0
	if err := c.PatchFlowRun(ctx, a.ID, prefect.FlowRunPatch{EmpiricalPolicy: &prefect.EmpiricalPolicy{Retries: &retries, RetryDelay: &delay}}); err != nil {
		t.Fatal(err)
	}
	// FAILED with retries left is turned into AwaitingRetry by the server (docs/prefect.md §5).
	r, err := c.ProposeState(ctx, a.ID, prefect.Failed("servo timeout"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != prefect.Reject || r.State == nil || r.State.Name != "AwaitingRetry" || r.State.Type != prefect.StateScheduled {
		t.Fatalf("Failed with retries: %+v", r)
	}

	running, err := c.FilterFlowRuns(ctx, prefect.FlowRunFilter{DeploymentIDs: []string{f.dep.ID}, StateNames: []string{"AwaitingRetry"}})
	if err != nil || len(running) != 1 || running[0].ID != a.ID || running[0].EmpiricalPolicy.Retries == nil || *running[0].EmpiricalPolicy.Retries != 2 {
		t.Fatalf("filter AwaitingRetry: %+v %v", running, err)
	}
	sched, err := c.FilterFlowRuns(ctx, prefect.FlowRunFilter{IDs: []string{a.ID, b.ID}, StateTypes: []prefect.StateType{prefect.StateScheduled}})
	if err != nil || len(sched) != 2 {
		t.Fatalf("filter by ids+type: %d runs, err %v", len(sched), err)
	}
	none, err := c.FilterFlowRuns(ctx, prefect.FlowRunFilter{IDs: []string{}})
	if err != nil || len(none) != 0 {
		t.Fatalf("empty id list should match nothing: %d runs, err %v", len(none), err)
	}
}

func b2ID(fr *prefect.FlowRun) string {
	if fr == nil {
		return "<nil>"
	}
	return fr.ID
}

func TestCancellation(t *testing.T) {
	c := client(t, srv.Get(t))
	ctx := ctxT(t)
	f := newFixture(t, c)
	fr := f.newRun(t, c, "A")
	claim(t, c, fr.ID)
	// What the UI does when a user presses Cancel.
	r, err := c.ProposeState(ctx, fr.ID, prefect.Cancelling("user pressed cancel"))
	if err != nil || r.Status != prefect.Accept || r.State.Type != prefect.StateCancelling {
		t.Fatalf("Cancelling: %+v %v", r, err)
	}
	cancelling, err := c.FilterFlowRuns(ctx, prefect.FlowRunFilter{IDs: []string{fr.ID}, StateTypes: []prefect.StateType{prefect.StateCancelling}})
	if err != nil || len(cancelling) != 1 {
		t.Fatalf("in-flight cancelling poll: %+v %v", cancelling, err)
	}
	// A late success after the cancel request is refused; the run stays Cancelling.
	done, _ := prefect.Completed("", map[string]any{"success": true})
	r, err = c.ProposeState(ctx, fr.ID, done)
	if err != nil || r.Status != prefect.Reject || r.State.Type != prefect.StateCancelling {
		t.Fatalf("Completed while Cancelling: %+v %v", r, err)
	}
	r, err = c.ProposeState(ctx, fr.ID, prefect.Cancelled("stopped by bridge"))
	if err != nil || r.Status != prefect.Accept || r.State.Type != prefect.StateCancelled {
		t.Fatalf("Cancelled: %+v %v", r, err)
	}
	// Terminal now: a crash report is aborted, not written.
	r, err = c.ProposeState(ctx, fr.ID, prefect.Crashed("late"))
	if err != nil || r.Status == prefect.Accept {
		t.Fatalf("Crashed after Cancelled: %+v %v", r, err)
	}
}

func TestLogsRoundTrip(t *testing.T) {
	c := client(t, srv.Get(t))
	ctx := ctxT(t)
	f := newFixture(t, c)
	fr := f.newRun(t, c, "A")
	t0 := time.Now()
	in := []prefect.Log{
		{Name: "plate-resort.bridge", Level: prefect.LevelInfo, Message: "sent activate-hotel A", Timestamp: t0, FlowRunID: fr.ID},
		{Name: "plate-resort.bridge", Level: prefect.LevelWarning, Message: "progress 50% — ünïcode ok", Timestamp: t0.Add(time.Millisecond), FlowRunID: fr.ID},
	}
	if err := c.CreateLogs(ctx, in); err != nil {
		t.Fatal(err)
	}
	out, err := c.FilterLogs(ctx, fr.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Message != in[0].Message || out[1].Message != in[1].Message || out[1].Level != prefect.LevelWarning || out[0].FlowRunID != fr.ID {
		t.Fatalf("logs read back: %+v", out)
	}
}
