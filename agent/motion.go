package agent

import (
	"context"
	"fmt"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

// The move commands. Telemetry learns the target when the driver starts
// the move (live.moveStarted), so state shows where the carousel is going
// while it turns, and never a move that was refused.

func overridesOf(req *contract.Request) resort.PreciseOverrides {
	var o resort.PreciseOverrides
	m, _ := req.Params["overrides"].(map[string]any)
	f := func(k string) *float64 {
		switch v := m[k].(type) {
		case float64:
			return &v
		case int:
			x := float64(v)
			return &x
		}
		return nil
	}
	i := func(k string) *int {
		if v, ok := m[k].(int); ok {
			return &v
		}
		return nil
	}
	o.PositionTolerance, o.SwitchError, o.Stage1Timeout = f("position_tolerance"), f("switch_error"), f("stage1_timeout")
	o.PulsePWMStart, o.PWMStep, o.PWMMax = i("pulse_pwm_start"), i("pwm_step"), i("pwm_max")
	o.PulseDuration, o.PulseRest, o.PulseMax = f("pulse_duration"), f("pulse_rest"), i("pulse_max")
	o.MotionThreshold, o.StallPulses = f("motion_threshold"), i("stall_pulses")
	o.MaxStepFactor, o.PWMBackoffStep = f("max_step_factor"), i("pwm_backoff_step")
	if b, ok := m["enable_backoff"].(bool); ok {
		o.EnableBackoff = &b
	}
	return o
}

// moveReply turns a move result into a reply: a move that did not reach its
// target is an error, with the result attached so the caller sees how close
// it came.
func moveReply(res resort.MoveResult, err error) (any, error) {
	if err != nil && !res.Started {
		// Refused before it started (e-stop latched, not connected,
		// hardware error): nothing ran, so there is no result, and the
		// reply's started_at stays null.
		return nil, notStarted{err}
	}
	if err == nil && !res.Success {
		err = fmt.Errorf("%w: %s", resort.ErrTimeout, res.Reason)
	}
	return moveResult(res), err
}

// notStarted marks a command refused before it did anything.
type notStarted struct{ error }

func (n notStarted) Unwrap() error { return n.error }

func (s *service) doActivateHotel(ctx context.Context, req *contract.Request) (any, error) {
	hotel := req.String("hotel")
	if _, err := s.resort.Config().HotelAngle(hotel); err != nil {
		return nil, contract.Errorf(contract.CodeInvalidArg, "%v", err)
	}
	s.notify.expectHotel(hotel)
	return moveReply(s.resort.ActivateHotel(ctx, hotel, req.Bool("precise"), overridesOf(req)))
}

func (s *service) doGoHome(ctx context.Context, req *contract.Request) (any, error) {
	s.notify.expectHotel("")
	return moveReply(s.resort.GoHome(ctx, req.Bool("precise")))
}

func (s *service) doMoveToAngle(ctx context.Context, req *contract.Request) (any, error) {
	angle, _ := req.Float("angle")
	s.notify.expectHotel("")
	return moveReply(s.resort.MoveToAngle(ctx, xseries.Degrees(angle), req.Bool("precise"), overridesOf(req)))
}

func (s *service) doSetSpeed(ctx context.Context, req *contract.Request) (any, error) {
	v, _ := req.Int("speed")
	if err := s.resort.SetSpeed(ctx, v); err != nil {
		return nil, err
	}
	s.notify.stateChanged()
	return speedResult(v), nil
}
