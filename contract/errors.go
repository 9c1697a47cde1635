package contract

import "fmt"

// Code is an error code of the contract (topics.md, "Error codes").
type Code string

const (
	CodeBadRequest     Code = "bad_request"     // payload unreadable: not JSON, not UTF-8, too big, bad meta field
	CodeUnknownCommand Code = "unknown_command" // no such command
	CodeInvalidArg     Code = "invalid_argument"
	CodeNotConnected   Code = "not_connected"
	CodeQueueFull      Code = "queue_full"
	CodeEStopLatched   Code = "estop_latched"
	CodeEStopped       Code = "estopped"
	CodeCancelled      Code = "cancelled"
	CodeExpired        Code = "expired"
	CodeTimeout        Code = "timeout"
	CodeHardwareError  Code = "hardware_error"
	CodeSerialError    Code = "serial_error"
	CodeInternal       Code = "internal"
	// CodeInterrupted: the agent stopped (crash, power loss, kill) while
	// the command ran; its outcome is unknown and it is never run again.
	CodeInterrupted Code = "interrupted"
	// CodeLocked: someone else holds the carousel's lock (lock.go) and the
	// command did not carry its lock_id; it was not executed.
	CodeLocked Code = "locked"
)

// Codes lists every code, for documentation and tests.
var Codes = []Code{CodeBadRequest, CodeUnknownCommand, CodeInvalidArg, CodeNotConnected, CodeQueueFull,
	CodeEStopLatched, CodeEStopped, CodeCancelled, CodeExpired, CodeTimeout, CodeHardwareError,
	CodeSerialError, CodeInternal, CodeInterrupted, CodeLocked}

// Error is the error object of a reply.
type Error struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(code Code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}
