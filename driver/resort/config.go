package resort

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/plate-resort/plate-resort/driver/xseries"
)

// Config is the `resort:` section of upstream plate-RESORT's
// config/defaults.yaml, accepted unchanged (docs/dynamixel.md §8), plus a few keys
// of our own at the end. Times are seconds as floats, like upstream.
type Config struct {
	// Connection.
	Device   string `koanf:"device"`
	Baudrate int    `koanf:"baudrate"`
	MotorID  int    `koanf:"motor_id"`
	// Layout.
	Hotels            []string `koanf:"hotels"`
	RoomsPerHotel     int      `koanf:"rooms_per_hotel"`
	OffsetAngle       float64  `koanf:"offset_angle"`
	RotationDirection int      `koanf:"rotation_direction"`
	// Motion.
	DefaultSpeed      int     `koanf:"default_speed"` // Profile Velocity, 0.229 rpm units
	PositionTolerance float64 `koanf:"position_tolerance"`
	MovementTimeout   float64 `koanf:"movement_timeout"`
	// Two-stage precise move.
	EnablePreciseMove bool    `koanf:"enable_precise_move"`
	SwitchError       float64 `koanf:"switch_error"`
	Stage1Timeout     float64 `koanf:"stage1_timeout"`
	PollInterval      float64 `koanf:"poll_interval"`
	PulsePWMStart     int     `koanf:"pulse_pwm_start"`
	PWMStep           int     `koanf:"pwm_step"`
	PWMMax            int     `koanf:"pwm_max"`
	PulseDuration     float64 `koanf:"pulse_duration"`
	PulseRest         float64 `koanf:"pulse_rest"`
	PulseMax          int     `koanf:"pulse_max"`
	MotionThreshold   float64 `koanf:"motion_threshold"`
	StallPulses       int     `koanf:"stall_pulses"`
	EnableBackoff     bool    `koanf:"enable_backoff"`
	MaxStepFactor     float64 `koanf:"max_step_factor"`
	PWMBackoffStep    int     `koanf:"pwm_backoff_step"`
	PreciseLog        bool    `koanf:"precise_log"`
	// Upstream keys kept for compatibility. goal_torque and torque_limit used
	// MX/Protocol 1 semantics and are never written (docs/dynamixel.md §8.3);
	// moving_threshold is not written either (it is EEPROM).
	GoalTorque      int `koanf:"goal_torque"`
	TorqueLimit     int `koanf:"torque_limit"`
	MovingThreshold int `koanf:"moving_threshold"`
	// Health thresholds (warnings only). current_limit is mA and is never
	// written to register 38 (upstream bug, docs/dynamixel.md §8.4).
	TemperatureLimit    float64 `koanf:"temperature_limit"`
	CurrentLimit        float64 `koanf:"current_limit"`
	VoltageMin          float64 `koanf:"voltage_min"`
	VoltageMax          float64 `koanf:"voltage_max"`
	ProfileAcceleration int     `koanf:"profile_acceleration"`

	// Ours.
	// LatencyMS is the adapter latency assumed when the FTDI timer cannot be
	// read (pty, other adapters).
	LatencyMS int `koanf:"latency_ms"`
	// ReadRetries bounds retries of reads after a timeout or corrupt reply.
	ReadRetries int `koanf:"read_retries"`
	// HomeAngle is where go_home goes (upstream: 0).
	HomeAngle float64 `koanf:"home_angle"`
	// ActiveHotelWindow: the present position names a hotel when within this
	// many degrees of it (upstream hard-codes 5).
	ActiveHotelWindow float64 `koanf:"active_hotel_window"`
	// PlainTolerance is how close a plain (precise:false) move must end to
	// count as reached. Position mode alone stops short under load (the
	// reason for the precise move), so a plain move gets the servo's own
	// accuracy, not position_tolerance; the result reports the real error.
	PlainTolerance float64 `koanf:"plain_tolerance"`
	// RebootWait is how long the servo needs after Reboot (upstream 0.8 s).
	RebootWait float64 `koanf:"reboot_wait"`
	// ReturnDelayUS is the Return Delay Time (register 9) connect sets, in
	// µs (2 µs steps, 0..508). The factory 500 µs adds half a millisecond
	// to every transaction; 0 is what ROBOTIS suggests for speed. It is an
	// EEPROM item, written (with torque off) only when it differs. -1 leaves
	// the servo's setting alone.
	ReturnDelayUS int `koanf:"return_delay_us"`
}

