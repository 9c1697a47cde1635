package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

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

// Limits of get_events.
const (
	DefaultEventsLimit = 50
	MaxEventsLimit     = 1000
	// MaxEvent bounds one stored or published event; real ones are a few
	// hundred bytes (the message is clipped to MaxEventMessage).
	MaxEvent        = 4 << 10
	MaxEventMessage = 512
)

func eventsParams() *Schema {
	types := make([]any, len(EventTypes))
	for i, t := range EventTypes {
		types[i] = t
	}
	return object(map[string]*Schema{
		"limit": {Type: "integer", Minimum: f64(1), Maximum: f64(MaxEventsLimit), Default: DefaultEventsLimit,
			Title: "Number of events", Description: "How many of the latest events to return, from 1 to 1000 (default 50)."},
		"type": {Type: "string", Enum: types, Title: "Event type", Description: "Return only events of this type, for example estop or command_finished; leave empty for all."},
	})
}

// IsEventType says whether t is one of EventTypes.
func IsEventType(t string) bool {
	for _, e := range EventTypes {
		if e == t {
			return true
		}
	}
	return false
}

// DecodeEvent reads one event (a line of <base>/event, or a record of the
// agent's on-disk ring) and refuses anything that is not exactly one: too
// big, not JSON, duplicate or unknown fields, an unknown type, no time.
func DecodeEvent(raw []byte) (Event, error) {
	var ev Event
	if len(raw) > MaxEvent {
		return ev, fmt.Errorf("event is %d bytes, at most %d", len(raw), MaxEvent)
	}
	if _, err := decodeStrict(raw); err != nil {
		return ev, fmt.Errorf("event: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil {
		return Event{}, fmt.Errorf("event: %w", err)
	}
	switch {
	case !IsEventType(ev.Type):
		return Event{}, fmt.Errorf("event: unknown type %q", truncate(ev.Type, 64))
	case ev.At.IsZero():
		return Event{}, fmt.Errorf("event: no time")
	}
	return ev, nil
}
