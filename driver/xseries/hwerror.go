package xseries

import "strings"

// HardwareError is the bit set of Hardware Error Status (70); Shutdown (63)
// uses the same layout [e-Manual, X430 "Shutdown"; docs/dynamixel.md §5]. Bit 1 and
// bits 6-7 are unused.
type HardwareError uint8

const (
	HWInputVoltage    HardwareError = 0x01
	HWOverheating     HardwareError = 0x04
	HWEncoder         HardwareError = 0x08
	HWElectricalShock HardwareError = 0x10
	HWOverload        HardwareError = 0x20
)

var hwNames = []struct {
	bit  HardwareError
	name string
}{
	{HWInputVoltage, "input_voltage"},
	{HWOverheating, "overheating"},
	{HWEncoder, "motor_encoder"},
	{HWElectricalShock, "electrical_shock"},
	{HWOverload, "overload"},
}

// Names lists the set bits by name, in bit order; unknown bits appear as
// "unknown_bit_N".
func (h HardwareError) Names() []string {
	names := []string{}
	for _, n := range hwNames {
		if h&n.bit != 0 {
			names = append(names, n.name)
		}
	}
	for bit := 0; bit < 8; bit++ {
		m := HardwareError(1 << bit)
		if h&m != 0 && m&(HWInputVoltage|HWOverheating|HWEncoder|HWElectricalShock|HWOverload) == 0 {
			names = append(names, "unknown_bit_"+string(rune('0'+bit)))
		}
	}
	return names
}

func (h HardwareError) String() string {
	if h == 0 {
		return "none"
	}
	return strings.Join(h.Names(), ",")
}

// DefaultShutdown is the factory Shutdown value: overheating, electrical
// shock and overload force torque off; only Reboot clears them.
const DefaultShutdown = HWOverheating | HWElectricalShock | HWOverload
