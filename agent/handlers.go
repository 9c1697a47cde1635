package agent

import (
	"context"

	"github.com/plate-resort/plate-resort/contract"
)

// handler runs one command against the driver; its result becomes the
// reply's result, its error the reply's error (through toError).
type handler func(ctx context.Context, req *contract.Request) (any, error)

// commandTable is the one place that maps a command to its handler: adding
// a command is one catalogue entry plus one line here.
func (s *service) commandTable() map[string]handler {
	return map[string]handler{
		contract.Connect:       s.doConnect,
		contract.Disconnect:    s.doDisconnect,
		contract.ActivateHotel: s.doActivateHotel,
		contract.GoHome:        s.doGoHome,
		contract.MoveToAngle:   s.doMoveToAngle,
		contract.SetSpeed:      s.doSetSpeed,
		contract.Stop: func(ctx context.Context, _ *contract.Request) (any, error) {
			return s.holdAfterStop(ctx, s.interruptForStop())
		},
		contract.EmergencyStop:  s.doEmergencyStop,
		contract.Reset:          s.doReset,
		contract.Cancel:         s.doCancel,
		contract.Reboot:         s.doReboot,
		contract.GetHealth:      s.doGetHealth,
		contract.GetPosition:    s.doGetPosition,
		contract.GetActiveHotel: s.doGetActiveHotel,
		contract.GetEvents:      s.doGetEvents,
		contract.SetLogLevel:    s.doSetLogLevel,
		contract.Lock:           s.doLock,
		contract.Unlock:         s.doUnlock,
		contract.ForceUnlock:    s.doForceUnlock,
	}
}
