package contract

import "time"

// Event types on <base>/event (non-retained, QoS 1): one JSON object per
// line of history.
const (
	EventCommandReceived = "command_received"
	EventCommandStarted  = "command_started"
	EventCommandFinished = "command_finished"
	EventEStop           = "estop"
	EventReset           = "reset"
	EventFault           = "fault"
	EventWarning         = "warning"
	EventLinkDown        = "link_down"
	EventLinkUp          = "link_up"
	EventMQTTReconnect   = "mqtt_reconnect"
)

// EventTypes lists every event type, for documentation and tests.
var EventTypes = []string{EventCommandReceived, EventCommandStarted, EventCommandFinished,
	EventEStop, EventReset, EventFault, EventWarning, EventLinkDown, EventLinkUp, EventMQTTReconnect}

// Event is one line of a device's history.
type Event struct {
	Type      string    `json:"type"`
	At        time.Time `json:"at"`
	ID        string    `json:"id,omitempty"`
	Command   string    `json:"command,omitempty"`
	Outcome   string    `json:"outcome,omitempty"` // "ok" or an error code
	User      string    `json:"user,omitempty"`    // as stamped by the broker
	FlowRunID string    `json:"flow_run_id,omitempty"`
	// DurationMS is how long a finished command ran.
	DurationMS *float64 `json:"duration_ms,omitempty"`
	Message    string   `json:"message,omitempty"`
}
