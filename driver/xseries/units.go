package xseries

import "math"

// Unit conversions, in one place (docs/dynamixel.md §6 "Units").

// PulsesPerRev is the encoder resolution: 4096 pulses per turn, so one pulse is
// 360/4096 = 0.087890625°. Upstream used 4095 (a bug, docs/dynamixel.md §8.5).
const PulsesPerRev = 4096

// Degrees is an angle in degrees.
type Degrees float64

// Pulses converts an angle to the nearest encoder pulse.
func (d Degrees) Pulses() int32 { return int32(math.Round(float64(d) * PulsesPerRev / 360)) }

// PulsesToDegrees converts an encoder count (may be negative) to degrees.
func PulsesToDegrees(p int64) Degrees { return Degrees(float64(p) * 360 / PulsesPerRev) }

// Normalize maps any angle into [0, 360).
func Normalize(d Degrees) Degrees {
	v := math.Mod(float64(d), 360)
	if v < 0 {
		v += 360
	}
	if v >= 360 { // -1e-17 + 360 rounds to 360
		v = 0
	}
	return Degrees(v)
}

// Diff is the signed shortest angular difference to - from, in (-180, 180]:
// 359.9° and 0.1° are 0.2° apart, not 359.8° (upstream bug, docs/dynamixel.md §8.8).
func Diff(from, to Degrees) Degrees {
	d := Normalize(to - from)
	if d > 180 {
		d -= 360
	}
	return d
}

// VelocityUnitRPM is the unit of Profile Velocity, Velocity Limit and
// Present Velocity: 0.229 rpm.
const VelocityUnitRPM = 0.229

// VelocityToDegPerSec converts a raw velocity to degrees per second.
func VelocityToDegPerSec(raw int64) float64 { return float64(raw) * VelocityUnitRPM * 360 / 60 }

// AccelerationUnitRPM2 is the unit of Profile Acceleration: 214.577 rev/min².
const AccelerationUnitRPM2 = 214.577

// CurrentUnitMA is the unit of Present/Goal Current and Current Limit on the
// XM430: about 2.69 mA.
const CurrentUnitMA = 2.69

// VoltageUnitV is the unit of Present Input Voltage and the voltage limits.
const VoltageUnitV = 0.1

// PWMUnitPercent is the unit of Goal/Present PWM and PWM Limit (885 = 100 %).
const PWMUnitPercent = 0.113

// ReturnDelayUnit is the unit of Return Delay Time: 2 µs.
const ReturnDelayUnitMicros = 2
