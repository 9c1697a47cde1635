package bus

import (
	"errors"
	"io"
	"os"
	"syscall"

	"go.bug.st/serial"
)

// Transport errors. Device-reported errors are *protocol.StatusError.
var (
	// ErrTimeout: no complete status packet before the deadline. The ROBOTIS
	// SDK calls this COMM_RX_TIMEOUT, "There is no status packet!"; usual
	// causes are a wrong baud rate or id, no 12 V motor power, or the wrong
	// connector (docs/dynamixel.md §9).
	ErrTimeout = errors.New("no reply from servo (timeout): check motor power, id and baud rate")
	// ErrCorrupt: bytes arrived but never formed a valid packet (bad CRC or
	// length) before the deadline.
	ErrCorrupt = errors.New("corrupt reply from servo")
	// ErrDisconnected: the adapter is gone (unplugged, hung up) or the bus is
	// closed; Reopen recovers once the device is back.
	ErrDisconnected = errors.New("serial adapter disconnected")
)

// notSent wraps the error of a transaction refused before it reached the
// wire (the port is already known gone): observers do not count it. The
// message is the wrapped error's.
type notSent struct{ error }

func (e notSent) Unwrap() error { return e.error }

// isDisconnect reports whether an I/O error means the port is gone rather
// than a transient problem. go.bug.st/serial reports a hang-up as PortClosed
// on Read and EIO on Write (docs/dynamixel.md §7, verified on a pty).
func isDisconnect(err error) bool {
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PortClosed, serial.PortNotFound:
			return true
		}
	}
	return errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENXIO) ||
		errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.EBADF) ||
		errors.Is(err, os.ErrClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrClosedPipe)
}
