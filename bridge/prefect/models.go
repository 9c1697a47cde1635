package prefect

import (
	"encoding/json"
	"time"
)

// Response models. They hold the fields a worker uses; every other field the
// server sends is ignored by the decoder (docs/prefect.md §14.2).

// StateType is Prefect's state type enum (docs/prefect.md §4).
type StateType string

const (
	StateScheduled  StateType = "SCHEDULED"
	StatePending    StateType = "PENDING"
	StateRunning    StateType = "RUNNING"
	StateCompleted  StateType = "COMPLETED"
	StateFailed     StateType = "FAILED"
	StateCancelled  StateType = "CANCELLED"
	StateCrashed    StateType = "CRASHED"
	StatePaused     StateType = "PAUSED"
	StateCancelling StateType = "CANCELLING"
)

// IsFinal mirrors prefect.states.State.is_final: no further transitions expected.
func (t StateType) IsFinal() bool {
	switch t {
	case StateCompleted, StateFailed, StateCancelled, StateCrashed:
		return true
	}
	return false
}

// StateDetails holds the state_details fields a worker reads or sets.
type StateDetails struct {
	ScheduledTime *time.Time `json:"scheduled_time,omitempty"`
	TransitionID  string     `json:"transition_id,omitempty"`
	FlowRunID     string     `json:"flow_run_id,omitempty"`
	CacheKey      string     `json:"cache_key,omitempty"`
	PauseTimeout  *time.Time `json:"pause_timeout,omitempty"`
	// DeploymentConcurrencyLeaseID is set by the server when a deployment
	// concurrency slot was taken at PENDING (docs/prefect.md §12).
	DeploymentConcurrencyLeaseID string `json:"deployment_concurrency_lease_id,omitempty"`
}

// State is a flow-run state as the server returns it.
type State struct {
	ID           string          `json:"id"`
	Type         StateType       `json:"type"`
	Name         string          `json:"name"`
	Message      string          `json:"message"`
	Timestamp    time.Time       `json:"timestamp"`
	Data         json.RawMessage `json:"data"`
	StateDetails StateDetails    `json:"state_details"`
}

// EmpiricalPolicy is a flow run's retry policy (docs/prefect.md §5). Pointers distinguish
// "unset" (null) from zero, which Prefect treats differently.
type EmpiricalPolicy struct {
	Retries    *int     `json:"retries,omitempty"`
	RetryDelay *int     `json:"retry_delay,omitempty"` // seconds
	RetryType  *string  `json:"retry_type,omitempty"`  // null | "in_process" | "reschedule"
	PauseKeys  []string `json:"pause_keys,omitempty"`
	Resuming   *bool    `json:"resuming,omitempty"`
}

// FlowRun is the subset of Prefect's FlowRun a worker needs (docs/prefect.md §3).
type FlowRun struct {
	ID                string          `json:"id"`
	Name              string          `json:"name"`
	FlowID            string          `json:"flow_id"`
	DeploymentID      string          `json:"deployment_id"`
	WorkQueueName     string          `json:"work_queue_name"`
	WorkPoolName      string          `json:"work_pool_name"`
	Parameters        json.RawMessage `json:"parameters"`
	JobVariables      json.RawMessage `json:"job_variables"`
	Tags              []string        `json:"tags"`
	IdempotencyKey    string          `json:"idempotency_key"`
	InfrastructurePID string          `json:"infrastructure_pid"`
	// ParentTaskRunID is set on a run created by run_deployment inside a
	// flow: the task run representing it in the parent flow run
	// (src/prefect/deployments/flow_runs.py run_deployment).
	ParentTaskRunID        string          `json:"parent_task_run_id"`
	RunCount               int             `json:"run_count"`
	EmpiricalPolicy        EmpiricalPolicy `json:"empirical_policy"`
	State                  *State          `json:"state"`
	StateType              StateType       `json:"state_type"`
	StateName              string          `json:"state_name"`
	Created                time.Time       `json:"created"`
	Updated                time.Time       `json:"updated"`
	ExpectedStartTime      *time.Time      `json:"expected_start_time"`
	NextScheduledStartTime *time.Time      `json:"next_scheduled_start_time"`
	StartTime              *time.Time      `json:"start_time"`
	EndTime                *time.Time      `json:"end_time"`
}

// WorkPool is a Prefect work pool (docs/prefect.md §1).
type WorkPool struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	Description      string          `json:"description"`
	Type             string          `json:"type"`
	BaseJobTemplate  json.RawMessage `json:"base_job_template"`
	IsPaused         bool            `json:"is_paused"`
	ConcurrencyLimit *int            `json:"concurrency_limit"`
	Status           string          `json:"status"` // READY | NOT_READY | PAUSED
	DefaultQueueID   string          `json:"default_queue_id"`
	Created          time.Time       `json:"created"`
}

// Worker is a row of POST /work_pools/{pool}/workers/filter (docs/prefect.md §2).
type Worker struct {
	ID                       string     `json:"id"`
	Name                     string     `json:"name"`
	WorkPoolID               string     `json:"work_pool_id"`
	LastHeartbeatTime        *time.Time `json:"last_heartbeat_time"`
	HeartbeatIntervalSeconds *int       `json:"heartbeat_interval_seconds"`
	Status                   string     `json:"status"` // ONLINE | OFFLINE
}

// Flow is a Prefect flow (docs/prefect.md §8).
type Flow struct {
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

// Deployment is the subset of Prefect's DeploymentResponse a worker needs.
type Deployment struct {
	ID                     string          `json:"id"`
	Name                   string          `json:"name"`
	FlowID                 string          `json:"flow_id"`
	WorkPoolName           string          `json:"work_pool_name"`
	WorkQueueName          string          `json:"work_queue_name"`
	Description            string          `json:"description"`
	Tags                   []string        `json:"tags"`
	Parameters             json.RawMessage `json:"parameters"`
	ParameterOpenAPISchema json.RawMessage `json:"parameter_openapi_schema"`
	EnforceParameterSchema bool            `json:"enforce_parameter_schema"`
	Entrypoint             string          `json:"entrypoint"`
	Paused                 bool            `json:"paused"`
	Status                 string          `json:"status"` // READY | NOT_READY
	Schedules              []struct {
		ID       string          `json:"id"`
		Active   bool            `json:"active"`
		Schedule json.RawMessage `json:"schedule"`
	} `json:"schedules"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// ScheduledRun is one item of get_scheduled_flow_runs (docs/prefect.md §3).
type ScheduledRun struct {
	WorkPoolID  string  `json:"work_pool_id"`
	WorkQueueID string  `json:"work_queue_id"`
	FlowRun     FlowRun `json:"flow_run"`
}
