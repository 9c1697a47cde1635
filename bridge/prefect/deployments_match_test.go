package prefect_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// heldDeployment is a deployment as Prefect 3.8.8 answers it after
// UpsertDeployment(matchSpec): schedules listed in the server's own order,
// an interval's anchor_date and timezone and a cron's day_or filled in,
// fields the spec does not send (labels, job_variables, ...) present.
const heldDeployment = `{
  "id": "5855fc51-a0d9-463b-bea3-08f38c712f64", "created": "2026-11-30T18:52:39.918528Z", "updated": "2026-11-30T18:52:39.909845Z",
  "name": "resort-2", "version": null, "description": "Read the position. Device resort-2.",
  "flow_id": "f30fd3b3-a864-4f2a-80d4-6c3e1e75328c", "paused": true,
  "schedules": [
    {"id": "e4e59b29-9112-4a43-ae88-2b5710e07111", "created": "2026-11-30T18:52:39.992872Z", "updated": "2026-11-30T18:52:39.992877Z",
     "deployment_id": "5855fc51-a0d9-463b-bea3-08f38c712f64", "schedule": {"cron": "0 6 * * *", "timezone": "Europe/Paris", "day_or": true},
     "active": false, "max_scheduled_runs": null, "parameters": {}, "slug": null},
    {"id": "a64813a2-7e3e-408d-998b-ddd73d9a5c40", "created": "2026-11-30T18:52:39.992821Z", "updated": "2026-11-30T18:52:39.992857Z",
     "deployment_id": "5855fc51-a0d9-463b-bea3-08f38c712f64", "schedule": {"interval": 300.0, "anchor_date": "2026-11-30T18:52:39.873853Z", "timezone": "UTC"},
     "active": true, "max_scheduled_runs": null, "parameters": {}, "slug": null}
  ],
  "concurrency_limit": null, "global_concurrency_limit": null, "concurrency_options": null, "job_variables": {},
  "parameters": {}, "tags": ["plate-resort", "resort-2", "read"], "labels": {"prefect.flow.id": "f30fd3b3-a864-4f2a-80d4-6c3e1e75328c"},
  "work_queue_name": "default", "work_queue_id": "11111111-a0d9-463b-bea3-08f38c712f64", "last_polled": null,
  "parameter_openapi_schema": {"type": "object", "properties": {"wait": {"type": "number", "default": 0.8, "minimum": 0}}, "required": []},
  "path": null, "pull_steps": [], "entrypoint": "mqtt://plate-resort/resort-2/cmd/get_position", "storage_document_id": null,
  "infrastructure_document_id": null, "created_by": null, "updated_by": null, "work_pool_name": "pool-a", "status": "NOT_READY",
  "enforce_parameter_schema": true
}`

func matchSpec() prefect.DeploymentSpec {
	return prefect.DeploymentSpec{
		Name: "resort-2", FlowID: "f30fd3b3-a864-4f2a-80d4-6c3e1e75328c", WorkPoolName: "pool-a", WorkQueueName: "default",
		Description: "Read the position. Device resort-2.", Tags: []string{"plate-resort", "resort-2", "read"},
		Entrypoint: "mqtt://plate-resort/resort-2/cmd/get_position", Parameters: map[string]any{},
		// Key order and 0 vs 0.0 differ from the server's copy.
		ParameterSchema:        json.RawMessage(`{"required":[],"properties":{"wait":{"minimum":0.0,"default":0.8,"type":"number"}},"type":"object"}`),
		EnforceParameterSchema: true, Paused: true,
		Schedules: []prefect.Schedule{
			{Interval: 5 * time.Minute},
			{Cron: "0 6 * * *", Timezone: "Europe/Paris", Inactive: true},
		},
	}
}

