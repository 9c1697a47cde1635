package bus

import (
	"io"
	"time"
)

// Port is the byte stream the bus talks over: go.bug.st/serial's serial.Port
// satisfies it, and so do the simulator's in-memory pipe and any test double.
// It is the one seam between the driver and the hardware (like periph.io's
// conn.Conn).
type Port interface {
	io.ReadWriteCloser
	// SetReadTimeout bounds each Read; on timeout Read returns (0, nil), as
	// go.bug.st/serial does.
	SetReadTimeout(t time.Duration) error
	// ResetInputBuffer discards bytes received but not yet read (TCIFLUSH),
	// so a late reply to a timed-out request is never taken for the next one.
	ResetInputBuffer() error
}
