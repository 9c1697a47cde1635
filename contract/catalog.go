package contract

import (
	"sort"
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
	pos := 0
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Required fields first, then the rest alphabetically, for the UI.
	ordered := append([]string{}, required...)
	for _, k := range keys {
		isReq := false
		for _, r := range required {
			isReq = isReq || r == k
		}
		if !isReq {
			ordered = append(ordered, k)
		}
	}
	for _, k := range ordered {
		props[k].Position = intp(pos)
		if props[k].Title == "" {
			props[k].Title = k
		}
		pos++
	}
	return &Schema{Type: "object", Properties: props, Required: required, AdditionalProperties: boolp(false)}
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
	precise := func(def bool) *Schema {
		return &Schema{Type: "boolean", Default: def, Description: "two-stage precise move (position, then PWM pulses) to within position_tolerance; false for a plain position move"}
	}
	overrides := object(map[string]*Schema{
		"position_tolerance": {Type: "number", Minimum: f64(0.088), Maximum: f64(10), Description: "degrees"},
		"switch_error":       {Type: "number", Minimum: f64(0.088), Maximum: f64(45), Description: "degrees; stage 2 starts within this error"},
		"stage1_timeout":     {Type: "number", Minimum: f64(0.1), Maximum: f64(120), Description: "seconds"},
		"pulse_pwm_start":    {Type: "integer", Minimum: f64(1), Maximum: f64(885)},
		"pwm_step":           {Type: "integer", Minimum: f64(0), Maximum: f64(885)},
		"pwm_max":            {Type: "integer", Minimum: f64(1), Maximum: f64(885)},
		"pulse_duration":     {Type: "number", Minimum: f64(0.01), Maximum: f64(5), Description: "seconds"},
		"pulse_rest":         {Type: "number", Minimum: f64(0.01), Maximum: f64(5), Description: "seconds"},
		"pulse_max":          {Type: "integer", Minimum: f64(1), Maximum: f64(200)},
		"motion_threshold":   {Type: "number", Minimum: f64(0.01), Maximum: f64(45), Description: "degrees"},
		"stall_pulses":       {Type: "integer", Minimum: f64(1), Maximum: f64(200)},
		"enable_backoff":     {Type: "boolean"},
		"max_step_factor":    {Type: "number", Minimum: f64(0.1), Maximum: f64(100)},
		"pwm_backoff_step":   {Type: "integer", Minimum: f64(0), Maximum: f64(885)},
	})
	overrides.Description = "per-move overrides of the precise-move settings"
	ports := make([]any, len(o.Ports))
	for i, p := range o.Ports {
		ports[i] = p
	}
	portSchema := &Schema{Type: "string", MaxLength: intp(256), Description: "serial port; only ports listed in the agent's allowed_ports"}
	if len(ports) > 0 {
		portSchema.Enum = ports
	}
	specs := []*Spec{
		{Name: Connect, Kind: KindMotion, Description: "open the serial port, find the servo, enable torque holding position; clears a latched emergency stop",
			Params: object(map[string]*Schema{
				"port":     portSchema,
				"baudrate": {Type: "integer", Enum: []any{9600, 57600, 115200, 1000000, 2000000, 3000000, 4000000, 4500000}, Description: "baud rate"},
				"motor_id": {Type: "integer", Minimum: f64(0), Maximum: f64(252), Description: "Dynamixel id"},
			})},
		{Name: Disconnect, Kind: KindMotion, Description: "switch torque off and close the serial port", Params: object(map[string]*Schema{})},
		{Name: ActivateHotel, Kind: KindMotion, Bare: "hotel", Description: "turn the carousel so the hotel faces the access position",
			Params: object(map[string]*Schema{
				"hotel":     {Type: "string", Enum: hotels, Description: "hotel to present"},
				"precise":   precise(true),
				"overrides": overrides,
			}, "hotel")},
		{Name: GoHome, Kind: KindMotion, Description: "move to the home angle", Params: object(map[string]*Schema{"precise": precise(true)})},
		{Name: MoveToAngle, Kind: KindMotion, Bare: "angle", Description: "move to an absolute angle in degrees",
			Params: object(map[string]*Schema{
				"angle":     {Type: "number", Minimum: f64(0), ExclusiveMaximum: f64(360), Description: "degrees, 0 <= angle < 360"},
				"precise":   precise(true),
				"overrides": overrides,
			}, "angle")},
		{Name: SetSpeed, Kind: KindMotion, Bare: "speed", Description: "set the profile velocity (0.229 rpm per unit) for this and later moves",
			Params: object(map[string]*Schema{
				"speed": {Type: "integer", Minimum: f64(1), Maximum: f64(float64(maxSpeed)), Description: "Profile Velocity, 0.229 rpm per unit (50 = 11.5 rpm)"},
			}, "speed")},
		{Name: Stop, Kind: KindControl, Description: "controlled stop: end the running command and drop the queue; the carousel holds its position with torque on", Params: object(map[string]*Schema{})},
		{Name: EmergencyStop, Kind: KindControl, Description: "torque off at once, interrupting any move; latches until reset or connect", Params: object(map[string]*Schema{})},
		{Name: Reset, Kind: KindControl, Description: "clear a latched emergency stop (torque stays off until the next move)", Params: object(map[string]*Schema{})},
		{Name: Cancel, Kind: KindControl, Bare: "command_id", Description: "cancel a queued or running command by its id; a running move stops holding position",
			Params: object(map[string]*Schema{
				"command_id": {Type: "string", MinLength: intp(1), MaxLength: intp(MaxIDLen), Description: "id of the command to cancel"},
			}, "command_id")},
		{Name: Reboot, Kind: KindMotion, Description: "reboot the servo (clears overload/overheating shutdowns) and, with reapply, restore position mode and torque",
			Params: object(map[string]*Schema{"reapply": {Type: "boolean", Default: true}})},
		{Name: GetHealth, Kind: KindRead, Description: "temperature, voltage, current, hardware errors and warnings", Params: object(map[string]*Schema{})},
		{Name: GetPosition, Kind: KindRead, Description: "present angle in degrees", Params: object(map[string]*Schema{})},
		{Name: GetActiveHotel, Kind: KindRead, Description: "the hotel at the access position, or null between hotels", Params: object(map[string]*Schema{})},
		{Name: GetEvents, Kind: KindRead, Description: "the last events of this device's history (events.go), oldest first", Params: eventsParams()},
		{Name: SetLogLevel, Kind: KindControl, Bare: "level", Description: "change the agent's log level at run time (admin only)", Params: logLevelParams()},
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
