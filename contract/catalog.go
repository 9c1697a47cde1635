package contract

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Kind decides how the agent schedules a command.
type Kind string

const (
	// KindMotion commands move or configure the servo: one at a time, in
	// arrival order, from a bounded queue.
	KindMotion Kind = "motion"
	// KindRead commands answer at once, even during a move.
	KindRead Kind = "read"
	// KindControl commands act on the executor itself and never wait in the
	// queue (emergency_stop, stop, cancel, reset).
	KindControl Kind = "control"
)

// Spec describes one command.
type Spec struct {
	Name        string  `json:"name"`
	Kind        Kind    `json:"kind"`
	Description string  `json:"description"`
	Params      *Schema `json:"params"`
	// Bare names the parameter a bare scalar payload sets ("A" for
	// activate_hotel); empty when the command takes none.
	Bare string `json:"bare_param,omitempty"`
}

// Options shape the catalogue from the agent's configuration.
type Options struct {
	Hotels   []string // hotel names, for the enum
	MaxSpeed int      // Velocity Limit of the servo (raw units); 0 = 1023
	Ports    []string // serial ports connect may name
}

// Catalog is the set of commands.
type Catalog struct {
	specs map[string]*Spec
}

// Names of the commands (fixed by the contract).
const (
	Connect        = "connect"
	Disconnect     = "disconnect"
	ActivateHotel  = "activate_hotel"
	GoHome         = "go_home"
	MoveToAngle    = "move_to_angle"
	SetSpeed       = "set_speed"
	Stop           = "stop"
	EmergencyStop  = "emergency_stop"
	Reset          = "reset"
	Cancel         = "cancel"
	Reboot         = "reboot"
	GetHealth      = "get_health"
	GetPosition    = "get_position"
	GetActiveHotel = "get_active_hotel"
	GetEvents      = "get_events"
	SetLogLevel    = "set_log_level"
)

func object(props map[string]*Schema, required ...string) *Schema {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	// Required fields first, then plain fields alphabetically, then nested
	// objects (overrides): a form shows what a user must and usually sets
	// before the advanced settings (docs/prefect.md §17).
	rank := func(k string) int {
		switch {
		case slices.Contains(required, k):
			return 0
		case props[k].Type == "object":
			return 2
		}
		return 1
	}
	sort.Slice(keys, func(i, j int) bool {
		ri, rj := rank(keys[i]), rank(keys[j])
		if ri != rj {
			return ri < rj
		}
		if ri == 0 {
			return slices.Index(required, keys[i]) < slices.Index(required, keys[j])
		}
		return keys[i] < keys[j]
	})
	return objectInOrder(keys, props, required...)
}

// objectInOrder is object with the fields in the given order (every key of
// props, once): the form shows them in this order.
func objectInOrder(order []string, props map[string]*Schema, required ...string) *Schema {
	for pos, k := range order {
		props[k].Position = intp(pos)
		if props[k].Title == "" {
			props[k].Title = humanize(k)
		}
	}
	return &Schema{Type: "object", Properties: props, Required: required, AdditionalProperties: boolp(false)}
}

