package prefect

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// StateCreate is the body of a state proposal. Prefect's StateCreate is
// extra="forbid" (docs/prefect.md §4): only these five fields may be sent; timestamp or id get
// a 422.
type StateCreate struct {
	Type         StateType          `json:"type"`
	Name         string             `json:"name,omitempty"`
	Message      string             `json:"message,omitempty"`
	Data         json.RawMessage    `json:"data,omitempty"`
	StateDetails StateDetailsCreate `json:"state_details"`
}

// StateDetailsCreate is what a worker may set in state_details.
type StateDetailsCreate struct {
	TransitionID  string     `json:"transition_id,omitempty"`
	ScheduledTime *time.Time `json:"scheduled_time,omitempty"`
}

// Pending is the claim proposal. The name must be exactly "Pending": newer
// servers allow PENDING->PENDING for other names, which would break the
// two-workers race protection (docs/prefect.md §4 "Two workers racing").
func Pending() StateCreate { return StateCreate{Type: StatePending, Name: "Pending"} }

// Running marks the start of execution; the server increments run_count.
func Running() StateCreate { return StateCreate{Type: StateRunning, Name: "Running"} }

// Cancelling asks the worker that owns a run to stop it (what the UI sends, docs/prefect.md §6).
func Cancelling(msg string) StateCreate {
	return StateCreate{Type: StateCancelling, Name: "Cancelling", Message: msg}
}

// Cancelled ends a run after its work was stopped.
func Cancelled(msg string) StateCreate {
	return StateCreate{Type: StateCancelled, Name: "Cancelled", Message: msg}
}

// Failed ends a run with a device or validation error. data stays null so that
// Python's state.result() raises FailedRun(msg), not TypeError (docs/prefect.md §7).
func Failed(msg string) StateCreate {
	return StateCreate{Type: StateFailed, Name: "Failed", Message: msg}
}

// Crashed ends a run whose infrastructure failed (broker, agent offline, no
// reply). Never retried by the server (docs/prefect.md §6).
func Crashed(msg string) StateCreate {
	return StateCreate{Type: StateCrashed, Name: "Crashed", Message: msg}
}

// ErrReservedResultKey is returned by Completed for data Python's client would
// misread (see the package documentation, "Result data contract").
var ErrReservedResultKey = errors.New("prefect: result data uses a reserved top-level key")

// reservedResultKeys are the top-level keys that change how Prefect treats a
// result dict (docs/prefect.md §7, §14.5).
var reservedResultKeys = []string{"storage_key", "type", "artifact_key", "artifact_type", "artifact_description"}

// Completed builds a COMPLETED proposal whose data Python's state.result()
// returns unchanged. data is any JSON-marshalable value except nil/null; for
// an object, the reserved keys are refused.
func Completed(msg string, data any) (StateCreate, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return StateCreate{}, fmt.Errorf("prefect: encode result data: %w", err)
	}
	if err := CheckResultData(raw); err != nil {
		return StateCreate{}, err
	}
	return StateCreate{Type: StateCompleted, Name: "Completed", Message: msg, Data: raw}, nil
}

// CheckResultData validates already-encoded COMPLETED data against the result
// data contract.
func CheckResultData(raw json.RawMessage) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return errors.New("prefect: COMPLETED data must not be null: Python's state.result() would return MissingResult")
	}
	if !json.Valid(raw) { // untrimmed: these exact bytes are sent
		return errors.New("prefect: COMPLETED data is not valid JSON")
	}
	if trimmed[0] != '{' {
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		return fmt.Errorf("prefect: COMPLETED data: %w", err)
	}
	var bad []string
	for _, k := range reservedResultKeys {
		if _, ok := obj[k]; ok {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%w %q: wrap the result, e.g. {\"result\": ...}", ErrReservedResultKey, strings.Join(bad, ","))
	}
	return nil
}

// OrchestrationStatus is Prefect's verdict on a proposal (docs/prefect.md §4).
type OrchestrationStatus string

const (
	Accept OrchestrationStatus = "ACCEPT"
	Reject OrchestrationStatus = "REJECT"
	Abort  OrchestrationStatus = "ABORT"
	Wait   OrchestrationStatus = "WAIT"
)

// OrchestrationDetails carries the reason for REJECT/ABORT/WAIT and, for
// WAIT, how long to wait before proposing again.
type OrchestrationDetails struct {
	Type         string  `json:"type"` // accept_details, reject_details, abort_details, wait_details
	Reason       string  `json:"reason"`
	DelaySeconds float64 `json:"delay_seconds"`
}

// OrchestrationResult is the answer to set_state. State is what the run is in
// now: on REJECT it is the state the server chose instead of the proposal (for
// example AwaitingRetry or the unchanged Cancelling state); on ABORT it may be
// nil. Callers act on Status and State, never on what they proposed (docs/prefect.md §15).
type OrchestrationResult struct {
	Status  OrchestrationStatus  `json:"status"`
	Details OrchestrationDetails `json:"details"`
	State   *State               `json:"state"`
}
