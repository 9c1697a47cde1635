package prefect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// The contract the bridge relies on (package doc, docs/prefect.md §7): what the worker puts as
// COMPLETED data is exactly what run_deployment(...).state.result() returns in
// Python, and a FAILED run raises FailedRun carrying the state message.
func TestPythonRunDeploymentSeesResult(t *testing.T) {
	s := srv.Get(t)
	c := client(t, s)
	f := newFixture(t, c)

	cases := []struct {
		hotel  string
		finish func() prefect.StateCreate
		want   string // JSON printed by Python
	}{
		{"A", func() prefect.StateCreate {
			st, err := prefect.Completed("ok", map[string]any{"success": true, "hotel": "A", "angle": 90.5, "result": map[string]any{"nested": []int{1, 2}}})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}, `{"kind": "dict", "value": {"angle": 90.5, "hotel": "A", "result": {"nested": [1, 2]}, "success": true}}`},
		{"B", func() prefect.StateCreate {
			st, err := prefect.Completed("", 123.25) // get-position returns the bare angle
			if err != nil {
				t.Fatal(err)
			}
			return st
		}, `{"kind": "float", "value": 123.25}`},
		{"C", func() prefect.StateCreate { return prefect.Failed("E_TIMEOUT: servo did not reach 90") },
			`{"kind": "FailedRun", "value": "E_TIMEOUT: servo did not reach 90"}`},
	}
	for _, tc := range cases {
		t.Run(tc.hotel, func(t *testing.T) {
			// Each case starts a Python interpreter that imports Prefect
			// (seconds on a loaded 2-core machine) against a SQLite server
			// shared with other tests: a budget per case, not one 60 s
			// budget for all three.
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second)
			defer cancel()
			script := fmt.Sprintf(`
import json
from prefect.deployments import run_deployment
fr = run_deployment(%q, parameters={"hotel": %q}, poll_interval=0.2, timeout=120)
try:
    v = fr.state.result()
    print(json.dumps({"kind": type(v).__name__, "value": v}, sort_keys=True))
except Exception as e:
    print(json.dumps({"kind": type(e).__name__, "value": str(e)}, sort_keys=True))
`, f.flow.Name+"/dep", tc.hotel)
			type res struct {
				out string
				err error
			}
			py := make(chan res, 1)
			start := func() { go func() { out, err := s.Python(t, script); py <- res{out, err} }() }
			start()

			// Act as the worker: wait for the run Python created, claim, finish.
			var run *prefect.FlowRun
			// Python's client retries a 503 five times with backoff (about
			// a minute) before the script dies; started at most three
			// times, the script gets 250 s to create its run.
			deadline := time.Now().Add(250 * time.Second)
			for tries := 1; run == nil; {
				if time.Now().After(deadline) {
					t.Fatal("python never created a run")
				}
				select {
				case got := <-py:
					// A SQLite server shared with other tests can fail the
					// run's creation with a 5xx ("database is locked" in its
					// log: Prefect's SQLite writer lock, PrefectHQ/prefect#23051).
					// The script then died before any run existed, so it is
					// started again, up to twice; what this test checks comes after.
					if tries > 2 {
						t.Fatalf("python ended %d times before creating a run: %v %s", tries, got.err, got.out)
					}
					t.Logf("python ended before creating the run (%v); starting it again", got.err)
					tries++
					start()
				default:
				}
				runs, err := c.GetScheduledFlowRuns(ctx, f.pool.Name, nil, time.Now().Add(10*time.Second), 10)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range runs {
					if strings.Contains(string(r.FlowRun.Parameters), `"`+tc.hotel+`"`) {
						run = &r.FlowRun
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
			claim(t, c, run.ID)
			if r, err := c.ProposeState(ctx, run.ID, tc.finish()); err != nil || r.Status != prefect.Accept {
				t.Fatalf("finish: %+v %v", r, err)
			}
			got := <-py
			if got.err != nil {
				t.Fatal(got.err)
			}
			var gotV, wantV any
			if err := json.Unmarshal([]byte(strings.TrimSpace(lastLine(got.out))), &gotV); err != nil {
				t.Fatalf("python output %q: %v", got.out, err)
			}
			_ = json.Unmarshal([]byte(tc.want), &wantV)
			if fmt.Sprint(gotV) != fmt.Sprint(wantV) {
				t.Fatalf("python saw %s, want %s", lastLine(got.out), tc.want)
			}
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestCompletedRefusesDataPythonWouldMisread(t *testing.T) {
	for _, data := range []any{nil, map[string]any{"storage_key": "x"}, map[string]any{"type": "x"}, map[string]any{"artifact_key": "k"}} {
		if _, err := prefect.Completed("", data); err == nil {
			t.Errorf("Completed(%v) accepted", data)
		}
	}
	if _, err := prefect.Completed("", map[string]any{"result": map[string]any{"type": "nested is fine"}}); err != nil {
		t.Errorf("nested reserved key refused: %v", err)
	}
}
