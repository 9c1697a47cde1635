package prefect_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

func TestEnsureWorkPoolIsIdempotent(t *testing.T) {
	c := client(t, srv.Get(t))
	ctx := ctxT(t)
	a, err := c.EnsureWorkPool(ctx, uniq(t, "pool"), "mqtt-bridge", "d")
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.EnsureWorkPool(ctx, uniq(t, "pool"), "mqtt-bridge", "d")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == "" || a.ID != b.ID || b.Type != "mqtt-bridge" {
		t.Fatalf("second EnsureWorkPool returned %+v, first %+v", b, a)
	}
	if a.Status != "NOT_READY" {
		t.Errorf("new custom-type pool status = %q, want NOT_READY before any heartbeat", a.Status)
	}
}

func TestReservedPoolNameRefused(t *testing.T) {
	s := srv.Get(t)
	c := client(t, s)
	_, err := c.EnsureWorkPool(ctxT(t), "Prefect-pool", "mqtt-bridge", "")
	if !errors.Is(err, prefect.ErrReservedPoolName) {
		t.Fatalf("err = %v, want ErrReservedPoolName", err)
	}
	// Confirm the server rule the client-side check mirrors.
	resp, err := http.Post(s.URL+"/work_pools/", "application/json", strings.NewReader(`{"name":"prefect-x","type":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("server answered %d for a prefect* pool, want 403", resp.StatusCode)
	}
}

func TestFlowAndDeploymentUpsertAreIdempotent(t *testing.T) {
	c := client(t, srv.Get(t))
	ctx := ctxT(t)
	f1 := newFixture(t, c)
	f2 := newFixture(t, c)
	if f1.flow.ID != f2.flow.ID || f1.dep.ID != f2.dep.ID {
		t.Fatalf("upsert created duplicates: flows %s/%s deployments %s/%s", f1.flow.ID, f2.flow.ID, f1.dep.ID, f2.dep.ID)
	}
	got, err := c.ReadDeploymentByName(ctx, f1.flow.Name, "dep")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != f1.dep.ID || !got.EnforceParameterSchema || got.WorkPoolName != f1.pool.Name || got.Entrypoint != "mqtt://activate-hotel" {
		t.Fatalf("read back %+v", got)
	}
	if !strings.Contains(string(got.ParameterOpenAPISchema), `"enum":["A","B","C"]`) {
		t.Fatalf("schema not stored: %s", got.ParameterOpenAPISchema)
	}
	if _, err := c.ReadDeploymentByName(ctx, f1.flow.Name, "missing"); !prefect.IsNotFound(err) {
		t.Fatalf("missing deployment: err = %v, want 404", err)
	}
}

func TestDeploymentSchedulesReplacedOnUpsert(t *testing.T) {
	c := client(t, srv.Get(t))
	ctx := ctxT(t)
	f := newFixture(t, c)
	spec := prefect.DeploymentSpec{
		Name: "health", FlowID: f.flow.ID, WorkPoolName: f.pool.Name, EnforceParameterSchema: true,
		ParameterSchema: map[string]any{"type": "object", "properties": map[string]any{}},
		Schedules: []prefect.Schedule{
			{Interval: 5 * time.Minute},
			{Cron: "0 6 * * *", Timezone: "Europe/Paris"},
		},
	}
	for range 2 {
		d, err := c.UpsertDeployment(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Schedules) != 2 {
			t.Fatalf("deployment has %d schedules after upsert, want 2: %+v", len(d.Schedules), d.Schedules)
		}
	}
	if _, err := c.UpsertDeployment(ctx, prefect.DeploymentSpec{Name: "bad", FlowID: f.flow.ID,
		Schedules: []prefect.Schedule{{Interval: time.Minute, Cron: "* * * * *"}}}); err == nil {
		t.Fatal("a schedule with both interval and cron was accepted")
	}
}

func TestSchemaRefusesBadParameter(t *testing.T) {
	c := client(t, srv.Get(t))
	ctx := ctxT(t)
	f := newFixture(t, c)
	_, err := c.CreateFlowRun(ctx, f.dep.ID, prefect.FlowRunCreate{Parameters: map[string]any{"hotel": "Z"}})
	if !prefect.IsConflict(err) {
		t.Fatalf("hotel Z: err = %v, want 409", err)
	}
	var ae *prefect.APIError
	if !errors.As(err, &ae) || !strings.Contains(ae.Detail, "Z") {
		t.Fatalf("detail should name the bad value, got %v", err)
	}
	if _, err := c.CreateFlowRun(ctx, f.dep.ID, prefect.FlowRunCreate{}); !prefect.IsConflict(err) {
		t.Fatalf("missing required hotel: err = %v, want 409", err)
	}
	fr, err := c.CreateFlowRun(ctx, f.dep.ID, prefect.FlowRunCreate{Parameters: map[string]any{"hotel": "B"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(fr.Parameters) != `{"hotel":"B"}` || fr.State == nil || fr.State.Type != prefect.StateScheduled {
		t.Fatalf("created run %+v", fr)
	}
}

func TestHeartbeatMakesWorkerOnline(t *testing.T) {
	c := client(t, srv.Get(t))
	ctx := ctxT(t)
	f := newFixture(t, c)
	if err := c.WorkerHeartbeat(ctx, f.pool.Name, "bridge-1", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	ws, err := c.FilterWorkers(ctx, f.pool.Name)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 1 || ws[0].Name != "bridge-1" || ws[0].Status != "ONLINE" || ws[0].HeartbeatIntervalSeconds == nil || *ws[0].HeartbeatIntervalSeconds != 30 {
		t.Fatalf("workers = %+v", ws)
	}
	pool, err := c.ReadWorkPool(ctx, f.pool.Name)
	if err != nil {
		t.Fatal(err)
	}
	if pool.Status != "READY" {
		t.Fatalf("pool status after heartbeat = %q, want READY", pool.Status)
	}
	if err := c.WorkerHeartbeat(ctx, f.pool.Name, "bad/name", time.Second); err == nil {
		t.Fatal("worker name with '/' accepted")
	}
}

// What a real server holds after an upsert matches the spec (its schedule
// defaults and order, its copy of the schema), so a second registration
// can skip it; a changed spec does not match; DeploymentsInPool finds a
// deployment by pool and tag, and CountDeploymentsInPool counts the pool.
func TestRegisteredDeploymentMatchesItsSpec(t *testing.T) {
	c := client(t, srv.Get(t))
	ctx := ctxT(t)
	f := newFixture(t, c)
	spec := prefect.DeploymentSpec{
		Name: "health", FlowID: f.flow.ID, WorkPoolName: f.pool.Name, WorkQueueName: "default",
		Description: "motor health", Tags: []string{"plate-resort", "resort-9", "read"}, Entrypoint: "mqtt://health",
		Parameters: map[string]any{}, ParameterSchema: hotelSchema, EnforceParameterSchema: true, Paused: true,
		Schedules: []prefect.Schedule{
			{Interval: 5 * time.Minute},
			{Cron: "0 6 * * *", Timezone: "Europe/Paris", Inactive: true},
		},
	}
	d, err := c.UpsertDeployment(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	held, err := c.DeploymentsInPool(ctx, f.pool.Name, "resort-9")
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || held[0].ID != d.ID {
		t.Fatalf("DeploymentsInPool(%s, resort-9) = %+v, want only %s", f.pool.Name, held, d.ID)
	}
	if !held[0].Matches(spec) {
		b, _ := json.Marshal(held[0].Deployment)
		t.Fatalf("the server's copy does not match the spec it was upserted from: %s", b)
	}
	changed := spec
	changed.Description = "other"
	if held[0].Matches(changed) {
		t.Error("a changed description matches")
	}
	if n, err := c.CountDeploymentsInPool(ctx, f.pool.Name); err != nil || n != 2 {
		t.Errorf("CountDeploymentsInPool = %d, %v; want 2 (the fixture's and this one)", n, err)
	}
	if all, err := c.DeploymentsInPool(ctx, f.pool.Name); err != nil || len(all) != 2 {
		t.Errorf("DeploymentsInPool without tags = %d deployments, %v; want 2", len(all), err)
	}
}
