package protocol

import (
	"errors"
	"fmt"
)

// ErrorCode is the error number in bits 0-6 of a status packet's error byte
// [e-Manual, "Status Packet", Error table].
type ErrorCode byte

const (
	CodeResultFail  ErrorCode = 0x01
	CodeInstruction ErrorCode = 0x02
	CodeCRC         ErrorCode = 0x03
	CodeDataRange   ErrorCode = 0x04
	CodeDataLength  ErrorCode = 0x05
	CodeDataLimit   ErrorCode = 0x06
	CodeAccess      ErrorCode = 0x07

	// AlertBit (0x80) says the device has a hardware problem; register 70
	// (Hardware Error Status) says which. The instruction was still processed
	// and read data is valid, so an alert alone is not a failure.
	AlertBit byte = 0x80
)

var codeText = map[ErrorCode]string{
	CodeResultFail:  "result fail: the device could not process the instruction",
	CodeInstruction: "instruction error: undefined instruction, or Action without Reg Write",
	CodeCRC:         "CRC error: the device received a corrupt packet",
	CodeDataRange:   "data range error: value outside the item's range",
	CodeDataLength:  "data length error: fewer bytes than the item needs",
	CodeDataLimit:   "data limit error: value outside the configured limit",
	CodeAccess:      "access error: read-only/undefined address, or EEPROM write with torque on",
}

// StatusError is a non-zero error number returned by a device. Compare with
// errors.Is against the Err* sentinels below.
type StatusError struct {
	ID    byte
	Code  ErrorCode
	Alert bool
}

func (e *StatusError) Error() string {
	t, ok := codeText[e.Code]
	if !ok {
		t = fmt.Sprintf("unknown error number 0x%02X", byte(e.Code))
	}
	s := fmt.Sprintf("servo id %d: %s", e.ID, t)
	if e.Alert {
		s += " (hardware alert set)"
	}
	return s
}

// Is matches any StatusError with the same code, so
// errors.Is(err, protocol.ErrAccess) works whatever the id.
func (e *StatusError) Is(target error) bool {
	var t *StatusError
	if errors.As(target, &t) {
		return t.Code == e.Code
	}
	return false
}

var (
	ErrResultFail  error = &StatusError{Code: CodeResultFail}
	ErrInstruction error = &StatusError{Code: CodeInstruction}
	ErrDeviceCRC   error = &StatusError{Code: CodeCRC}
	ErrDataRange   error = &StatusError{Code: CodeDataRange}
	ErrDataLength  error = &StatusError{Code: CodeDataLength}
	ErrDataLimit   error = &StatusError{Code: CodeDataLimit}
	ErrAccess      error = &StatusError{Code: CodeAccess}
)

// StatusReply is a decoded status packet.
type StatusReply struct {
	ID    byte
	Error byte // raw error byte
	Data  []byte
}

// Alert reports the hardware alert bit.
func (s StatusReply) Alert() bool { return s.Error&AlertBit != 0 }

// Err returns a *StatusError when the error number is non-zero, else nil.
// The alert bit alone gives nil.
func (s StatusReply) Err() error {
	if code := s.Error &^ AlertBit; code != 0 {
		return &StatusError{ID: s.ID, Code: ErrorCode(code), Alert: s.Alert()}
	}
	return nil
}

// ErrNotStatus is returned by AsStatus for a packet that is not a reply.
var ErrNotStatus = errors.New("not a status packet")

// AsStatus interprets p as a status packet.
func (p Packet) AsStatus() (StatusReply, error) {
	if p.Instruction != InstStatus {
		return StatusReply{}, fmt.Errorf("%w: %s from id %d", ErrNotStatus, p.Instruction, p.ID)
	}
	if len(p.Params) < 1 {
		return StatusReply{}, fmt.Errorf("%w: status from id %d has no error byte", ErrLength, p.ID)
	}
	return StatusReply{ID: p.ID, Error: p.Params[0], Data: p.Params[1:]}, nil
}
