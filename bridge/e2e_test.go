package bridge

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

func TestActivateHotelCompletesWithResult(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.startBridge(r.cfg)
	var out pyOutcome
	r.python(pyRun+`
fr = run_deployment("activate-hotel/activate-hotel", parameters={"hotel": "B"}, timeout=90, poll_interval=0.5)
print(json.dumps(final(fr)))
`, &out)
	if out.Type != "COMPLETED" {
		t.Fatalf("run ended %s (%s): %s", out.Type, out.Name, out.Message)
	}
	res, ok := out.Result.(map[string]any)
	if !ok {
		t.Fatalf("state.result() = %#v, want a dict", out.Result)
	}
	want, _ := r.acfg.Resort.HotelAngle("B")
	final, _ := res["final_angle"].(float64)
	if res["success"] != true || res["hotel"] != "B" || math.Abs(final-float64(want)) > 1 {
		t.Fatalf("result %v: want success, hotel B, final_angle near %v", res, want)
	}
	// The run's Prefect log shows what the bridge did.
	runLogHas(t, r, out.ID, "sent activate_hotel to resort-1", "reply ok")
}

// runLogHas waits (5 s) for run id's log in Prefect to hold every one of
// want: the bridge ships a run's lines once the run is final (runlog.go).
func runLogHas(t *testing.T, r *rig, id string, want ...string) {
	t.Helper()
	var text string
	deadline := time.Now().Add(5 * time.Second)
	for {
		logs, err := r.pc.FilterLogs(context.Background(), id, 200)
		if err != nil {
			t.Fatal(err)
		}
		var all []string
		for _, l := range logs {
			all = append(all, l.Message)
		}
		text = strings.Join(all, "\n")
		missing := false
		for _, w := range want {
			missing = missing || !strings.Contains(text, w)
		}
		if !missing {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("run log lacks %q:\n%s", w, text)
		}
	}
}

func TestGetPositionResultIsTheAngle(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.startBridge(r.cfg)
	var out struct {
		A pyOutcome `json:"a"`
		B pyOutcome `json:"b"`
	}
	r.python(pyRun+`
a = run_deployment("get-position/get-position", timeout=60, poll_interval=0.5)
b = run_deployment("get-current-position/get-position", timeout=60, poll_interval=0.5)
print(json.dumps({"a": final(a), "b": final(b)}))
`, &out)
	for _, o := range []pyOutcome{out.A, out.B} {
		if o.Type != "COMPLETED" {
			t.Fatalf("run ended %s: %s", o.Type, o.Message)
		}
		if _, ok := o.Result.(float64); !ok {
			t.Fatalf("state.result() = %#v, want the angle as a float", o.Result)
		}
	}
}

func TestInvalidHotelRefusedByPrefectSchema(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.startBridge(r.cfg)
	var out pyOutcome
	r.python(pyRun+`
try:
    fr = run_deployment("activate-hotel/activate-hotel", parameters={"hotel": "Z"}, timeout=0)
    print(json.dumps({"type": "CREATED", "id": str(fr.id)}))
except Exception as e:
    print(json.dumps({"error": type(e).__name__ + ": " + str(e)}))
`, &out)
	if out.Error == "" {
		t.Fatalf("a run with hotel Z was created (%s); the schema must refuse it", out.ID)
	}
	if !strings.Contains(out.Error, "Z") {
		t.Errorf("error does not name the bad value: %s", out.Error)
	}
}

