package prefect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"time"
)

// DeploymentSpec describes a deployment to upsert (DeploymentCreate, docs/prefect.md §8).
type DeploymentSpec struct {
	Name          string
	FlowID        string
	WorkPoolName  string
	WorkQueueName string // "" = the pool's default queue
	Description   string
	Tags          []string
	Version       string
	// Entrypoint is free text for a non-Python worker, e.g. "mqtt://activate-hotel".
	Entrypoint string
	// Parameters are defaults merged into every run; nil sends {}.
	Parameters any
	// ParameterSchema is the JSON Schema the UI renders and the server enforces:
	// a json.RawMessage, a map, or any struct that marshals to a schema object.
	ParameterSchema any
	// EnforceParameterSchema is always sent (Prefect's default is true; a Go
	// zero value would silently turn validation off, so say what you mean).
	EnforceParameterSchema bool
	Schedules              []Schedule
	// ConcurrencyLimit > 0 limits concurrently running runs of this deployment,
	// enforced at PENDING (docs/prefect.md §12). CollisionStrategy is "ENQUEUE" (default) or
	// "CANCEL_NEW".
	ConcurrencyLimit  int
	CollisionStrategy string
	Paused            bool
}

// Schedule is one deployment schedule: set exactly one of Interval or Cron.
type Schedule struct {
	Interval   time.Duration
	AnchorDate time.Time // interval only; zero lets the server pick
	Cron       string
	DayOr      *bool  // cron only; Prefect default true
	Timezone   string // IANA name; "" = UTC
	Inactive   bool
}

type deploymentCreate struct {
	Name                   string             `json:"name"`
	FlowID                 string             `json:"flow_id"`
	WorkPoolName           string             `json:"work_pool_name,omitempty"`
	WorkQueueName          string             `json:"work_queue_name,omitempty"`
	Description            string             `json:"description,omitempty"`
	Tags                   []string           `json:"tags"`
	Version                string             `json:"version,omitempty"`
	Entrypoint             string             `json:"entrypoint,omitempty"`
	Parameters             json.RawMessage    `json:"parameters"`
	ParameterOpenAPISchema json.RawMessage    `json:"parameter_openapi_schema,omitempty"`
	EnforceParameterSchema bool               `json:"enforce_parameter_schema"`
	Schedules              []scheduleCreate   `json:"schedules"`
	ConcurrencyLimit       *int               `json:"concurrency_limit,omitempty"`
	ConcurrencyOptions     *concurrencyOption `json:"concurrency_options,omitempty"`
	Paused                 bool               `json:"paused"`
}

type concurrencyOption struct {
	CollisionStrategy string `json:"collision_strategy"`
}

type scheduleCreate struct {
	Schedule map[string]any `json:"schedule"`
	Active   bool           `json:"active"`
}

func (s Schedule) wire() (scheduleCreate, error) {
	m := map[string]any{}
	switch {
	case s.Interval > 0 && s.Cron == "":
		m["interval"] = s.Interval.Seconds()
		if !s.AnchorDate.IsZero() {
			m["anchor_date"] = s.AnchorDate.UTC()
		}
	case s.Cron != "" && s.Interval == 0:
		m["cron"] = s.Cron
		if s.DayOr != nil {
			m["day_or"] = *s.DayOr
		}
	default:
		return scheduleCreate{}, errors.New("prefect: a schedule needs exactly one of Interval (> 0) or Cron")
	}
	if s.Timezone != "" {
		m["timezone"] = s.Timezone
	}
	return scheduleCreate{Schedule: m, Active: !s.Inactive}, nil
}

func rawJSON(v any, whenNil string) (json.RawMessage, error) {
	switch x := v.(type) {
	case nil:
		return json.RawMessage(whenNil), nil
	case json.RawMessage:
		if len(x) == 0 {
			return json.RawMessage(whenNil), nil
		}
		if !json.Valid(x) {
			return nil, errors.New("invalid JSON")
		}
		return x, nil
	}
	b, err := json.Marshal(v)
	if err == nil && string(b) == "null" {
		// A typed nil (map[string]any(nil)) marshals to null, which
		// Prefect refuses with 422 where it expects an object.
		return json.RawMessage(whenNil), nil
	}
	return b, err
}