// humanize is the fallback title of a field: "motor_id" -> "Motor id".
func humanize(k string) string {
	s := strings.ReplaceAll(k, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// New builds the catalogue.
func New(o Options) *Catalog {
	maxSpeed := o.MaxSpeed
	if maxSpeed <= 0 || maxSpeed > 1023 {
		maxSpeed = 1023
	}
	hotels := make([]any, len(o.Hotels))
	for i, h := range o.Hotels {
		hotels[i] = h
	}
	// Titles and descriptions are for people: the Prefect UI shows them as
	// the form's labels and help text, and every MQTT client reads them in
	// <base>/info. A description is a sentence with the unit and the range;
	// an exclusive bound is stated in words because forms do not show it
	// (docs/prefect.md §17).
	precise := func(def bool) *Schema {
		return &Schema{Type: "boolean", Default: def, Title: "Precise move",
			Description: "On: a two-stage move (position control, then short PWM pulses) that ends within the position tolerance; off: a plain position move, faster but less exact."}
	}
	pwm := func(title, what string, min float64) *Schema {
		return &Schema{Type: "integer", Minimum: f64(min), Maximum: f64(885), Title: title,
			Description: what + fmt.Sprintf(" In Goal PWM units of 0.113 %%, from %g to 885 (100 %%).", min)}
	}
	overrides := objectInOrder([]string{
		"position_tolerance", "switch_error", "stage1_timeout",
		"pulse_pwm_start", "pwm_step", "pwm_max", "pulse_duration", "pulse_rest", "pulse_max",
		"motion_threshold", "stall_pulses", "enable_backoff", "max_step_factor", "pwm_backoff_step",
	}, map[string]*Schema{
		"position_tolerance": {Type: "number", Minimum: f64(0.088), Maximum: f64(10), Title: "Position tolerance (degrees)",
			Description: "The move succeeds once the carousel is this close to the target, in degrees from 0.088 (one encoder step) to 10."},
		"switch_error": {Type: "number", Minimum: f64(0.088), Maximum: f64(45), Title: "Switch to pulses within (degrees)",
			Description: "Stage 2 (PWM pulses) starts once stage 1 has brought the carousel this close, in degrees from 0.088 to 45."},
		"stage1_timeout": {Type: "number", Minimum: f64(0.1), Maximum: f64(120), Title: "Stage 1 timeout (seconds)",
			Description: "Longest time stage 1 (position control) may take before the move stops, in seconds from 0.1 to 120."},
		"pulse_pwm_start": pwm("First pulse PWM", "Strength of the first stage-2 pulse.", 1),
		"pwm_step":        pwm("PWM increase per still pulse", "How much stronger the next pulse gets when a pulse did not move the carousel.", 0),
		"pwm_max":         pwm("Maximum pulse PWM", "The strongest pulse stage 2 may use.", 1),
		"pulse_duration": {Type: "number", Minimum: f64(0.01), Maximum: f64(5), Title: "Pulse length (seconds)",
			Description: "How long each stage-2 pulse pushes, in seconds from 0.01 to 5."},
		"pulse_rest": {Type: "number", Minimum: f64(0.01), Maximum: f64(5), Title: "Rest after a pulse (seconds)",
			Description: "Pause after each pulse before the position is read, in seconds from 0.01 to 5."},
		"pulse_max": {Type: "integer", Minimum: f64(1), Maximum: f64(200), Title: "Maximum pulses",
			Description: "Stage 2 gives up after this many pulses, a count from 1 to 200."},
		"motion_threshold": {Type: "number", Minimum: f64(0.01), Maximum: f64(45), Title: "Still below (degrees)",
			Description: "A pulse that moved the carousel less than this counts as not moving it, in degrees from 0.01 to 45."},
		"stall_pulses": {Type: "integer", Minimum: f64(1), Maximum: f64(200), Title: "Stall after still pulses",
			Description: "The move fails as stalled after this many pulses in a row that did not move the carousel, a count from 1 to 200."},
		"enable_backoff": {Type: "boolean", Title: "Back off after a big step",
			Description: "On: when a pulse near the target moved the carousel too far, the next pulse is weaker (see the maximum step factor)."},
		"max_step_factor": {Type: "number", Minimum: f64(0.1), Maximum: f64(100), Title: "Maximum step factor",
			Description: "With back-off on, a pulse that moved the carousel more than this many times the position tolerance counts as too big, a factor from 0.1 to 100."},
		"pwm_backoff_step": pwm("PWM decrease after a big step", "How much weaker the next pulse gets after a too-big step (back-off on).", 0),
	})
	overrides.Title = "Advanced overrides"
	overrides.Description = "Optional tuning of the precise move for this move only; leave empty to use the agent's configured settings."
	ports := make([]any, len(o.Ports))
	for i, p := range o.Ports {
		ports[i] = p
	}
	portSchema := &Schema{Type: "string", MaxLength: intp(256), Title: "Serial port",
		Description: "Serial port of the servo adapter, for example /dev/ttyUSB0; only ports in the agent's allowed_ports are accepted. Empty: the agent's configured port."}
	if len(ports) > 0 {
		portSchema.Enum = ports
	}
	specs := []*Spec{
		{Name: Connect, Kind: KindMotion, Description: "open the serial port, find the servo, enable torque holding position; clears a latched emergency stop",
			Params: object(map[string]*Schema{
				"port": portSchema,
				"baudrate": {Type: "integer", Enum: []any{9600, 57600, 115200, 1000000, 2000000, 3000000, 4000000, 4500000}, Title: "Baud rate",
					Description: "Serial speed in bits per second, one of the Dynamixel rates (57600 is the factory setting). Empty: the agent's configured rate."},
				"motor_id": {Type: "integer", Minimum: f64(0), Maximum: f64(252), Title: "Motor id",
					Description: "Dynamixel id of the servo, from 0 to 252 (1 is the factory setting). Empty: the agent's configured id."},
			})},
		{Name: Disconnect, Kind: KindMotion, Description: "switch torque off and close the serial port", Params: object(map[string]*Schema{})},
		{Name: ActivateHotel, Kind: KindMotion, Bare: "hotel", Description: "turn the carousel so the hotel faces the access position",
			Params: object(map[string]*Schema{
				"hotel": {Type: "string", Enum: hotels, Title: "Hotel",
					Description: "The hotel to turn to the access position, by its name."},
				"precise":   precise(true),
				"overrides": overrides,
			}, "hotel")},
		{Name: GoHome, Kind: KindMotion, Description: "move to the home angle", Params: object(map[string]*Schema{"precise": precise(true)})},
		{Name: MoveToAngle, Kind: KindMotion, Bare: "angle", Description: "move to an absolute angle in degrees",
			Params: object(map[string]*Schema{
				"angle": {Type: "number", Minimum: f64(0), ExclusiveMaximum: f64(360), Title: "Angle (degrees)",
					Description: "Absolute carousel angle to move to, in degrees: at least 0 and less than 360 (360 itself is refused; use 0)."},
				"precise":   precise(true),
				"overrides": overrides.Clone(),
			}, "angle")},
		{Name: SetSpeed, Kind: KindMotion, Bare: "speed", Description: "set the profile velocity (0.229 rpm per unit) for this and later moves",
			Params: object(map[string]*Schema{
				"speed": {Type: "integer", Minimum: f64(1), Maximum: f64(float64(maxSpeed)), Title: "Speed (0.229 rpm units)",
					Description: fmt.Sprintf("Profile Velocity for this and later moves, in units of 0.229 rpm, from 1 to %d (50 = 11.5 rpm).", maxSpeed)},
			}, "speed")},
		{Name: Stop, Kind: KindControl, Description: "controlled stop: end the running command and drop the queue; the carousel holds its position with torque on", Params: object(map[string]*Schema{})},
		{Name: EmergencyStop, Kind: KindControl, Description: "torque off at once, interrupting any move; latches until reset or connect", Params: object(map[string]*Schema{})},
		{Name: Reset, Kind: KindControl, Description: "clear a latched emergency stop (torque stays off until the next move)", Params: object(map[string]*Schema{})},
		{Name: Cancel, Kind: KindControl, Bare: "command_id", Description: "cancel a queued or running command by its id; a running move stops holding position",
			Params: object(map[string]*Schema{
				"command_id": {Type: "string", MinLength: intp(1), MaxLength: intp(MaxIDLen), Title: "Command id",
					Description: fmt.Sprintf("Id of the queued or running command to cancel, 1 to %d characters.", MaxIDLen)},
			}, "command_id")},
		{Name: Reboot, Kind: KindMotion, Description: "reboot the servo (clears overload/overheating shutdowns) and, with reapply, restore position mode and torque",
			Params: object(map[string]*Schema{"reapply": {Type: "boolean", Default: true, Title: "Restore settings after reboot",
				Description: "On: after the reboot the servo is put back in position mode with torque on (not while an emergency stop is latched); off: it stays as it boots, with torque off."}})},
		{Name: GetHealth, Kind: KindRead, Description: "temperature, voltage, current, hardware errors and warnings", Params: object(map[string]*Schema{})},
		{Name: GetPosition, Kind: KindRead, Description: "present angle in degrees", Params: object(map[string]*Schema{})},
		{Name: GetActiveHotel, Kind: KindRead, Description: "the hotel at the access position, or null between hotels", Params: object(map[string]*Schema{})},
		{Name: GetEvents, Kind: KindRead, Description: "the last events of this device's history (events.go), oldest first", Params: eventsParams()},
		{Name: SetLogLevel, Kind: KindControl, Bare: "level", Description: "change the agent's log level at run time (admin only)", Params: logLevelParams()},
		{Name: Lock, Kind: KindControl, Bare: LockIDField, Description: "take (or renew, with the same lock_id) exclusive use of the carousel: until unlock or timeout, commands that act run only with this lock_id; emergency_stop, stop and reads always run", Params: lockParams()},
		{Name: Unlock, Kind: KindControl, Bare: LockIDField, Description: "release the lock taken with this lock_id (no lock: nothing to do)", Params: unlockParams()},
		{Name: ForceUnlock, Kind: KindControl, Description: "release whatever lock is held, without its lock_id (admin only)", Params: object(map[string]*Schema{})},
	}
	c := &Catalog{specs: map[string]*Spec{}}
	for _, s := range specs {
		c.specs[s.Name] = s
	}
	return c
}

// Lookup finds a command by name.
func (c *Catalog) Lookup(name string) (*Spec, bool) {
	s, ok := c.specs[name]
	return s, ok
}

// Specs returns the commands sorted by name.
func (c *Catalog) Specs() []*Spec {
	out := make([]*Spec, 0, len(c.specs))
	for _, s := range c.specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
