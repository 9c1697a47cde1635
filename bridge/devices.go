package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/plate-resort/plate-resort/contract"
)

// Limits on retained telemetry we parse; anything bigger is not the agent's.
const (
	maxState = 64 << 10
	maxInfo  = 1 << 20
)

// deviceStatus is what the bridge knows of one device from its retained
// topics (design.md: availability, state, info).
type deviceStatus struct {
	Availability string    // "online", "offline" or "" (not seen yet)
	Since        time.Time // when the bridge first saw this availability value
	State        deviceState
	StateAt      time.Time // when the last state arrived
	Commands     []*contract.Spec
	InfoSeq      int // increments when the command catalogue changes
}

// deviceState is the part of the retained state the bridge logs as progress.
type deviceState struct {
	Connected   bool     `json:"connected"`
	Moving      bool     `json:"moving"`
	PositionDeg *float64 `json:"position_deg"`
	ActiveHotel *string  `json:"active_hotel"`
	EStop       bool     `json:"estop"`
	Busy        *struct {
		ID      *string `json:"id"`
		Command string  `json:"command"`
	} `json:"busy"`
	Target *struct {
		Hotel *string `json:"hotel"`
		Angle float64 `json:"angle"`
	} `json:"target"`
	UpdatedAt string `json:"updated_at"`
}

// busyWith reports whether the device is running command id.
func (s deviceState) busyWith(id string) bool {
	return s.Busy != nil && s.Busy.ID != nil && *s.Busy.ID == id
}

// devices tracks the retained topics of every configured device.
type devices struct {
	prefix string
	mu     sync.Mutex
	byName map[string]*deviceStatus
	notify chan struct{} // closed and replaced on every change
}

func newDevices(prefix string, names []string) *devices {
	d := &devices{prefix: prefix, byName: map[string]*deviceStatus{}, notify: make(chan struct{})}
	for _, n := range names {
		d.byName[n] = &deviceStatus{}
	}
	return d
}

// topics are the retained topics to subscribe to.
func (d *devices) topics() []string {
	var out []string
	for n := range d.byName {
		base := d.prefix + "/" + n
		out = append(out, base+"/availability", base+"/state", base+"/info")
	}
	return out
}

// handle takes one message; it reports false when the topic is not ours.
// It never blocks and never trusts the payload.
func (d *devices) handle(topic string, payload []byte, now time.Time) bool {
	rest, ok := strings.CutPrefix(topic, d.prefix+"/")
	if !ok {
		return false
	}
	name, leaf, ok := strings.Cut(rest, "/")
	if !ok {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.byName[name]
	if !ok {
		return false
	}
	switch leaf {
	case "availability":
		v := strings.TrimSpace(string(payload))
		if v != "online" && v != "offline" {
			v = "" // an empty (cleared) or unknown value: not known
		}
		if v != st.Availability {
			st.Availability, st.Since = v, now
		}
	case "state":
		if len(payload) > maxState {
			return true
		}
		var s deviceState
		if json.Unmarshal(payload, &s) != nil {
			return true
		}
		st.State, st.StateAt = s, now
	case "info":
		if len(payload) > maxInfo {
			return true
		}
		var info struct {
			Commands []*contract.Spec `json:"commands"`
		}
		if json.Unmarshal(payload, &info) != nil || !validSpecs(info.Commands) {
			return true
		}
		if !sameSpecs(st.Commands, info.Commands) {
			st.Commands = info.Commands
			st.InfoSeq++
		}
	default:
		return false
	}
	close(d.notify)
	d.notify = make(chan struct{})
	return true
}

func validSpecs(specs []*contract.Spec) bool {
	if len(specs) == 0 || len(specs) > 100 {
		return false
	}
	for _, s := range specs {
		if s == nil || s.Name == "" || s.Params == nil || s.Params.Type != "object" || !validSchema(s.Params, 0) {
			return false
		}
	}
	return true
}

// validSchema checks a catalogue schema from the wire all the way down: no
// nil properties, known types, bounded depth. A retained info message is
// input like any other; one that fails is ignored and the built-in catalogue
// is used instead.
func validSchema(s *contract.Schema, depth int) bool {
	if s == nil || depth > 4 || len(s.Properties) > 64 {
		return false
	}
	switch s.Type {
	case "object", "string", "number", "integer", "boolean":
	default:
		return false
	}
	for k, p := range s.Properties {
		if k == "" || len(k) > 64 || !validSchema(p, depth+1) {
			return false
		}
	}
	return true
}

func sameSpecs(a, b []*contract.Spec) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// get returns a copy of a device's status and the channel closed on the
// next change.
func (d *devices) get(name string) (deviceStatus, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.byName[name]
	if st == nil {
		return deviceStatus{}, d.notify
	}
	return *st, d.notify
}

// await waits until cond holds for the device or ctx ends, returning the
// last status seen.
func (d *devices) await(ctx context.Context, name string, cond func(deviceStatus) bool) (deviceStatus, bool) {
	for {
		st, ch := d.get(name)
		if cond(st) {
			return st, true
		}
		select {
		case <-ctx.Done():
			return st, false
		case <-ch:
		}
	}
}
