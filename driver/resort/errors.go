package resort

import (
	"errors"

	"github.com/plate-resort/plate-resort/driver/bus"
	"github.com/plate-resort/plate-resort/driver/protocol"
)

var (
	// ErrNotConnected: Connect has not succeeded, or Disconnect was called.
	ErrNotConnected = errors.New("servo not connected: send connect first")
	// ErrEStopLatched: an emergency stop is latched; reset (or connect) first.
	ErrEStopLatched = errors.New("emergency stop is latched: send reset (or connect) before moving")
	// ErrHardware: the servo reports a hardware error (overload, overheating,
	// ...) and has switched its torque off; only reboot clears it.
	ErrHardware = errors.New("servo hardware error")
	// ErrInvalid: an argument is out of range.
	ErrInvalid = errors.New("invalid argument")
	// ErrTimeout: a move did not finish in time.
	ErrTimeout = errors.New("move timed out")
)

// Serial link errors, re-exported from the bus so callers of the driver
// classify failures with errors.Is on this package alone.
var (
	// ErrDisconnected: the adapter is gone; the driver reopens it when back.
	ErrDisconnected = bus.ErrDisconnected
	// ErrNoReply: no status packet before the deadline.
	ErrNoReply = bus.ErrTimeout
	// ErrCorrupt: bytes arrived but never formed a valid packet.
	ErrCorrupt = bus.ErrCorrupt
)

// Port is the serial port seam (tests open a pseudo-terminal or a pipe).
type Port = bus.Port

// IsDeviceError reports whether err is an error the servo itself reported
// in a status packet (instruction, CRC, data range, access ...).
func IsDeviceError(err error) bool {
	var se *protocol.StatusError
	return errors.As(err, &se)
}