// wire is the body of POST /deployments/ for s.
func (s DeploymentSpec) wire() (*deploymentCreate, error) {
	if s.Name == "" || s.FlowID == "" {
		return nil, errors.New("prefect: deployment needs a Name and a FlowID")
	}
	if s.WorkPoolName != "" {
		if err := checkPoolName(s.WorkPoolName); err != nil {
			return nil, err
		}
	}
	body := &deploymentCreate{
		Name: s.Name, FlowID: s.FlowID, WorkPoolName: s.WorkPoolName, WorkQueueName: s.WorkQueueName,
		Description: s.Description, Tags: s.Tags, Version: s.Version, Entrypoint: s.Entrypoint,
		EnforceParameterSchema: s.EnforceParameterSchema, Paused: s.Paused,
		Schedules: []scheduleCreate{},
	}
	if body.Tags == nil {
		body.Tags = []string{}
	}
	var err error
	if body.Parameters, err = rawJSON(s.Parameters, "{}"); err != nil {
		return nil, fmt.Errorf("prefect: deployment %q parameters: %w", s.Name, err)
	}
	if body.ParameterOpenAPISchema, err = rawJSON(s.ParameterSchema, ""); err != nil {
		return nil, fmt.Errorf("prefect: deployment %q parameter schema: %w", s.Name, err)
	}
	for i, sc := range s.Schedules {
		w, err := sc.wire()
		if err != nil {
			return nil, fmt.Errorf("deployment %q schedule %d: %w", s.Name, i, err)
		}
		body.Schedules = append(body.Schedules, w)
	}
	if s.ConcurrencyLimit > 0 {
		body.ConcurrencyLimit = &s.ConcurrencyLimit
		if s.CollisionStrategy != "" {
			body.ConcurrencyOptions = &concurrencyOption{CollisionStrategy: s.CollisionStrategy}
		}
	}
	return body, nil
}

// UpsertDeployment creates or updates the deployment (flow_id, name). An
// update replaces schedules and deletes the deployment's not-yet-started
// auto-scheduled runs; runs created by run_deployment are kept (docs/prefect.md §8).
func (c *Client) UpsertDeployment(ctx context.Context, s DeploymentSpec) (*Deployment, error) {
	body, err := s.wire()
	if err != nil {
		return nil, err
	}
	var d Deployment
	if err := c.do(ctx, call{method: "POST", path: "/deployments/", body: body, out: &d, idempotent: true}); err != nil {
		return nil, fmt.Errorf("upsert deployment %q: %w", s.Name, err)
	}
	return &d, nil
}

// RegisteredDeployment is a deployment as the server holds it, with every
// field of its answer kept for Matches.
type RegisteredDeployment struct {
	Deployment
	fields map[string]json.RawMessage
}

// UnmarshalJSON keeps the whole answer next to the decoded Deployment.
func (r *RegisteredDeployment) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &r.Deployment); err != nil {
		return err
	}
	return json.Unmarshal(b, &r.fields)
}

