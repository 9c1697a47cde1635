package bridge

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
)

// lockAgentInfo is a retained info whose catalogue offers lock and unlock,
// as an agent with locks publishes it.
func lockAgentInfo(t *testing.T) []byte {
	specs := contract.New(contract.Options{Hotels: []string{"A"}}).Specs()
	obj := func(props map[string]*contract.Schema, req ...string) *contract.Schema {
		return &contract.Schema{Type: "object", Properties: props, Required: req}
	}
	specs = append(specs,
		&contract.Spec{Name: contract.Lock, Kind: contract.KindControl, Params: obj(map[string]*contract.Schema{
			contract.LockIDField: {Type: "string"}, "timeout_s": {Type: "integer"}}, contract.LockIDField)},
		&contract.Spec{Name: contract.Unlock, Kind: contract.KindControl, Params: obj(map[string]*contract.Schema{
			contract.LockIDField: {Type: "string"}}, contract.LockIDField)})
	b, err := json.Marshal(contract.Info{Device: "resort-1", Commands: specs})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// lockRun is a run of flow on resort-1 against a fake Prefect that knows
// one task run, "parent-task", of flow run "parent-flow".
func lockRun(t *testing.T, flow string, parentTask string, withLock bool) *run {
	t.Helper()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/api/task_runs/parent-task" {
			_, _ = w.Write([]byte(`{"id":"parent-task","name":"move-to-angle/move-to-angle-0","flow_run_id":"parent-flow"}`))
			return
		}
		http.NotFound(w, req)
	}))
	t.Cleanup(api.Close)
	pc, err := prefect.New(prefect.Config{APIURL: api.URL + "/api"})
	if err != nil {
		t.Fatal(err)
	}
	devs := testDevices()
	if withLock {
		if !devs.handle(contract.DeviceTopics(contract.DefaultPrefix, "resort-1").Info(), lockAgentInfo(t), time.Now()) {
			t.Fatal("info not taken")
		}
	}
	def, ok := flowDefByName(flow)
	if !ok {
		t.Fatalf("no flow %s", flow)
	}
	deps := &runDeps{pc: pc, devs: devs, log: zerolog.Nop(), ship: newLogShipper(pc, zerolog.Nop())}
	fr := prefect.FlowRun{ID: "child-run", ParentTaskRunID: parentTask, State: &prefect.State{Type: prefect.StateRunning}}
	return newRun(deps, fr, &deployment{Device: "resort-1", Def: def}, nil)
}

func payloadOf(t *testing.T, r *run, params map[string]any) (map[string]any, *prefect.StateCreate) {
	t.Helper()
	body, st := r.payload(context.Background(), params, r.commandID(), time.Minute)
	if st != nil {
		return nil, st
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	return m, nil
}

func TestChildRunCommandsCarryTheParentFlowRunAsLockID(t *testing.T) {
	m, st := payloadOf(t, lockRun(t, "move-to-angle", "parent-task", true), map[string]any{"angle": 10.0})
	if st != nil || m[contract.LockIDField] != "parent-flow" {
		t.Fatalf("child run payload %v (%+v); want lock_id parent-flow", m, st)
	}
	if m["angle"] != 10.0 || m["id"] != "child-run" {
		t.Fatalf("payload lost its parameters: %v", m)
	}
}

func TestTopLevelRunCommandsCarryNoLockID(t *testing.T) {
	m, st := payloadOf(t, lockRun(t, "move-to-angle", "", true), map[string]any{"angle": 10.0})
	if st != nil {
		t.Fatal(st.Message)
	}
	if _, has := m[contract.LockIDField]; has {
		t.Fatalf("top-level run payload %v carries lock_id", m)
	}
}

// An agent without lock refuses unknown fields: a child run's command to
// it goes without lock_id.
func TestChildRunToAgentWithoutLocksCarriesNoLockID(t *testing.T) {
	m, st := payloadOf(t, lockRun(t, "move-to-angle", "parent-task", false), map[string]any{"angle": 10.0})
	if st != nil {
		t.Fatal(st.Message)
	}
	if _, has := m[contract.LockIDField]; has {
		t.Fatalf("payload %v to an agent without lock carries lock_id", m)
	}
}

func TestLockRunNeedsAParentOrALockID(t *testing.T) {
	if _, st := payloadOf(t, lockRun(t, "lock", "", true), map[string]any{"timeout_s": 60}); st == nil ||
		st.Type != prefect.StateFailed || !strings.Contains(st.Message, "invalid_argument") || !strings.Contains(st.Message, "inside a flow") {
		t.Fatalf("top-level lock without lock_id: %+v; want Failed saying how to call it", st)
	}
	m, st := payloadOf(t, lockRun(t, "unlock", "", true), map[string]any{contract.LockIDField: "from-the-ui"})
	if st != nil || m[contract.LockIDField] != "from-the-ui" {
		t.Fatalf("unlock with a given lock_id: %v %+v", m, st)
	}
	m, st = payloadOf(t, lockRun(t, "lock", "parent-task", true), map[string]any{"timeout_s": 60})
	if st != nil || m[contract.LockIDField] != "parent-flow" || m["timeout_s"] != 60.0 {
		t.Fatalf("child lock run: %v %+v", m, st)
	}
}

// The Prefect form of lock: lock_id is optional there (the bridge fills it in).
func TestLockDeploymentSchemaMakesLockIDOptional(t *testing.T) {
	var info contract.Info
	if err := json.Unmarshal(lockAgentInfo(t), &info); err != nil {
		t.Fatal(err)
	}
	def, _ := flowDefByName("lock")
	for _, s := range info.Commands {
		if s.Name != contract.Lock {
			continue
		}
		sch := buildSchema(def, s)
		for _, r := range sch.Required {
			if r == contract.LockIDField {
				t.Fatalf("lock_id required in the Prefect schema: %v", sch.Required)
			}
		}
		if _, ok := sch.Properties[contract.LockIDField]; !ok {
			t.Fatal("lock_id missing from the Prefect schema: a lock could not be released from the UI")
		}
		return
	}
	t.Fatal("no lock spec")
}
