package prefect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// ErrReservedPoolName: the server answers 403 for pool names beginning with
// "prefect" in any case (docs/prefect.md §1); we refuse them before sending.
var ErrReservedPoolName = errors.New(`prefect: work pool names starting with "prefect" are reserved by Prefect; choose another name (default plate-resort-pool)`)

// workPoolCreate is Prefect's WorkPoolCreate (extra="forbid").
type workPoolCreate struct {
	Name            string          `json:"name"`
	Description     string          `json:"description,omitempty"`
	Type            string          `json:"type"`
	BaseJobTemplate json.RawMessage `json:"base_job_template"`
}

// EnsureWorkPool creates the pool or, if it exists (409), reads it back. It
// does not change an existing pool: its type, paused flag and limits belong to
// whoever administers Prefect. An empty base job template is valid (docs/prefect.md §1).
func (c *Client) EnsureWorkPool(ctx context.Context, name, poolType, description string) (*WorkPool, error) {
	if err := checkPoolName(name); err != nil {
		return nil, err
	}
	var wp WorkPool
	err := c.do(ctx, call{method: "POST", path: "/work_pools/", idempotent: true,
		body: workPoolCreate{Name: name, Type: poolType, Description: description, BaseJobTemplate: json.RawMessage("{}")},
		out:  &wp})
	if IsConflict(err) {
		return c.ReadWorkPool(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("create work pool %q: %w", name, err)
	}
	return &wp, nil
}

// ReadWorkPool returns the pool by name; a missing pool is a 404 *APIError.
func (c *Client) ReadWorkPool(ctx context.Context, name string) (*WorkPool, error) {
	var wp WorkPool
	if err := c.do(ctx, call{method: "GET", path: "/work_pools/" + url.PathEscape(name), out: &wp, idempotent: true}); err != nil {
		return nil, err
	}
	return &wp, nil
}

func checkPoolName(name string) error {
	if strings.TrimSpace(name) == "" {
		return errors.New("prefect: empty work pool name")
	}
	if strings.HasPrefix(strings.ToLower(name), "prefect") {
		return ErrReservedPoolName
	}
	return nil
}

// checkWorkerName keeps worker names in the shape Python's worker enforces
// (no '/' or '%', docs/prefect.md §2), so they render and filter correctly in the UI.
func checkWorkerName(name string) error {
	if name == "" || strings.ContainsAny(name, "/%") {
		return fmt.Errorf("prefect: worker name %q must be non-empty and contain no '/' or '%%'", name)
	}
	return nil
}

// WorkerHeartbeat marks worker ONLINE in pool and flips a NOT_READY pool to
// READY (docs/prefect.md §2). Send it at least every interval; the foreman marks the worker
// OFFLINE after 3 missed intervals.
func (c *Client) WorkerHeartbeat(ctx context.Context, pool, worker string, interval time.Duration) error {
	if err := checkWorkerName(worker); err != nil {
		return err
	}
	body := struct {
		Name     string `json:"name"`
		Interval int    `json:"heartbeat_interval_seconds,omitempty"`
	}{worker, int(interval.Round(time.Second) / time.Second)}
	return c.do(ctx, call{method: "POST", path: "/work_pools/" + url.PathEscape(pool) + "/workers/heartbeat", body: body, idempotent: true})
}

// FilterWorkers lists the workers of a pool with their ONLINE/OFFLINE status.
func (c *Client) FilterWorkers(ctx context.Context, pool string) ([]Worker, error) {
	var ws []Worker
	err := c.do(ctx, call{method: "POST", path: "/work_pools/" + url.PathEscape(pool) + "/workers/filter",
		body: struct{}{}, out: &ws, idempotent: true})
	return ws, err
}

// DeleteWorker removes a worker's record from its pool
// (DELETE /work_pools/{pool}/workers/{name}, src/prefect/server/api/workers.py
// delete_worker), so the pool's other workers stop counting it at once; a
// record already gone is not an error.
func (c *Client) DeleteWorker(ctx context.Context, pool, worker string) error {
	if err := checkWorkerName(worker); err != nil {
		return err
	}
	err := c.do(ctx, call{method: "DELETE", path: "/work_pools/" + url.PathEscape(pool) + "/workers/" + url.PathEscape(worker), idempotent: true})
	if StatusOf(err) == 404 {
		return nil
	}
	return err
}

// MaxScheduledRunsLimit is PREFECT_API_DEFAULT_LIMIT; larger limits get 422 (docs/prefect.md §3).
const MaxScheduledRunsLimit = 200

// GetScheduledFlowRuns polls the pool for SCHEDULED runs due before `before`
// (zero: no bound). queues nil means every queue of the pool. The poll also
// keeps the queues and deployments READY in the UI (docs/prefect.md §3); it is not a claim.
func (c *Client) GetScheduledFlowRuns(ctx context.Context, pool string, queues []string, before time.Time, limit int) ([]ScheduledRun, error) {
	if limit <= 0 || limit > MaxScheduledRunsLimit {
		limit = MaxScheduledRunsLimit
	}
	body := struct {
		ScheduledBefore *time.Time `json:"scheduled_before,omitempty"`
		WorkQueueNames  []string   `json:"work_queue_names,omitempty"`
		Limit           int        `json:"limit"`
	}{WorkQueueNames: queues, Limit: limit}
	if !before.IsZero() {
		b := before.UTC()
		body.ScheduledBefore = &b
	}
	var runs []ScheduledRun
	err := c.do(ctx, call{method: "POST", path: "/work_pools/" + url.PathEscape(pool) + "/get_scheduled_flow_runs",
		body: body, out: &runs, idempotent: true})
	return runs, err
}
