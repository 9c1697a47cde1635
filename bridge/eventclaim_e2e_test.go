package bridge

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// A run claimed on its event skips Prefect's poll, so the bridge itself must
// hold back what the poll would (eventclaim.go, earlyclaim.go): a run
// scheduled for later is put back at once and not run early, a run of a
// deployment schedule is not claimed early at all, a paused pool gets no
// claims until it is resumed, and a run on a device's queue (limit 1) still
// goes through the poll. Each part fails if the direct claim ignored it:
// the safety-net poll is 7-13 s away, and a paused pool's poll returns
// nothing.
func TestEventClaimKeepsWhatThePollEnforces(t *testing.T) {
	r := newRig(t, rigOptions{configure: func(c *Config) { c.PollInterval = 10 * time.Second }})
	b, _ := r.startBridge(r.cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	testenv.Eventually(t, 30*time.Second, "the bridge alone with its gate open", func() bool {
		return b.runDeps.peers.alone(time.Now()) && b.gate.allows(time.Now())
	})
	read, err := r.pc.ReadDeploymentByName(ctx, "get-position", "get-position")
	if err != nil {
		t.Fatal(err)
	}
	claims := func(path claimPath) float64 { return claimCount(t, b, path) }

	// Due now, default queue: claimed on the event.
	ev0 := claims(claimedOnEvent)
	fr := createRun(t, r.pc, read.ID, map[string]any{})
	completes(t, r, fr.ID, 6*time.Second)
	if got := claims(claimedOnEvent) - ev0; got != 1 {
		t.Errorf("a due run of the default queue: %v claims on its event, want 1", got)
	}

	// Scheduled 4 s ahead: claimed on its creation event (before it was
	// read), put back to Scheduled at its time at once, claimed again by
	// the poll when due, and run then, once.
	at := time.Now().Add(4 * time.Second).UTC()
	later, err := r.pc.CreateFlowRun(ctx, read.ID, prefect.FlowRunCreate{Parameters: map[string]any{},
		State: &prefect.StateCreate{Type: prefect.StateScheduled, Name: "Scheduled", StateDetails: prefect.StateDetailsCreate{ScheduledTime: &at}}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if now, err := r.pc.ReadFlowRun(ctx, later.ID); err != nil || now.State == nil || now.State.Type != prefect.StateScheduled ||
		now.NextScheduledStartTime == nil || now.NextScheduledStartTime.Sub(at).Abs() > time.Millisecond {
		t.Fatalf("a run scheduled for %s, 1.5 s after it was created: %+v (err %v), want Scheduled for that time", at.Format(time.StampMilli), now, err)
	}
	done := completes(t, r, later.ID, 25*time.Second)
	// Prefect's WaitForScheduledTime lets RUNNING through up to half a
	// second early (it rounds the wait to whole seconds, core_policy.py).
	if run := stateOf(t, r, later.ID, prefect.StateRunning); run.Timestamp.Before(at.Add(-600*time.Millisecond)) || done.RunCount != 1 {
		t.Errorf("a run scheduled for %s started at %s, run_count %d", at.Format(time.StampMilli), run.Timestamp.UTC().Format(time.StampMilli), done.RunCount)
	}
	early := statesBefore(t, r, later.ID, prefect.StatePending, at.Add(-time.Second))
	if early > 1 {
		t.Errorf("a run scheduled for later was claimed %d times before its time, want at most once (claim, put back)", early)
	}
	// Created by a deployment schedule (tagged auto-scheduled): read
	// before it is claimed, never claimed ahead of its time.
	at = time.Now().Add(4 * time.Second).UTC()
	sched, err := r.pc.CreateFlowRun(ctx, read.ID, prefect.FlowRunCreate{Parameters: map[string]any{}, Tags: []string{"auto-scheduled"},
		State: &prefect.StateCreate{Type: prefect.StateScheduled, Name: "Scheduled", StateDetails: prefect.StateDetailsCreate{ScheduledTime: &at}}})
	if err != nil {
		t.Fatal(err)
	}
	completes(t, r, sched.ID, 25*time.Second)
	if p := stateOf(t, r, sched.ID, prefect.StatePending); p.Timestamp.Before(at.Add(-time.Second)) {
		t.Errorf("an auto-scheduled run for %s was claimed at %s, early", at.Format(time.StampMilli), p.Timestamp.UTC().Format(time.StampMilli))
	}

	// Paused pool: nothing is claimed until it is resumed.
	setPoolPaused(t, r, true)
	testenv.Eventually(t, 10*time.Second, "the gate closed after the pause", func() bool { return !b.gate.allows(time.Now()) })
	held := createRun(t, r.pc, read.ID, map[string]any{})
	time.Sleep(3 * time.Second)
	if got, err := r.pc.ReadFlowRun(ctx, held.ID); err != nil || got.State == nil || got.State.Type != prefect.StateScheduled {
		t.Fatalf("a run of a paused pool after 3 s: %+v (err %v), want still Scheduled", got, err)
	}
	setPoolPaused(t, r, false)
	completes(t, r, held.ID, 25*time.Second)

	// A device's queue: through the poll, never on the event.
	ev0, poll0 := claims(claimedOnEvent), claims(claimedOnPoll)
	move := r.runMoving(ctx, b, "B")
	completes(t, r, move.ID, 60*time.Second)
	if ev, poll := claims(claimedOnEvent)-ev0, claims(claimedOnPoll)-poll0; ev != 0 || poll != 1 {
		t.Errorf("a run of a device queue: %v claims on its event and %v by the poll, want 0 and 1", ev, poll)
	}
}

// claimCount is the bridge's plate_resort_bridge_claims_total{path}.
func claimCount(t *testing.T, b *Bridge, path claimPath) float64 {
	t.Helper()
	var m dto.Metric
	if err := b.metrics.claims.WithLabelValues(string(path)).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// completes waits for run id to end Completed and returns it.
func completes(t *testing.T, r *rig, id string, within time.Duration) *prefect.FlowRun {
	t.Helper()
	fr := waitFinal(t, r.pc, id, within)
	if fr.State.Type != prefect.StateCompleted {
		t.Fatalf("run %s ended %s: %s", id, fr.State.Name, fr.State.Message)
	}
	return fr
}

// stateOf returns the run's first state of type typ.
func stateOf(t *testing.T, r *rig, id string, typ prefect.StateType) prefect.State {
	t.Helper()
	states, err := r.pc.ReadFlowRunStates(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range states {
		if s.Type == typ {
			return s
		}
	}
	t.Fatalf("run %s has no %s state: %v", id, typ, names(states))
	return prefect.State{}
}

// statesBefore counts the run's states of type typ stamped before t.
func statesBefore(t *testing.T, r *rig, id string, typ prefect.StateType, before time.Time) int {
	t.Helper()
	states, err := r.pc.ReadFlowRunStates(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range states {
		if s.Type == typ && s.Timestamp.Before(before) {
			n++
		}
	}
	return n
}

// setPoolPaused pauses or resumes the rig's pool, as the UI's toggle does
// (PATCH /work_pools/{name}, src/prefect/server/api/workers.py
// update_work_pool), trying again while a busy SQLite server answers 503.
func setPoolPaused(t *testing.T, r *rig, paused bool) {
	t.Helper()
	code := 0
	for try := 0; try < 10; try++ {
		req, err := http.NewRequest(http.MethodPatch, r.prefect.URL+"/work_pools/"+url.PathEscape(r.cfg.WorkPool),
			bytes.NewBufferString(fmt.Sprintf(`{"is_paused": %t}`, paused)))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if code = resp.StatusCode; code == http.StatusNoContent || code == http.StatusOK {
			return
		}
		if code < 500 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("PATCH work pool is_paused=%t: HTTP %d", paused, code)
}
