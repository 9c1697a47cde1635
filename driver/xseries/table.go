package xseries

import (
	"encoding/binary"
	"fmt"
)

// Area says where an item lives. EEPROM items (addresses 0-63) can only be
// written while Torque Enable is 0; the servo answers Access Error otherwise
// [e-Manual, "Control Table", EEPROM area note].
type Area uint8

const (
	EEPROM Area = iota
	RAM
)

// Item is one control-table entry.
type Item struct {
	Name   string
	Addr   uint16
	Size   int // bytes: 1, 2 or 4
	Signed bool
	Area   Area
}

// Decode turns little-endian register bytes into an integer, sign-extending
// signed items: Present Position is an int32 that goes negative after
// overshoot past zero, and Present Current/PWM are int16 (docs/dynamixel.md §9,
// "Signedness").
func (it Item) Decode(b []byte) (int64, error) {
	if len(b) != it.Size {
		return 0, fmt.Errorf("%s: got %d bytes, want %d", it.Name, len(b), it.Size)
	}
	switch it.Size {
	case 1:
		if it.Signed {
			return int64(int8(b[0])), nil
		}
		return int64(b[0]), nil
	case 2:
		v := binary.LittleEndian.Uint16(b)
		if it.Signed {
			return int64(int16(v)), nil
		}
		return int64(v), nil
	case 4:
		v := binary.LittleEndian.Uint32(b)
		if it.Signed {
			return int64(int32(v)), nil
		}
		return int64(v), nil
	}
	return 0, fmt.Errorf("%s: unsupported size %d", it.Name, it.Size)
}

// Encode is the inverse of Decode; it refuses values that do not fit.
func (it Item) Encode(v int64) ([]byte, error) {
	var lo, hi int64
	bits := 8 * it.Size
	if it.Signed {
		lo, hi = -(1 << (bits - 1)), 1<<(bits-1)-1
	} else {
		lo, hi = 0, 1<<bits-1
	}
	if v < lo || v > hi {
		return nil, fmt.Errorf("%s: value %d does not fit in %d bytes", it.Name, v, it.Size)
	}
	b := make([]byte, it.Size)
	switch it.Size {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	}
	return b, nil
}

// The items the driver and the simulator use (docs/dynamixel.md §6).
var (
	ModelNumber       = Item{"Model Number", 0, 2, false, EEPROM}
	FirmwareVersion   = Item{"Firmware Version", 6, 1, false, EEPROM}
	ID                = Item{"ID", 7, 1, false, EEPROM}
	BaudRate          = Item{"Baud Rate", 8, 1, false, EEPROM}
	ReturnDelayTime   = Item{"Return Delay Time", 9, 1, false, EEPROM} // 2 µs per unit
	DriveMode         = Item{"Drive Mode", 10, 1, false, EEPROM}
	OperatingMode     = Item{"Operating Mode", 11, 1, false, EEPROM}
	HomingOffset      = Item{"Homing Offset", 20, 4, true, EEPROM}
	MovingThreshold   = Item{"Moving Threshold", 24, 4, false, EEPROM}
	TemperatureLimit  = Item{"Temperature Limit", 31, 1, false, EEPROM}
	MaxVoltageLimit   = Item{"Max Voltage Limit", 32, 2, false, EEPROM}
	MinVoltageLimit   = Item{"Min Voltage Limit", 34, 2, false, EEPROM}
	PWMLimit          = Item{"PWM Limit", 36, 2, false, EEPROM}
	CurrentLimit      = Item{"Current Limit", 38, 2, false, EEPROM} // XM only
	VelocityLimit     = Item{"Velocity Limit", 44, 4, false, EEPROM}
	MaxPositionLimit  = Item{"Max Position Limit", 48, 4, false, EEPROM}
	MinPositionLimit  = Item{"Min Position Limit", 52, 4, false, EEPROM}
	Shutdown          = Item{"Shutdown", 63, 1, false, EEPROM}
	TorqueEnable      = Item{"Torque Enable", 64, 1, false, RAM}
	LED               = Item{"LED", 65, 1, false, RAM}
	StatusReturnLevel = Item{"Status Return Level", 68, 1, false, RAM}
	HardwareErrorStat = Item{"Hardware Error Status", 70, 1, false, RAM}
	// Bus Watchdog: 1..127 x 20 ms of bus silence stops the drive; reads -1
	// once tripped, until written 0 (e-Manual, X-series "Bus Watchdog").
	BusWatchdog         = Item{"Bus Watchdog", 98, 1, true, RAM}
	GoalPWM             = Item{"Goal PWM", 100, 2, true, RAM}
	GoalCurrent         = Item{"Goal Current", 102, 2, true, RAM}
	GoalVelocity        = Item{"Goal Velocity", 104, 4, true, RAM}
	ProfileAcceleration = Item{"Profile Acceleration", 108, 4, false, RAM}
	ProfileVelocity     = Item{"Profile Velocity", 112, 4, false, RAM}
	GoalPosition        = Item{"Goal Position", 116, 4, true, RAM}
	Moving              = Item{"Moving", 122, 1, false, RAM}
	MovingStatus        = Item{"Moving Status", 123, 1, false, RAM}
	PresentPWM          = Item{"Present PWM", 124, 2, true, RAM}
	PresentCurrent      = Item{"Present Current", 126, 2, true, RAM} // not 144: upstream bug, docs/dynamixel.md §8.1
	PresentVelocity     = Item{"Present Velocity", 128, 4, true, RAM}
	PresentPosition     = Item{"Present Position", 132, 4, true, RAM}
	PresentInputVoltage = Item{"Present Input Voltage", 144, 2, false, RAM}
	PresentTemperature  = Item{"Present Temperature", 146, 1, false, RAM}
)

// Items lists every item above, in address order.
var Items = []Item{
	ModelNumber, FirmwareVersion, ID, BaudRate, ReturnDelayTime, DriveMode, OperatingMode,
	HomingOffset, MovingThreshold, TemperatureLimit, MaxVoltageLimit, MinVoltageLimit, PWMLimit,
	CurrentLimit, VelocityLimit, MaxPositionLimit, MinPositionLimit, Shutdown, TorqueEnable, LED,
	StatusReturnLevel, HardwareErrorStat, BusWatchdog, GoalPWM, GoalCurrent, GoalVelocity, ProfileAcceleration,
	ProfileVelocity, GoalPosition, Moving, MovingStatus, PresentPWM, PresentCurrent,
	PresentVelocity, PresentPosition, PresentInputVoltage, PresentTemperature,
}

// Operating modes (register 11) [e-Manual, "Operating Mode"].
const (
	ModeCurrent          = 0
	ModeVelocity         = 1
	ModePosition         = 3
	ModeExtendedPosition = 4
	ModeCurrentPosition  = 5
	ModePWM              = 16
)

// Baud Rate register codes (register 8) for X-series in Protocol 2.0.
var BaudCodes = map[int]byte{9600: 0, 57600: 1, 115200: 2, 1000000: 3, 2000000: 4, 3000000: 5, 4000000: 6, 4500000: 7}
