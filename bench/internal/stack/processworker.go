package stack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// ProcessFlow is a stock Prefect process worker's equivalent of the
// bridge's get-position: a trivial Python flow, so what is measured is the
// worker (poll, subprocess, flow engine), not the flow's work.
const ProcessFlow = `from prefect import flow

@flow(name="bench-get-position")
def get_position():
    return 42.0
`

// ProcessFlowName and ProcessDeployment name ProcessFlow's deployment.
const (
	ProcessFlowName   = "bench-get-position"
	ProcessDeployment = "bench"
)

// processDeploy creates the process pool and deploys the flow from source,
// as a lab user would.
const processDeploy = `
import sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect import flow
with get_client(sync_client=True) as c:
    try:
        c.create_work_pool(WorkPoolCreate(name=%q, type="process"))
    except Exception:
        pass
f = flow.from_source(source=%q, entrypoint="flows.py:get_position")
f.deploy(name=%q, work_pool_name=%q, print_next_steps=False)
print("OK")
`

// StartProcessWorker deploys ProcessFlow into the process work pool pool
// of the server at apiURL (with the venv's python) and starts a stock
// `prefect worker start --type process` on it (Prefect's defaults: it
// polls every PREFECT_WORKER_QUERY_SECONDS, 10 s). The caller stops it
// with s.Remove.
func (s *Stack) StartProcessWorker(ctx context.Context, prefectBin, python, apiURL, pool string) (*Child, error) {
	dir := filepath.Join(s.Dir, "process-worker-"+pool)
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "flows.py"), []byte(ProcessFlow), 0o600); err != nil {
		return nil, err
	}
	env := append(BaseEnv(), "PREFECT_API_URL="+apiURL, "PREFECT_HOME="+filepath.Join(dir, "home"),
		"PREFECT_SERVER_ANALYTICS_ENABLED=false", "DO_NOT_TRACK=1")
	dctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	deploy := exec.CommandContext(dctx, python, "-c", fmt.Sprintf(processDeploy, pool, dir, ProcessDeployment, pool))
	deploy.Dir, deploy.Env = dir, env
	if out, err := deploy.CombinedOutput(); err != nil || !strings.Contains(string(out), "OK") {
		return nil, fmt.Errorf("deploy the process flow: %v\n%s", err, out)
	}
	worker := exec.Command(prefectBin, "worker", "start", "--pool", pool, "--type", "process")
	worker.Dir, worker.Env = dir, env
	return s.Start("process-worker-"+pool, worker)
}

// SequentialRuns creates n runs of deployment flow/name one after another,
// each after the previous one finished, and returns Created -> Completed
// of each from Prefect's own timestamps (the run's created and its
// Completed state's timestamp). A run that ends in another final state is
// an error.
func SequentialRuns(ctx context.Context, pc *prefect.Client, flow, name string, n int) ([]time.Duration, error) {
	dep, err := WaitDeployment(ctx, pc, flow, name, time.Minute)
	if err != nil {
		return nil, err
	}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		fr, err := CreateRun(ctx, pc, dep.ID, map[string]any{}, fmt.Sprintf("seq-%d", time.Now().UnixNano()), 10)
		if err != nil {
			return nil, err
		}
		done, err := WaitFinal(ctx, pc, fr.ID, 2*time.Minute)
		if err != nil {
			return nil, err
		}
		if done.State.Type != prefect.StateCompleted {
			return nil, fmt.Errorf("%s/%s run ended %s: %s", flow, name, done.State.Type, done.State.Message)
		}
		lat = append(lat, done.State.Timestamp.Sub(done.Created))
	}
	return lat, nil
}