// Defaults are upstream plate-RESORT's defaults.yaml values.
func Defaults() Config {
	return Config{
		Device: "/dev/ttyUSB0", Baudrate: 57600, MotorID: 1,
		Hotels: []string{"A", "B", "C", "D"}, RoomsPerHotel: 20, OffsetAngle: 19, RotationDirection: 1,
		DefaultSpeed: 50, PositionTolerance: 0.5, MovementTimeout: 20,
		EnablePreciseMove: true, SwitchError: 3.0, Stage1Timeout: 8.0, PollInterval: 0.3,
		PulsePWMStart: 180, PWMStep: 25, PWMMax: 600, PulseDuration: 0.30, PulseRest: 0.20,
		PulseMax: 25, MotionThreshold: 0.12, StallPulses: 6, EnableBackoff: true,
		MaxStepFactor: 1.5, PWMBackoffStep: 60, PreciseLog: true,
		GoalTorque: 1023, TorqueLimit: 1023, MovingThreshold: 10,
		TemperatureLimit: 70, CurrentLimit: 2000, VoltageMin: 10.0, VoltageMax: 14.0,
		ProfileAcceleration: 0,
		LatencyMS:           16, ReadRetries: 2, HomeAngle: 0, ActiveHotelWindow: 5, PlainTolerance: 2, RebootWait: 0.8,
	}
}

