package prefect

import (
	"context"
	"time"
)

// Python logging levels, which Prefect stores as ints (docs/prefect.md §9).
const (
	LevelDebug    = 10
	LevelInfo     = 20
	LevelWarning  = 30
	LevelError    = 40
	LevelCritical = 50
)

// Log is one flow-run log line. The wire shape is Prefect's LogCreate
// (extra="forbid"): in particular no worker_id, which only Cloud accepts (docs/prefect.md §9).
type Log struct {
	Name      string    `json:"name"`
	Level     int       `json:"level"`
	Message   string    `json:"message"`
	Timestamp time.Time `json:"timestamp"`
	FlowRunID string    `json:"flow_run_id"`
}

// CreateLogs sends logs in one request. Not retried: a lost response would
// duplicate lines; callers that prefer duplicates over gaps can resend.
func (c *Client) CreateLogs(ctx context.Context, logs []Log) error {
	if len(logs) == 0 {
		return nil
	}
	for i := range logs {
		if logs[i].Timestamp.IsZero() {
			logs[i].Timestamp = time.Now()
		}
		logs[i].Timestamp = logs[i].Timestamp.UTC()
	}
	return c.do(ctx, call{method: "POST", path: "/logs/", body: logs, idempotent: false})
}

// FilterLogs returns the logs of one flow run, oldest first.
func (c *Client) FilterLogs(ctx context.Context, flowRunID string, limit int) ([]Log, error) {
	if limit <= 0 || limit > MaxScheduledRunsLimit {
		limit = MaxScheduledRunsLimit
	}
	body := map[string]any{
		"logs":  map[string]any{"flow_run_id": anyOf[string]{[]string{flowRunID}}},
		"sort":  "TIMESTAMP_ASC",
		"limit": limit,
	}
	var out []Log
	err := c.do(ctx, call{method: "POST", path: "/logs/filter", body: body, out: &out, idempotent: true})
	return out, err
}
