package agent

import (
	"context"
	"errors"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
)

// Why a running command's context was cancelled.
var (
	errCauseEStop    = errors.New("interrupted by emergency stop")
	errCauseCancel   = errors.New("cancelled")
	errCauseStop     = errors.New("stopped by a stop command")
	errCauseShutdown = errors.New("agent shutting down")
)

// toError maps an error from the driver or the executor to the contract's
// error codes, with a message a person can act on.
func toError(ctx context.Context, err error) *contract.Error {
	if err == nil {
		return nil
	}
	var ce *contract.Error
	if errors.As(err, &ce) {
		return ce
	}
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		switch {
		case errors.Is(cause, errCauseEStop):
			return contract.Errorf(contract.CodeEStopped, "interrupted by emergency stop; torque is off and the e-stop is latched: send reset before moving again")
		case errors.Is(cause, errCauseCancel):
			return contract.Errorf(contract.CodeCancelled, "cancelled; the carousel holds its position")
		case errors.Is(cause, errCauseStop):
			return contract.Errorf(contract.CodeCancelled, "stopped by a stop command; the carousel holds its position")
		case errors.Is(cause, errCauseShutdown):
			return contract.Errorf(contract.CodeCancelled, "agent shutting down; the carousel holds its position")
		}
	}
	switch {
	case errors.Is(err, resort.ErrEStopLatched):
		return contract.Errorf(contract.CodeEStopLatched, "emergency stop is latched: send reset (or connect) before moving")
	case errors.Is(err, resort.ErrNotConnected):
		return contract.Errorf(contract.CodeNotConnected, "servo not connected: send connect")
	case errors.Is(err, resort.ErrDisconnected):
		return contract.Errorf(contract.CodeNotConnected, "%v; the agent reopens the port by itself when the adapter is back (see health.serial)", err)
	case errors.Is(err, resort.ErrInvalid):
		return contract.Errorf(contract.CodeInvalidArg, "%v", err)
	case errors.Is(err, resort.ErrHardware), resort.IsDeviceError(err):
		return contract.Errorf(contract.CodeHardwareError, "%v", err)
	case errors.Is(err, resort.ErrTimeout):
		return contract.Errorf(contract.CodeTimeout, "%v", err)
	case errors.Is(err, resort.ErrNoReply), errors.Is(err, resort.ErrCorrupt):
		return contract.Errorf(contract.CodeSerialError, "%v", err)
	case errors.Is(err, context.DeadlineExceeded):
		return contract.Errorf(contract.CodeTimeout, "%v", err)
	}
	return contract.Errorf(contract.CodeInternal, "%v", err)
}