// Validate refuses every invalid value with an error naming its key.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("resort.%s: %s", key, fmt.Sprintf(format, a...)))
	}
	finite := func(key string, v float64) bool {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			bad(key, "must be a finite number")
			return false
		}
		return true
	}
	if strings.TrimSpace(c.Device) == "" {
		bad("device", "must name the serial port, e.g. /dev/ttyUSB0 or /dev/serial/by-id/...")
	}
	if _, ok := xseries.BaudCodes[c.Baudrate]; !ok {
		bad("baudrate", "%d is not an X-series baud rate (9600, 57600, 115200, 1000000, 2000000, 3000000, 4000000, 4500000)", c.Baudrate)
	}
	if c.MotorID < 0 || c.MotorID > 252 {
		bad("motor_id", "%d is outside 0..252", c.MotorID)
	}
	if len(c.Hotels) == 0 || len(c.Hotels) > 64 {
		bad("hotels", "need 1 to 64 hotels, got %d", len(c.Hotels))
	}
	seen := map[string]bool{}
	for _, h := range c.Hotels {
		// The name rule for topics and payloads is the contract's (the
		// agent checks it); the driver needs only names it can tell apart.
		if strings.TrimSpace(h) == "" || len(h) > 64 {
			bad("hotels", "hotel name %q must be 1-64 characters", h)
		}
		if seen[strings.ToUpper(h)] {
			bad("hotels", "hotel %q appears twice", h)
		}
		seen[strings.ToUpper(h)] = true
	}
	if c.RoomsPerHotel < 0 || c.RoomsPerHotel > 1000 {
		bad("rooms_per_hotel", "%d is outside 0..1000", c.RoomsPerHotel)
	}
	if finite("offset_angle", c.OffsetAngle) && math.Abs(c.OffsetAngle) > 3600 {
		bad("offset_angle", "%g is outside ±3600°", c.OffsetAngle)
	}
	if c.RotationDirection != 1 && c.RotationDirection != -1 {
		bad("rotation_direction", "must be 1 or -1, got %d", c.RotationDirection)
	}
	if c.DefaultSpeed < 1 || c.DefaultSpeed > 1023 {
		bad("default_speed", "%d is outside 1..1023 (Profile Velocity, 0.229 rpm units)", c.DefaultSpeed)
	}
	if finite("position_tolerance", c.PositionTolerance) && (c.PositionTolerance < 0.088 || c.PositionTolerance > 10) {
		bad("position_tolerance", "%g° is outside 0.088..10 (one encoder pulse is 0.088°)", c.PositionTolerance)
	}
	positive := func(key string, v, max float64) {
		if finite(key, v) && (v <= 0 || v > max) {
			bad(key, "%g must be above 0 and at most %g", v, max)
		}
	}
	positive("movement_timeout", c.MovementTimeout, 600)
	positive("stage1_timeout", c.Stage1Timeout, 600)
	positive("poll_interval", c.PollInterval, 10)
	positive("pulse_duration", c.PulseDuration, 10)
	positive("pulse_rest", c.PulseRest, 10)
	positive("motion_threshold", c.MotionThreshold, 45)
	positive("max_step_factor", c.MaxStepFactor, 100)
	positive("reboot_wait", c.RebootWait, 30)
	positive("active_hotel_window", c.ActiveHotelWindow, 180)
	if finite("plain_tolerance", c.PlainTolerance) && (c.PlainTolerance < c.PositionTolerance || c.PlainTolerance > c.ActiveHotelWindow) {
		bad("plain_tolerance", "%g° must be from position_tolerance (%g°) to active_hotel_window (%g°)", c.PlainTolerance, c.PositionTolerance, c.ActiveHotelWindow)
	}
	if finite("switch_error", c.SwitchError) && c.SwitchError < c.PositionTolerance {
		bad("switch_error", "%g° must be at least position_tolerance (%g°)", c.SwitchError, c.PositionTolerance)
	}
	// PWM Limit is 885 (100 %) on X430 (docs/dynamixel.md §6).
	if c.PulsePWMStart < 1 || c.PulsePWMStart > 885 {
		bad("pulse_pwm_start", "%d is outside 1..885", c.PulsePWMStart)
	}
	if c.PWMMax < c.PulsePWMStart || c.PWMMax > 885 {
		bad("pwm_max", "%d must be between pulse_pwm_start (%d) and 885", c.PWMMax, c.PulsePWMStart)
	}
	if c.PWMStep < 0 || c.PWMStep > 885 {
		bad("pwm_step", "%d is outside 0..885", c.PWMStep)
	}
	if c.PWMBackoffStep < 0 || c.PWMBackoffStep > 885 {
		bad("pwm_backoff_step", "%d is outside 0..885", c.PWMBackoffStep)
	}
	if c.PulseMax < 1 || c.PulseMax > 1000 {
		bad("pulse_max", "%d is outside 1..1000", c.PulseMax)
	}
	if c.StallPulses < 1 || c.StallPulses > c.PulseMax {
		bad("stall_pulses", "%d must be between 1 and pulse_max (%d)", c.StallPulses, c.PulseMax)
	}
	if finite("temperature_limit", c.TemperatureLimit) && (c.TemperatureLimit <= 0 || c.TemperatureLimit > 100) {
		bad("temperature_limit", "%g °C is outside 1..100", c.TemperatureLimit)
	}
	if finite("current_limit", c.CurrentLimit) && (c.CurrentLimit <= 0 || c.CurrentLimit > 10000) {
		bad("current_limit", "%g mA is outside 1..10000 (a warning threshold, never written to the servo)", c.CurrentLimit)
	}
	if finite("voltage_min", c.VoltageMin) && finite("voltage_max", c.VoltageMax) && (c.VoltageMin < 0 || c.VoltageMax <= c.VoltageMin || c.VoltageMax > 30) {
		bad("voltage_min", "voltage_min %g V and voltage_max %g V must satisfy 0 <= min < max <= 30", c.VoltageMin, c.VoltageMax)
	}
	if c.ProfileAcceleration < 0 || c.ProfileAcceleration > 32767 {
		bad("profile_acceleration", "%d is outside 0..32767", c.ProfileAcceleration)
	}
	if c.LatencyMS < 0 || c.LatencyMS > 255 {
		bad("latency_ms", "%d is outside 0..255", c.LatencyMS)
	}
	if c.ReturnDelayUS < -1 || c.ReturnDelayUS > 508 {
		bad("return_delay_us", "%d is outside -1..508 (-1 leaves the servo's setting)", c.ReturnDelayUS)
	}
	if c.ReadRetries < 0 || c.ReadRetries > 10 {
		bad("read_retries", "%d is outside 0..10", c.ReadRetries)
	}
	if finite("home_angle", c.HomeAngle) && (c.HomeAngle < 0 || c.HomeAngle >= 360) {
		bad("home_angle", "%g is outside [0, 360)", c.HomeAngle)
	}
	return errors.Join(errs...)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// HotelAngle is upstream's formula, angle_i = offset + i x (360/n) x
// direction, normalised into [0, 360) so every hotel is a valid goal in
// position mode (upstream sent negative goals with direction -1; docs/dynamixel.md §8.7).
func (c Config) HotelAngle(hotel string) (xseries.Degrees, error) {
	for i, h := range c.Hotels {
		if strings.EqualFold(h, hotel) {
			a := c.OffsetAngle + float64(i)*(360/float64(len(c.Hotels)))*float64(c.RotationDirection)
			return xseries.Normalize(xseries.Degrees(a)), nil
		}
	}
	return 0, fmt.Errorf("unknown hotel %q (hotels: %s)", hotel, strings.Join(c.Hotels, ", "))
}

// CanonicalHotel returns the configured spelling of hotel.
func (c Config) CanonicalHotel(hotel string) (string, bool) {
	for _, h := range c.Hotels {
		if strings.EqualFold(h, hotel) {
			return h, true
		}
	}
	return "", false
}
