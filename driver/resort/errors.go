package resort

import "errors"

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
