package prefect

import (
	"context"
	"net/url"
	"sort"
)

// ReadFlowRun returns the run or a 404 *APIError.
func (c *Client) ReadFlowRun(ctx context.Context, id string) (*FlowRun, error) {
	var fr FlowRun
	if err := c.do(ctx, call{method: "GET", path: "/flow_runs/" + url.PathEscape(id), out: &fr, idempotent: true}); err != nil {
		return nil, err
	}
	return &fr, nil
}

// ReadFlowRunStates returns the state history of run id, oldest first
// (GET /flow_run_states/?flow_run_id=, src/prefect/server/api/flow_run_states.py).
func (c *Client) ReadFlowRunStates(ctx context.Context, id string) ([]State, error) {
	var out []State
	path := "/flow_run_states/?flow_run_id=" + url.QueryEscape(id)
	if err := c.do(ctx, call{method: "GET", path: path, out: &out, idempotent: true}); err != nil {
		return nil, err
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Timestamp.Before(out[j].Timestamp) })
	return out, nil
}

// FlowRunPatch is the part of FlowRunUpdate (extra="forbid") a worker sets;
// nil fields are not sent and so left unchanged by the server (docs/prefect.md §4).
type FlowRunPatch struct {
	// InfrastructurePID tells the UI and a restarted bridge who runs it,
	// e.g. "bridge-1/<command id>".
	InfrastructurePID *string          `json:"infrastructure_pid,omitempty"`
	EmpiricalPolicy   *EmpiricalPolicy `json:"empirical_policy,omitempty"`
	Tags              []string         `json:"tags,omitempty"`
}

// PatchFlowRun applies p (PATCH /flow_runs/{id}, 204).
func (c *Client) PatchFlowRun(ctx context.Context, id string, p FlowRunPatch) error {
	return c.do(ctx, call{method: "PATCH", path: "/flow_runs/" + url.PathEscape(id), body: p, idempotent: true})
}

// FlowRunFilter selects runs for POST /flow_runs/filter; empty fields do not
// filter. Limit 0 means the server maximum (200).
type FlowRunFilter struct {
	IDs           []string
	DeploymentIDs []string
	WorkPools     []string // by name
	StateTypes    []StateType
	StateNames    []string
	Limit         int
	Offset        int
	Sort          string // e.g. "EXPECTED_START_TIME_ASC"; "" = server default
}

type anyOf[T any] struct {
	Any []T `json:"any_"`
}

func (f FlowRunFilter) wire() any {
	type stateF struct {
		Type *anyOf[StateType] `json:"type,omitempty"`
		Name *anyOf[string]    `json:"name,omitempty"`
	}
	type runsF struct {
		ID    *anyOf[string] `json:"id,omitempty"`
		State *stateF        `json:"state,omitempty"`
	}
	type depsF struct {
		ID *anyOf[string] `json:"id,omitempty"`
	}
	type poolsF struct {
		Name *anyOf[string] `json:"name,omitempty"`
	}
	body := struct {
		FlowRuns    *runsF  `json:"flow_runs,omitempty"`
		Deployments *depsF  `json:"deployments,omitempty"`
		WorkPools   *poolsF `json:"work_pools,omitempty"`
		Limit       int     `json:"limit,omitempty"`
		Offset      int     `json:"offset,omitempty"`
		Sort        string  `json:"sort,omitempty"`
	}{Limit: f.Limit, Offset: f.Offset, Sort: f.Sort}
	if body.Limit <= 0 || body.Limit > MaxScheduledRunsLimit {
		body.Limit = MaxScheduledRunsLimit
	}
	runs := runsF{}
	if f.IDs != nil {
		runs.ID = &anyOf[string]{f.IDs}
	}
	if f.StateTypes != nil || f.StateNames != nil {
		runs.State = &stateF{}
		if f.StateTypes != nil {
			runs.State.Type = &anyOf[StateType]{f.StateTypes}
		}
		if f.StateNames != nil {
			runs.State.Name = &anyOf[string]{f.StateNames}
		}
	}
	if runs.ID != nil || runs.State != nil {
		body.FlowRuns = &runs
	}
	if f.DeploymentIDs != nil {
		body.Deployments = &depsF{ID: &anyOf[string]{f.DeploymentIDs}}
	}
	if f.WorkPools != nil {
		body.WorkPools = &poolsF{Name: &anyOf[string]{f.WorkPools}}
	}
	return body
}

// FilterFlowRuns lists runs matching f. Note that an empty (non-nil) ID list
// matches nothing, as in Prefect: pass nil to not filter.
func (c *Client) FilterFlowRuns(ctx context.Context, f FlowRunFilter) ([]FlowRun, error) {
	var runs []FlowRun
	err := c.do(ctx, call{method: "POST", path: "/flow_runs/filter", body: f.wire(), out: &runs, idempotent: true})
	return runs, err
}
