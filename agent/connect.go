package agent

import (
	"context"
	"slices"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
)

// The commands that open and close the serial link. They also record the
// wish the link supervisor keeps: reconnect after an unplug, or not.

func (s *service) doConnect(ctx context.Context, req *contract.Request) (any, error) {
	o := resort.ConnectOptions{Device: req.String("port")}
	if v, ok := req.Int("baudrate"); ok {
		o.Baudrate = v
	}
	if v, ok := req.Int("motor_id"); ok {
		o.MotorID, o.HasID = v, true
	}
	// The catalogue's enum already limits port to the allowed list; check
	// again here so the rule holds even if the schema changes.
	if o.Device != "" && !slices.Contains(s.cfg.Ports(), o.Device) {
		return nil, contract.Errorf(contract.CodeInvalidArg, "port %q is not in allowed_ports", o.Device)
	}
	// A connect clears a latched emergency stop, but never one that
	// arrived after it (see reset).
	o.KeepEStop = s.estopAfter(arrival(ctx))
	s.wish.want(o)
	res, err := s.resort.Connect(ctx, o)
	s.notify.healthChanged()
	if err != nil {
		return nil, err
	}
	s.servoIdentified()
	return connectResult(res), nil
}

func (s *service) doDisconnect(ctx context.Context, _ *contract.Request) (any, error) {
	s.wish.drop()
	err := s.resort.Disconnect(ctx)
	s.notify.healthChanged()
	return contract.DisconnectResult{Connected: false}, err
}

func (s *service) doReboot(ctx context.Context, req *contract.Request) (any, error) {
	if err := s.resort.Reboot(ctx, req.Bool("reapply")); err != nil {
		return nil, err
	}
	s.notify.healthChanged()
	return s.health(ctx)
}