// listServer answers POST /deployments/filter with the given deployments
// and records the filter it was sent.
func listServer(t *testing.T, body string, got *map[string]any) *prefect.Client {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/api/deployments/filter" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		if err := jsonDecode(r, got); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(ts.Close)
	c, err := prefect.New(prefect.Config{APIURL: ts.URL + "/api"})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// An upsert that would change nothing is recognised; any field it would
// change, or anything it cannot compare, is a mismatch.
func TestDeploymentMatches(t *testing.T) {
	var filter map[string]any
	c := listServer(t, "["+heldDeployment+"]", &filter)
	list, err := c.DeploymentsInPool(context.Background(), "pool-a", "resort-2")
	if err != nil {
		t.Fatal(err)
	}
	want := `{"deployments":{"tags":{"all_":["resort-2"]}},"limit":200,"offset":0,"sort":"CREATED_DESC","work_pools":{"name":{"any_":["pool-a"]}}}`
	if b, _ := json.Marshal(filter); string(b) != want {
		t.Errorf("filter sent %s, want %s", b, want)
	}
	if len(list) != 1 || list[0].ID != "5855fc51-a0d9-463b-bea3-08f38c712f64" || list[0].FlowID != matchSpec().FlowID {
		t.Fatalf("listed %+v", list)
	}
	held := &list[0]
	if !held.Matches(matchSpec()) {
		t.Fatal("the spec the server holds does not match")
	}
	for name, change := range map[string]func(*prefect.DeploymentSpec){
		"description": func(s *prefect.DeploymentSpec) { s.Description += " More." },
		"tags":        func(s *prefect.DeploymentSpec) { s.Tags = []string{"plate-resort", "resort-2"} },
		"tag order":   func(s *prefect.DeploymentSpec) { s.Tags = []string{"resort-2", "plate-resort", "read"} },
		"pool":        func(s *prefect.DeploymentSpec) { s.WorkPoolName = "pool-b" },
		"queue":       func(s *prefect.DeploymentSpec) { s.WorkQueueName = "device-resort-2" },
		"paused":      func(s *prefect.DeploymentSpec) { s.Paused = false },
		"enforce":     func(s *prefect.DeploymentSpec) { s.EnforceParameterSchema = false },
		"entrypoint":  func(s *prefect.DeploymentSpec) { s.Entrypoint = "mqtt://x" },
		"schema":      func(s *prefect.DeploymentSpec) { s.ParameterSchema = map[string]any{"type": "object"} },
		"parameters":  func(s *prefect.DeploymentSpec) { s.Parameters = map[string]any{"wait": 1} },
		"version":     func(s *prefect.DeploymentSpec) { s.Version = "2" },
		"flow":        func(s *prefect.DeploymentSpec) { s.FlowID = "00000000-0000-0000-0000-000000000000" },
		"interval":    func(s *prefect.DeploymentSpec) { s.Schedules[0].Interval = time.Minute },
		"anchor": func(s *prefect.DeploymentSpec) {
			s.Schedules[0].AnchorDate = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		},
		"interval timezone":  func(s *prefect.DeploymentSpec) { s.Schedules[0].Timezone = "Europe/Paris" },
		"cron":               func(s *prefect.DeploymentSpec) { s.Schedules[1].Cron = "0 7 * * *" },
		"cron timezone":      func(s *prefect.DeploymentSpec) { s.Schedules[1].Timezone = "" },
		"cron day_or":        func(s *prefect.DeploymentSpec) { f := false; s.Schedules[1].DayOr = &f },
		"active":             func(s *prefect.DeploymentSpec) { s.Schedules[1].Inactive = false },
		"one schedule fewer": func(s *prefect.DeploymentSpec) { s.Schedules = s.Schedules[:1] },
		"no schedules":       func(s *prefect.DeploymentSpec) { s.Schedules = nil },
		"schedule twice":     func(s *prefect.DeploymentSpec) { s.Schedules = append(s.Schedules, s.Schedules[0]) },
		"concurrency limit":  func(s *prefect.DeploymentSpec) { s.ConcurrencyLimit = 1 },
		"invalid spec":       func(s *prefect.DeploymentSpec) { s.Name = "" },
	} {
		s := matchSpec()
		s.Schedules = append([]prefect.Schedule(nil), s.Schedules...)
		change(&s)
		if held.Matches(s) {
			t.Errorf("%s changed, still matches", name)
		}
	}
	// The same schedules in the other order, the anchor the server holds,
	// and a cron's default day_or said explicitly all match.
	s := matchSpec()
	tr := true
	s.Schedules = []prefect.Schedule{
		{Cron: "0 6 * * *", Timezone: "Europe/Paris", Inactive: true, DayOr: &tr},
		{Interval: 5 * time.Minute, AnchorDate: time.Date(2026, 11, 30, 18, 52, 39, 873853000, time.UTC), Timezone: "UTC"},
	}
	if !held.Matches(s) {
		t.Error("reordered schedules with the server's defaults spelled out do not match")
	}
	// Whatever the server holds beyond an upsert's schedules is a change.
	for name, edit := range map[string]string{
		"slug":               `"slug": "daily"`,
		"max_scheduled_runs": `"max_scheduled_runs": 3`,
		"parameters":         `"parameters": {"wait": 1}`,
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(heldDeployment), &m); err != nil {
			t.Fatal(err)
		}
		var extra map[string]any
		if err := json.Unmarshal([]byte("{"+edit+"}"), &extra); err != nil {
			t.Fatal(err)
		}
		sc := m["schedules"].([]any)[0].(map[string]any)
		for k, v := range extra {
			sc[k] = v
		}
		b, _ := json.Marshal(m)
		var got prefect.RegisteredDeployment
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.Matches(matchSpec()) {
			t.Errorf("a schedule with %s matches a spec without it", name)
		}
	}
	// Nothing held: nothing to skip.
	var none *prefect.RegisteredDeployment
	if none.Matches(matchSpec()) {
		t.Error("a nil deployment matches")
	}
}
