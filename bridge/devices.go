package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/contract"
)

// Limits on retained telemetry we parse; anything bigger is not the agent's.
const (
	maxState = 64 << 10
	maxInfo  = 1 << 20
)

// deviceStatus is what the bridge knows of one device from its retained
// topics (topics.md: availability, state, info).
type deviceStatus struct {
	Availability string    // contract.Online, contract.Offline or "" (not seen yet)
	Since        time.Time // when the bridge first saw this availability value
	State        contract.State
	StateAt      time.Time // when the last state arrived
	Commands     []*contract.Spec
	InfoSeq      int // increments when the command catalogue changes
	// Gone is set when the agent's retained info was removed (an empty
	// retained message: the device was taken out of service); a new info
	// clears it.
	Gone   bool
	GoneAt time.Time
}

// busyWith reports whether the device's state says it is running command id.
func busyWith(s contract.State, id string) bool {
	return s.Busy != nil && s.Busy.ID != nil && *s.Busy.ID == id
}

// devices tracks the retained topics of every device the bridge serves:
// the configured ones from the start and, through the wildcard
// subscriptions, every device that appears later (discovery). A configured
// list is an allow-list: other devices are ignored.
type devices struct {
	prefix  string
	builtIn contract.Options // shapes the built-in catalogue (catalog)
	// allow is the configured device list; nil serves every device found.
	allow map[string]bool
	max   int // bound on discovered devices: a stray publisher cannot grow the bridge without end
	log   zerolog.Logger

	mu      sync.Mutex
	byName  map[string]*deviceStatus
	ignored map[string]bool // devices seen and ignored, so each is logged once
	notify  chan struct{}   // closed and replaced on every change
}

func newDevices(prefix string, names []string, builtIn contract.Options) *devices {
	d := &devices{prefix: prefix, builtIn: builtIn, byName: map[string]*deviceStatus{}, ignored: map[string]bool{},
		notify: make(chan struct{}), max: DefaultMaxDevices, log: zerolog.Nop()}
	if len(names) > 0 {
		d.allow = map[string]bool{}
	}
	for _, n := range names {
		d.byName[n] = &deviceStatus{}
		d.allow[n] = true
	}
	return d
}

// topics are the retained topics to subscribe to: every device's, so a
// device that appears after the bridge started is found (topics.md
// "Discovery by the bridge").
func (d *devices) topics() []string {
	return []string{
		contract.AnyDevice(d.prefix, contract.LevelAvailability),
		contract.AnyDevice(d.prefix, contract.LevelState),
		contract.AnyDevice(d.prefix, contract.LevelInfo),
	}
}

// names lists the devices served, sorted.
func (d *devices) names() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.byName))
	for n := range d.byName {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// admit returns the status of device name, adding it when it is allowed
// and this message makes it appear (a valid info, or availability online).
// It returns nil for a device the bridge does not serve. Called with d.mu
// held.
func (d *devices) admit(name, leaf string, payload []byte) *deviceStatus {
	if st, ok := d.byName[name]; ok {
		return st
	}
	if d.allow != nil {
		if !d.ignored[name] {
			d.ignored[name] = true
			d.log.Debug().Str("device", name).Msg("device not in the configured devices list; ignored")
		}
		return nil
	}
	appears := leaf == contract.LevelInfo && len(bytes.TrimSpace(payload)) > 0 ||
		leaf == contract.LevelAvailability && strings.TrimSpace(string(payload)) == contract.Online
	if !appears {
		return nil // a state, a retained offline or a cleared info of a device never served
	}
	if len(d.byName) >= d.max {
		if !d.ignored[name] {
			d.ignored[name] = true
			d.log.Warn().Str("device", name).Int("max_devices", d.max).Msg("device found but max_devices reached; ignored")
		}
		return nil
	}
	st := &deviceStatus{}
	d.byName[name] = st
	d.log.Info().Str("device", name).Str("from", leaf).Msg("device discovered")
	return st
}

// handle takes one message; it reports false when the topic is not ours.
// It never blocks and never trusts the payload.
func (d *devices) handle(topic string, payload []byte, now time.Time) bool {
	name, leaf, ok := contract.ParseDeviceTopic(d.prefix, topic)
	if !ok {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.admit(name, leaf, payload)
	if st == nil {
		return false // not a device this bridge serves (yet)
	}
	switch leaf {
	case contract.LevelAvailability:
		v := strings.TrimSpace(string(payload))
		if v != contract.Online && v != contract.Offline {
			v = "" // an empty (cleared) or unknown value: not known
		}
		if v != st.Availability {
			st.Availability, st.Since = v, now
		}
	case contract.LevelState:
		if len(payload) > maxState {
			return true
		}
		var s contract.State
		if json.Unmarshal(payload, &s) != nil {
			return true
		}
		st.State, st.StateAt = s, now
	case contract.LevelInfo:
		if len(payload) > maxInfo {
			return true
		}
		if len(bytes.TrimSpace(payload)) == 0 {
			// The retained info was removed: the device is gone. Its
			// deployments stay (Prefect keeps them); its runs end Crashed
			// (attempt.go).
			if !st.Gone {
				st.Gone, st.GoneAt = true, now
				d.log.Info().Str("device", name).Msg("device's retained info removed: device gone")
			}
			break
		}
		var info contract.Info
		if json.Unmarshal(payload, &info) != nil || !validSpecs(info.Commands) {
			return true
		}
		st.Gone = false
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

// catalog returns the command specs for device: the agent's own catalogue
// from its retained info when seen (and fromInfo), else the built-in one
// shaped by the config. The int is the InfoSeq the specs stand for: negative
// when info was seen but not used (see Bridge.registerDevice).
func (d *devices) catalog(device string, fromInfo bool) (map[string]*contract.Spec, int) {
	st, _ := d.get(device)
	specs := st.Commands
	if len(specs) == 0 || !fromInfo {
		specs = contract.New(d.builtIn).Specs()
		if !fromInfo {
			st.InfoSeq = -st.InfoSeq // seen, but not used: see registerDevice
		}
	}
	out := make(map[string]*contract.Spec, len(specs))
	for _, s := range specs {
		out[s.Name] = s
	}
	return out, st.InfoSeq
}

// kind is how the agent schedules command on device (KindMotion when its
// catalogue does not say).
func (d *devices) kind(device, command string) contract.Kind {
	specs, _ := d.catalog(device, true)
	if s, ok := specs[command]; ok {
		return s.Kind
	}
	return contract.KindMotion
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

// offers reports whether the device's own catalogue (its retained info)
// lists command. The built-in catalogue does not count: only an agent that
// says so takes the newer fields and commands (lock, lock_id).
func (d *devices) offers(device, command string) bool {
	st, _ := d.get(device)
	for _, s := range st.Commands {
		if s != nil && s.Name == command {
			return true
		}
	}
	return false
}
