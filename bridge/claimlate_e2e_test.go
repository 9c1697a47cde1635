package bridge

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// A state is stamped when Prefect reads the request, not when it commits.
// Seen on PostgreSQL at 100 devices: the late-runs service's Late committed
// first (MarkLateRunsPolicy only marks Scheduled runs,
// src/prefect/server/orchestration/core_policy.py), the bridge's Pending,
// stamped earlier while it waited on the run's row lock, committed second.
// The history then read Scheduled, Pending, Late with the run Pending, the
// claim check found no claim, and the run stayed Pending for good.
//
// The commit order cannot be forced through the API, so the test builds the
// same history on a real server: Late and then Pending through the API (the
// real commit order), then swaps the two timestamps in Prefect's database.
func TestClaimHoldsWhenLateIsStampedAfterIt(t *testing.T) {
	r := newRig(t, rigOptions{noAgent: true})
	ctx := context.Background()
	depID := claimTestDeployment(t, r, "claim-late")
	fr := createRunKey(t, r.pc, depID, nil, fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano()))

	late := prefect.StateCreate{Type: prefect.StateScheduled, Name: "Late", Message: "marked late by the test"}
	if res, err := r.pc.ProposeState(ctx, fr.ID, late); err != nil || res.Status != prefect.Accept {
		t.Fatalf("propose Late: %v %+v", err, res)
	}
	p := prefect.Pending()
	p.Message = claimMessage("late-test")
	res, err := r.pc.ProposeState(ctx, fr.ID, p)
	if err != nil || res.Status != prefect.Accept || res.State == nil {
		t.Fatalf("propose Pending: %v %+v", err, res)
	}
	ours := res.State.ID
	states, err := r.pc.ReadFlowRunStates(ctx, fr.ID)
	if err != nil {
		t.Fatal(err)
	}
	var lateID string
	for _, s := range states {
		if s.Name == "Late" {
			lateID = s.ID
		}
	}
	if lateID == "" {
		t.Fatalf("no Late state in %v", names(states))
	}
	swapTimestamps(t, r, lateID, ours)

	states, err = r.pc.ReadFlowRunStates(ctx, fr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(names(states), ","); got != "Scheduled,Pending,Late" {
		t.Fatalf("history after the swap is %s, want Scheduled,Pending,Late (the one seen in the fleet run)", got)
	}
	if c := firstClaim(states); c != nil {
		t.Fatalf("the history alone names claim %s; the test no longer builds the case", c.ID)
	}

	rr := &run{deps: &runDeps{pc: r.pc, log: testLogger(t, "claim")}, fr: *fr}
	if !rr.wonClaim(ctx, ours) {
		t.Errorf("the only claim, Pending and current, was not won: the run would stay Pending with nobody running it")
	}
	if rr.wonClaim(ctx, "00000000-0000-0000-0000-000000000000") {
		t.Errorf("a claim that is not the current state won too")
	}

	// The other order, a re-schedule after the claim (current state
	// Scheduled; Prefect refuses a Late after Pending, so a plain
	// Scheduled, as the UI's reschedule sends): no claimer wins, and the
	// run is back in the poll.
	fr2 := createRunKey(t, r.pc, depID, nil, fmt.Sprintf("%s-%d-b", t.Name(), time.Now().UnixNano()))
	res, err = r.pc.ProposeState(ctx, fr2.ID, p)
	if err != nil || res.Status != prefect.Accept || res.State == nil {
		t.Fatalf("propose Pending: %v %+v", err, res)
	}
	ours2 := res.State.ID
	again := prefect.StateCreate{Type: prefect.StateScheduled, Name: "Scheduled", Message: "rescheduled by the test"}
	if res, err := r.pc.ProposeState(ctx, fr2.ID, again); err != nil || res.Status != prefect.Accept {
		t.Fatalf("propose Scheduled after Pending: %v %+v", err, res)
	}
	rr2 := &run{deps: rr.deps, fr: *fr2}
	if rr2.wonClaim(ctx, ours2) {
		t.Errorf("a claim superseded by a later Scheduled won: the run would run while Prefect shows it Scheduled")
	}
	polled, err := r.pc.GetScheduledFlowRuns(ctx, r.cfg.WorkPool, nil, time.Now().Add(time.Second), 100)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, sr := range polled {
		found = found || sr.FlowRun.ID == fr2.ID
	}
	if !found {
		t.Errorf("the re-scheduled run is not offered by the next poll")
	}
}

// swapTimestamps exchanges two states' timestamps in Prefect's database.
func swapTimestamps(t *testing.T, r *rig, a, b string) {
	t.Helper()
	read := func(id string) string {
		q := fmt.Sprintf("SELECT timestamp FROM flow_run_state WHERE id = '%s'", id)
		if r.prefect.Database == "postgres" {
			q = fmt.Sprintf("SELECT timestamp::text FROM flow_run_state WHERE id = '%s'", id)
		}
		out, err := r.prefect.SQL(q)
		if err != nil || out == "" {
			t.Fatalf("read the timestamp of state %s: %v %q", id, err, out)
		}
		return out
	}
	ta, tb := read(a), read(b)
	// (flow_run_id, timestamp) is unique: a goes out of the way first.
	for _, set := range [][2]string{{a, "2000-01-01 00:00:00"}, {b, ta}, {a, tb}} {
		if out, err := r.prefect.SQL(fmt.Sprintf("UPDATE flow_run_state SET timestamp = '%s' WHERE id = '%s'", set[1], set[0])); err != nil {
			t.Fatalf("set the timestamp of state %s: %v %s", set[0], err, out)
		}
	}
}

func names(states []prefect.State) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = s.Name
	}
	return out
}
