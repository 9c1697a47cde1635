package prefect

import (
	"context"
	"fmt"
	"net/url"
)

// WorkQueue is a queue of a work pool (src/prefect/server/schemas/responses.py
// WorkQueueResponse; docs/prefect.md §12).
type WorkQueue struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	Description      string `json:"description"`
	IsPaused         bool   `json:"is_paused"`
	ConcurrencyLimit *int   `json:"concurrency_limit"`
	Priority         int    `json:"priority"`
	WorkPoolID       string `json:"work_pool_id"`
	Status           string `json:"status"` // READY | NOT_READY | PAUSED
}

// EnsureWorkQueue creates queue name in pool with concurrency limit limit
// or, when it exists (409), reads it and sets the limit back to limit if an
// edit changed it: the limit is what keeps two runs off one device
// (docs/prefect.md §12), so registration restores it. Its paused flag is
// left alone (an operator pausing a device's queue is a decision, not
// drift). The second result says whether the limit had to be restored.
func (c *Client) EnsureWorkQueue(ctx context.Context, pool, name, description string, limit int) (*WorkQueue, bool, error) {
	if err := checkPoolName(pool); err != nil {
		return nil, false, err
	}
	base := "/work_pools/" + url.PathEscape(pool) + "/queues"
	body := struct {
		Name             string `json:"name"`
		Description      string `json:"description,omitempty"`
		ConcurrencyLimit int    `json:"concurrency_limit"`
	}{name, description, limit}
	var q WorkQueue
	err := c.do(ctx, call{method: "POST", path: base, body: body, out: &q, idempotent: true})
	if err == nil {
		return &q, false, nil
	}
	if !IsConflict(err) {
		return nil, false, fmt.Errorf("create work queue %q in pool %q: %w", name, pool, err)
	}
	if err := c.do(ctx, call{method: "GET", path: base + "/" + url.PathEscape(name), out: &q, idempotent: true}); err != nil {
		return nil, false, fmt.Errorf("read work queue %q in pool %q: %w", name, pool, err)
	}
	if q.ConcurrencyLimit != nil && *q.ConcurrencyLimit == limit {
		return &q, false, nil
	}
	patch := struct {
		ConcurrencyLimit int `json:"concurrency_limit"`
	}{limit}
	if err := c.do(ctx, call{method: "PATCH", path: base + "/" + url.PathEscape(name), body: patch, idempotent: true}); err != nil {
		return nil, false, fmt.Errorf("set concurrency limit of work queue %q in pool %q: %w", name, pool, err)
	}
	q.ConcurrencyLimit = &limit
	return &q, true, nil
}

// ReadWorkQueue reads queue name of pool (404 *APIError when absent).
func (c *Client) ReadWorkQueue(ctx context.Context, pool, name string) (*WorkQueue, error) {
	var q WorkQueue
	p := "/work_pools/" + url.PathEscape(pool) + "/queues/" + url.PathEscape(name)
	if err := c.do(ctx, call{method: "GET", path: p, out: &q, idempotent: true}); err != nil {
		return nil, err
	}
	return &q, nil
}

// TaskRun is the subset of a task run the bridge reads: which flow run it
// belongs to (src/prefect/server/schemas/core.py TaskRun).
type TaskRun struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	FlowRunID string `json:"flow_run_id"`
}

// ReadTaskRun reads a task run (GET /task_runs/{id}). run_deployment inside
// a flow creates one in the parent flow run and names it as the child's
// parent_task_run_id (src/prefect/deployments/flow_runs.py run_deployment),
// so this gives a child run's parent flow run.
func (c *Client) ReadTaskRun(ctx context.Context, id string) (*TaskRun, error) {
	var tr TaskRun
	if err := c.do(ctx, call{method: "GET", path: "/task_runs/" + url.PathEscape(id), out: &tr, idempotent: true}); err != nil {
		return nil, err
	}
	return &tr, nil
}