// Matches reports whether UpsertDeployment(s) would leave r as it is, so
// that the upsert can be skipped. The upsert sets only the fields it sends
// (src/prefect/server/models/deployments.py create_deployment: the
// conflict update is the request's set fields), so each field s would send
// is compared with the server's value as JSON (key order and 300 vs 300.0
// do not matter); schedules are compared as a set, each with the server's
// defaults for what s leaves out (an interval's anchor_date and "UTC"
// timezone, a cron's day_or true). Anything it cannot compare (a
// concurrency limit, a field the server did not return) is a mismatch: a
// false "no" costs one upsert, a false "yes" would leave the deployment
// stale.
func (r *RegisteredDeployment) Matches(s DeploymentSpec) bool {
	body, err := s.wire()
	if err != nil || r == nil || r.fields == nil {
		return false
	}
	b, err := json.Marshal(body)
	if err != nil {
		return false
	}
	var sent map[string]json.RawMessage
	if json.Unmarshal(b, &sent) != nil {
		return false
	}
	for k, v := range sent {
		have, ok := r.fields[k]
		if !ok {
			return false
		}
		switch k {
		case "schedules":
			if !schedulesMatch(v, have) {
				return false
			}
		case "name", "flow_id", "work_pool_name", "work_queue_name", "description", "version", "entrypoint",
			"enforce_parameter_schema", "paused", "tags", "parameters", "parameter_openapi_schema":
			if !jsonEqual(v, have) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// serverSchedule is one of a deployment's schedules as the server returns
// it (src/prefect/server/schemas/core.py DeploymentSchedule).
type serverSchedule struct {
	Schedule         map[string]json.RawMessage `json:"schedule"`
	Active           bool                       `json:"active"`
	MaxScheduledRuns *int                       `json:"max_scheduled_runs"`
	Parameters       map[string]any             `json:"parameters"`
	Slug             *string                    `json:"slug"`
}

// schedulesMatch: the sent schedules and the server's are the same set
// (the server lists them in its own order).
func schedulesMatch(sentRaw, haveRaw json.RawMessage) bool {
	var sent []scheduleCreate
	var have []serverSchedule
	if json.Unmarshal(sentRaw, &sent) != nil || json.Unmarshal(haveRaw, &have) != nil || len(sent) != len(have) {
		return false
	}
	used := make([]bool, len(have))
next:
	for _, sc := range sent {
		for i, h := range have {
			if !used[i] && scheduleMatches(sc, h) {
				used[i] = true
				continue next
			}
		}
		return false
	}
	return true
}

// scheduleMatches compares one sent schedule with one of the server's: an
// upsert recreates each with only schedule and active set (no
// max_scheduled_runs, parameters or slug).
func scheduleMatches(sc scheduleCreate, h serverSchedule) bool {
	if sc.Active != h.Active || h.MaxScheduledRuns != nil || len(h.Parameters) > 0 || (h.Slug != nil && *h.Slug != "") {
		return false
	}
	for k, v := range sc.Schedule {
		hv, ok := h.Schedule[k]
		if !ok {
			return false
		}
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		if k == "anchor_date" {
			var x, y time.Time
			if json.Unmarshal(b, &x) != nil || json.Unmarshal(hv, &y) != nil || !x.Equal(y) {
				return false
			}
			continue
		}
		if !jsonEqual(b, hv) {
			return false
		}
	}
	// What the server holds beyond what was sent must be its default for it.
	for k, hv := range h.Schedule {
		if _, ok := sc.Schedule[k]; ok {
			continue
		}
		var v any
		if json.Unmarshal(hv, &v) != nil {
			return false
		}
		switch {
		case k == "anchor_date":
			// Picked by the server when none is sent; an upsert would pick
			// another, equally arbitrary one.
		case k == "timezone" && (v == nil || v == "UTC"):
		case k == "day_or" && v == true:
		case v == nil:
		default:
			return false
		}
	}
	return true
}

// ReadDeploymentByName reads "flow/deployment" as run_deployment does.
func (c *Client) ReadDeploymentByName(ctx context.Context, flow, deployment string) (*Deployment, error) {
	var d Deployment
	p := "/deployments/name/" + url.PathEscape(flow) + "/" + url.PathEscape(deployment)
	if err := c.do(ctx, call{method: "GET", path: p, out: &d, idempotent: true}); err != nil {
		return nil, err
	}
	return &d, nil
}

// ReadDeployment reads a deployment by id (GET /deployments/{id}).
func (c *Client) ReadDeployment(ctx context.Context, id string) (*Deployment, error) {
	var d Deployment
	if err := c.do(ctx, call{method: "GET", path: "/deployments/" + url.PathEscape(id), out: &d, idempotent: true}); err != nil {
		return nil, err
	}
	return &d, nil
}

// FlowRunCreate is the body of POST /deployments/{id}/create_flow_run.
type FlowRunCreate struct {
	Name           string
	Parameters     any // merged over the deployment's defaults
	Tags           []string
	IdempotencyKey string // makes the call safe to retry: the server returns the existing run
	// State defaults to Scheduled now, as run_deployment sends.
	State *StateCreate
}

// CreateFlowRun creates a run of a deployment, like run_deployment or the UI's
// Run button. With enforce_parameter_schema, bad parameters are a 409 (docs/prefect.md §8).
func (c *Client) CreateFlowRun(ctx context.Context, deploymentID string, r FlowRunCreate) (*FlowRun, error) {
	params, err := rawJSON(r.Parameters, "{}")
	if err != nil {
		return nil, fmt.Errorf("prefect: flow run parameters: %w", err)
	}
	body := struct {
		Name           string          `json:"name,omitempty"`
		Parameters     json.RawMessage `json:"parameters"`
		Tags           []string        `json:"tags,omitempty"`
		IdempotencyKey string          `json:"idempotency_key,omitempty"`
		State          *StateCreate    `json:"state,omitempty"`
	}{r.Name, params, r.Tags, r.IdempotencyKey, r.State}
	if body.IdempotencyKey == "" {
		// A fresh key makes the call safe to retry (a busy SQLite server
		// answers 503): the server returns the run the first try created.
		body.IdempotencyKey = "plate-resort-" + newUUID()
	}
	var fr FlowRun
	err = c.do(ctx, call{method: "POST", path: "/deployments/" + url.PathEscape(deploymentID) + "/create_flow_run",
		body: body, out: &fr, idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("create flow run: %w", err)
	}
	return &fr, nil
}

// poolFilter selects the deployments of one work pool in
// /deployments/filter and /deployments/count.
type poolFilter struct {
	Name anyOf[string] `json:"name"`
}

// CountDeploymentsInPool is how many deployments work pool pool holds
// (POST /deployments/count, src/prefect/server/api/deployments.py
// count_deployments): one cheap query, where listing them returns each
// one's parameter schema.
func (c *Client) CountDeploymentsInPool(ctx context.Context, pool string) (int, error) {
	if err := checkPoolName(pool); err != nil {
		return 0, err
	}
	body := struct {
		WorkPools poolFilter `json:"work_pools"`
	}{poolFilter{anyOf[string]{[]string{pool}}}}
	var n int
	if err := c.do(ctx, call{method: "POST", path: "/deployments/count", body: body, out: &n, idempotent: true}); err != nil {
		return 0, fmt.Errorf("count deployments of pool %q: %w", pool, err)
	}
	return n, nil
}

// DeploymentsInPool lists the deployments of work pool pool that carry
// every one of tags (none: all of them), paging through POST
// /deployments/filter (src/prefect/server/api/deployments.py
// read_deployments; a page is at most PREFECT_API_DEFAULT_LIMIT, 200).
// Pages are sorted by creation time: the only sort Prefect offers besides
// the name and the update time (src/prefect/server/schemas/sorting.py
// DeploymentSort), and names repeat (one per device and flow), so
// PostgreSQL may order equal names differently from one page to the next
// and skip some; a deployment seen twice is listed once.
func (c *Client) DeploymentsInPool(ctx context.Context, pool string, tags ...string) ([]RegisteredDeployment, error) {
	if err := checkPoolName(pool); err != nil {
		return nil, err
	}
	type tagsF struct {
		All []string `json:"all_"`
	}
	type depsF struct {
		Tags tagsF `json:"tags"`
	}
	var deps *depsF
	if len(tags) > 0 {
		deps = &depsF{tagsF{tags}}
	}
	var out []RegisteredDeployment
	seen := map[string]bool{}
	for offset := 0; ; offset += MaxScheduledRunsLimit {
		body := struct {
			WorkPools   poolFilter `json:"work_pools"`
			Deployments *depsF     `json:"deployments,omitempty"`
			Limit       int        `json:"limit"`
			Offset      int        `json:"offset"`
			Sort        string     `json:"sort"`
		}{poolFilter{anyOf[string]{[]string{pool}}}, deps, MaxScheduledRunsLimit, offset, "CREATED_DESC"}
		var page []RegisteredDeployment
		if err := c.do(ctx, call{method: "POST", path: "/deployments/filter", body: body, out: &page, idempotent: true}); err != nil {
			return nil, fmt.Errorf("list deployments of pool %q: %w", pool, err)
		}
		for _, d := range page {
			if !seen[d.ID] {
				seen[d.ID] = true
				out = append(out, d)
			}
		}
		if len(page) < MaxScheduledRunsLimit {
			return out, nil
		}
	}
}