func TestAgentOfflineCrashesQuickly(t *testing.T) {
	r := newRig(t, rigOptions{})
	b, _ := r.startBridge(r.cfg)
	r.stopAgent() // publishes the retained "offline"
	if _, ok := b.devs.await(ctxTimeout(t, 10*time.Second), "resort-1", func(s deviceStatus) bool { return s.Availability == "offline" }); !ok {
		t.Fatal("bridge never saw the agent offline")
	}
	began := time.Now()
	var out pyOutcome
	r.python(pyRun+`
fr = run_deployment("move-to-angle/move-to-angle", parameters={"angle": 42.0}, timeout=60, poll_interval=0.5)
print(json.dumps(final(fr)))
`, &out)
	took := time.Since(began)
	if out.Type != "CRASHED" || !strings.Contains(out.Message, "resort-1 is offline since") {
		t.Fatalf("run ended %s: %q; want CRASHED naming the offline device", out.Type, out.Message)
	}
	t.Logf("offline run crashed after %s (python start included): %s", took.Round(time.Millisecond), out.Message)
	if took > 30*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestCancelDuringMove(t *testing.T) {
	r := newRig(t, rigOptions{speed: 15}) // about 20°/s: hotel C takes about ten seconds
	b, _ := r.startBridge(r.cfg)
	var out pyOutcome
	r.python(pyRun+`
import time
from prefect.client.orchestration import get_client
from prefect.states import Cancelling
fr = run_deployment("activate-hotel/activate-hotel", parameters={"hotel": "C"}, timeout=0)
with get_client(sync_client=True) as c:
    for _ in range(600):
        if c.read_flow_run(fr.id).state.is_running():
            break
        time.sleep(0.05)
    time.sleep(1.5)  # the carousel is moving now
    c.set_flow_run_state(fr.id, Cancelling())  # what the UI's Cancel does
    for _ in range(600):
        fr = c.read_flow_run(fr.id)
        if fr.state.is_final():
            break
        time.sleep(0.1)
print(json.dumps(final(fr)))
`, &out)
	if out.Type != "CANCELLED" {
		t.Fatalf("run ended %s: %s", out.Type, out.Message)
	}
	if !strings.Contains(out.Message, "cancelled") {
		t.Errorf("message %q", out.Message)
	}
	st, _ := b.devs.await(ctxTimeout(t, 5*time.Second), "resort-1", func(s deviceStatus) bool { return !s.State.Moving && s.State.Busy == nil })
	if st.State.PositionDeg == nil || *st.State.PositionDeg > 150 {
		t.Fatalf("carousel did not stop short of hotel C: %+v", st.State)
	}
	t.Logf("cancelled: %s; carousel stopped at %.1f°", out.Message, *st.State.PositionDeg)
}

func TestBridgeRestartMidMoveCompletes(t *testing.T) {
	r := newRig(t, rigOptions{speed: 15}) // hotel C in several seconds
	b, stop := r.startBridge(r.cfg)
	ctx := ctxTimeout(t, 2*time.Minute)
	fr := r.runMoving(ctx, b, "C")
	stop() // the bridge dies mid-move: no final state is reported
	got, err := r.pc.ReadFlowRun(ctx, fr.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State.Type != prefect.StateRunning {
		t.Fatalf("after the bridge stopped the run is %s, want still RUNNING", got.State.Type)
	}
	writes := r.servo.WriteCount(116)
	r.startBridge(r.cfg) // same worker name: recovers its runs
	final := waitFinal(t, r.pc, fr.ID, 90*time.Second)
	if final.State.Type != prefect.StateCompleted {
		t.Fatalf("run ended %s: %s", final.State.Type, final.State.Message)
	}
	if !strings.Contains(string(final.State.Data), `"success":true`) || !strings.Contains(string(final.State.Data), `"hotel":"C"`) {
		t.Fatalf("result %s", final.State.Data)
	}
	// Re-attaching must not start the move again: stage 1 writes the goal
	// once; later writes are stage-2 pulses only (which use PWM, not 116).
	if extra := r.servo.WriteCount(116) - writes; extra > 0 {
		t.Errorf("%d Goal Position writes after the restart: the move was executed again", extra)
	}
}

func TestTwoBridgesOnOnePoolExecuteEachRunOnce(t *testing.T) {
	// Prefect 3.4 on SQLite wedged here (PrefectHQ/prefect#23051); the
	// pinned 3.8 (.ci/requirements-prefect.txt) does not.
	// Prefect 3.4 on SQLite logs "database is locked" when several workers
	// poll at once (PrefectHQ/prefect#23051); a 10 s safety-net poll keeps
	// that rare, while events still wake both bridges for every run.
	r := newRig(t, rigOptions{configure: func(c *Config) { c.PollInterval = 10 * time.Second }})
	r.startBridge(r.cfg)
	second := r.cfg
	second.WorkerName += "-2"
	second.MQTT.ClientID = ""
	r.startBridge(second)
	const n = 6
	before := r.servo.WriteCount(112) // Profile Velocity: one write per set_speed
	type outcome struct {
		pyOutcome
		RunCount int      `json:"run_count"`
		Pending  int      `json:"pending"`
		Running  int      `json:"running"`
		History  []string `json:"history"`
	}
	var out []outcome
	// set-speed runs (counted at the servo), then get-position runs created
	// 8 at a time, the burst in which both bridges once claimed and ran the
	// same runs (two Pending states 2-10 ms apart, run_count 2).
	r.python(pyRun+fmt.Sprintf(`
from prefect.client.orchestration import get_client
import time
runs = []
for i in range(%d):
    runs.append(run_deployment("set-speed/set-speed", parameters={"speed": 100 + i}, timeout=0))
with get_client(sync_client=True) as c:
    dep = c.read_deployment_by_name("get-position/get-position")
    for burst in range(2):
        runs += [c.create_flow_run_from_deployment(dep.id) for _ in range(8)]
        time.sleep(1)
    out = []
    for fr in runs:
        for _ in range(600):
            fr = c.read_flow_run(fr.id)
            if fr.state.is_final():
                break
            time.sleep(0.1)
        states = c.read_flow_run_states(fr.id)
        o = final(fr)
        o["run_count"] = fr.run_count
        o["pending"] = sum(1 for s in states if s.type.value == "PENDING")
        o["running"] = sum(1 for s in states if s.type.value == "RUNNING")
        o["history"] = [f"{s.timestamp.isoformat()} {s.type.value} {s.name}: {s.message}" for s in states]
        out.append(o)
print(json.dumps(out))
`, n), &out)
	for _, o := range out {
		if o.Type != "COMPLETED" {
			t.Fatalf("run %s ended %s: %s", o.ID, o.Type, o.Message)
		}
		// Prefect's own history shows one execution: one claim, one start.
		if o.RunCount != 1 || o.Pending != 1 || o.Running != 1 {
			t.Errorf("run %s: run_count %d, %d Pending and %d Running states; want one execution:\n%s", o.ID, o.RunCount, o.Pending, o.Running, strings.Join(o.History, "\n"))
		}
	}
	if got := r.servo.WriteCount(112) - before; got != n {
		t.Fatalf("%d Profile Velocity writes for %d runs: a run was executed twice or not at all", got, n)
	}
}

func TestBasicAuthServer(t *testing.T) {
	ps := startAuthServer(t)
	r := newRig(t, rigOptions{server: ps})
	r.startBridge(r.cfg)
	var out pyOutcome
	r.python(pyRun+`
fr = run_deployment("get-position/get-position", timeout=60, poll_interval=0.5)
print(json.dumps(final(fr)))
`, &out)
	if out.Type != "COMPLETED" {
		t.Fatalf("run ended %s: %s", out.Type, out.Message)
	}
	// Without the auth string the bridge must refuse to start, naming Prefect.
	bad := r.cfg
	bad.Prefect.AuthString = "admin:wrong"
	b, err := New(bad, testLogger(t, "bad"))
	if err != nil {
		t.Fatal(err)
	}
	err = b.Run(ctxTimeout(t, 60*time.Second))
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("Run with a wrong auth string: %v (want a 401 error without the secret)", err)
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitFinal(t *testing.T, pc *prefect.Client, id string, d time.Duration) *prefect.FlowRun {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		fr, err := pc.ReadFlowRun(context.Background(), id)
		if err == nil && fr.State != nil && fr.State.Type.IsFinal() {
			return fr
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("run %s not final within %s", id, d)
	return nil
}

// createRun creates a run like run_deployment does, retrying a busy SQLite
// server (503) with an idempotency key so a retry cannot make a second run.
func createRun(t *testing.T, pc *prefect.Client, depID string, params map[string]any) *prefect.FlowRun {
	t.Helper()
	fr := createRunKey(t, pc, depID, params, fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano()))
	if fr.ID == "" {
		t.FailNow()
	}
	return fr
}
