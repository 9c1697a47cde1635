package sim

import (
	"time"

	"github.com/plate-resort/plate-resort/driver/xseries"
)

// Config describes the simulated servo. Zero fields take the defaults noted.
type Config struct {
	// ID is the servo id (default 1). Id 0 is valid on a real servo but
	// here 0 means "default"; set it through register 7 if you need it.
	ID byte
	// Model is the Model Number reported by ping (default 1030, XM430-W210).
	// 1020 (XM430-W350) and 1060 (XL430-W250, no current items) change the
	// table defaults as their e-Manual pages say.
	Model uint16
	// Firmware is the Firmware Version byte (default 48).
	Firmware byte
	// Baud is used only for wire timing, because a pty has no baud rate:
	// 0 means no delay at all (fast unit tests). `plate-resort sim` uses
	// 57600, the X-series default.
	Baud int
	// Deadband is how far short of the goal a plain position move stops, in
	// the direction of travel: the friction of a loaded carousel. Default
	// 1.2°; a negative value means no deadband (moves reach the goal).
	Deadband xseries.Degrees
	// InitialPosition is where the carousel stands at power-up.
	InitialPosition xseries.Degrees
	// AmbientC is the ambient temperature (default 25 °C).
	AmbientC float64
	// SupplyV is the supply voltage (default 12.0 V).
	SupplyV float64
	// Seed seeds the small pulse-to-pulse variation of PWM moves, so a
	// test run is reproducible.
	Seed int64
	// BootTime is how long the servo stays silent after Reboot or Factory
	// Reset (default 300 ms).
	BootTime time.Duration
	// PWMThreshold is the static-friction threshold of Goal PWM below which
	// the carousel does not move in PWM mode (default 150).
	PWMThreshold int
}

// DefaultDeadband is the default position-mode deadband.
const DefaultDeadband xseries.Degrees = 1.2

func (c Config) withDefaults() Config {
	if c.ID == 0 {
		c.ID = 1
	}
	if c.Model == 0 {
		c.Model = 1030
	}
	if c.Firmware == 0 {
		c.Firmware = 48
	}
	switch {
	case c.Deadband == 0:
		c.Deadband = DefaultDeadband
	case c.Deadband < 0:
		c.Deadband = 0
	}
	if c.AmbientC == 0 {
		c.AmbientC = 25
	}
	if c.SupplyV == 0 {
		c.SupplyV = 12.0
	}
	if c.BootTime <= 0 {
		c.BootTime = 300 * time.Millisecond
	}
	if c.PWMThreshold <= 0 {
		c.PWMThreshold = 150
	}
	return c
}

// modelDefaults are the EEPROM defaults that differ between models
// [e-Manual xm430-w210, xm430-w350, xl430-w250 control tables].
type modelDefaults struct {
	velocityLimit uint32
	tempLimit     byte
	maxVoltage    uint16
	minVoltage    uint16
	hasCurrent    bool // Current Limit (38), Goal Current (102), current at 126
}

func defaultsFor(model uint16) modelDefaults {
	switch model {
	case 1020: // XM430-W350
		return modelDefaults{velocityLimit: 200, tempLimit: 80, maxVoltage: 160, minVoltage: 95, hasCurrent: true}
	case 1060: // XL430-W250
		return modelDefaults{velocityLimit: 265, tempLimit: 72, maxVoltage: 140, minVoltage: 60, hasCurrent: false}
	default: // 1030 XM430-W210 and unknown models
		return modelDefaults{velocityLimit: 330, tempLimit: 80, maxVoltage: 160, minVoltage: 95, hasCurrent: xseries.HasCurrent(model)}
	}
}
