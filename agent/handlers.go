package agent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

// commandTable is the one place that maps a command to its handler: adding
// a command is one catalogue entry plus one line here.
func (a *Agent) commandTable() map[string]handler {
	return map[string]handler{
		contract.Connect:       a.doConnect,
		contract.Disconnect:    a.doDisconnect,
		contract.ActivateHotel: a.doActivateHotel,
		contract.GoHome:        a.doGoHome,
		contract.MoveToAngle:   a.doMoveToAngle,
		contract.SetSpeed:      a.doSetSpeed,
		contract.Stop: func(ctx context.Context, _ *contract.Request) (any, error) {
			return a.holdAfterStop(ctx, a.interruptForStop())
		},
		contract.EmergencyStop:  a.doEmergencyStop,
		contract.Reset:          a.doReset,
		contract.Cancel:         a.doCancel,
		contract.Reboot:         a.doReboot,
		contract.GetHealth:      a.doGetHealth,
		contract.GetPosition:    a.doGetPosition,
		contract.GetActiveHotel: a.doGetActiveHotel,
	}
}

func (a *Agent) doConnect(ctx context.Context, req *contract.Request) (any, error) {
	o := resort.ConnectOptions{Device: req.String("port")}
	if v, ok := req.Int("baudrate"); ok {
		o.Baudrate = v
	}
	if v, ok := req.Int("motor_id"); ok {
		o.MotorID, o.HasID = v, true
	}
	// The catalogue's enum already limits port to the allowed list; check
	// again here so the rule holds even if the schema changes.
	if o.Device != "" && !slices.Contains(a.cfg.Ports(), o.Device) {
		return nil, contract.Errorf(contract.CodeInvalidArg, "port %q is not in allowed_ports", o.Device)
	}
	a.wantConnected.Store(true)
	a.connectOpts.Store(&o)
	res, err := a.resort.Connect(ctx, o)
	a.kick(a.healthKick)
	if err != nil {
		return nil, err
	}
	a.servoIdentified(context.WithoutCancel(ctx))
	return connectResult(res), nil
}

func (a *Agent) doDisconnect(ctx context.Context, _ *contract.Request) (any, error) {
	a.wantConnected.Store(false)
	err := a.resort.Disconnect(ctx)
	a.kick(a.healthKick)
	return contract.DisconnectResult{Connected: false}, err
}

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

func (a *Agent) setTarget(hotel string, angle xseries.Degrees) {
	t := &contract.Target{Angle: float64(angle)}
	if hotel != "" {
		t.Hotel = &hotel
	}
	a.liveMu.Lock()
	a.target = t
	a.liveMu.Unlock()
	a.kick(a.stateKick)
}

// moveReply turns a move result into a reply: a move that did not reach its
// target is an error, with the result attached so the caller sees how close
// it came.
func moveReply(res resort.MoveResult, err error) (any, error) {
	if err == nil && !res.Success {
		err = fmt.Errorf("%w: %s", resort.ErrTimeout, res.Reason)
	}
	return moveResult(res), err
}

func (a *Agent) doActivateHotel(ctx context.Context, req *contract.Request) (any, error) {
	hotel := req.String("hotel")
	angle, err := a.resort.Config().HotelAngle(hotel)
	if err != nil {
		return nil, contract.Errorf(contract.CodeInvalidArg, "%v", err)
	}
	a.setTarget(hotel, angle)
	return moveReply(a.resort.ActivateHotel(ctx, hotel, req.Bool("precise"), overridesOf(req)))
}

func (a *Agent) doGoHome(ctx context.Context, req *contract.Request) (any, error) {
	a.setTarget("", xseries.Degrees(a.resort.Config().HomeAngle))
	return moveReply(a.resort.GoHome(ctx, req.Bool("precise")))
}

func (a *Agent) doMoveToAngle(ctx context.Context, req *contract.Request) (any, error) {
	angle, _ := req.Float("angle")
	a.setTarget("", xseries.Degrees(angle))
	return moveReply(a.resort.MoveToAngle(ctx, xseries.Degrees(angle), req.Bool("precise"), overridesOf(req)))
}

func (a *Agent) doSetSpeed(ctx context.Context, req *contract.Request) (any, error) {
	v, _ := req.Int("speed")
	if err := a.resort.SetSpeed(ctx, v); err != nil {
		return nil, err
	}
	a.kick(a.stateKick)
	return speedResult(v), nil
}

// stopInfo is what the inline part of stop did.
type stopInfo struct {
	running *job
	dropped int
}

// interruptForStop is stop's inline part: end the running command and drop
// the queue, without waiting for either.
func (a *Agent) interruptForStop() stopInfo {
	dropped, running := a.exec.interrupt(errCauseStop)
	for _, j := range dropped {
		a.replyErr(j, contract.Errorf(contract.CodeCancelled, "dropped from the queue by a stop command"))
	}
	return stopInfo{running: running, dropped: len(dropped)}
}

// holdAfterStop is stop's second part: the carousel holds its position.
func (a *Agent) holdAfterStop(ctx context.Context, st stopInfo) (any, error) {
	out := contract.StopResult{Interrupted: jobID(st.running), Dropped: st.dropped}
	if !a.resort.Opened() {
		return out, nil
	}
	if a.resort.EStopped() {
		out.Note = "emergency stop is latched; torque stays off"
		return out, nil
	}
	if st.running != nil {
		// The interrupted move holds position itself as it ends; wait for
		// that rather than fight it for the bus.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if r, _ := a.exec.busy(); r != st.running {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		pos, err := a.resort.Position(ctx)
		if err == nil {
			out.PositionDeg = ptr(degrees(pos))
		}
		return out, err
	}
	pos, err := a.resort.Hold(ctx)
	if err != nil {
		return out, err
	}
	out.PositionDeg = ptr(degrees(pos))
	return out, nil
}

// doEmergencyStop switches torque off first, then interrupts: the torque-off
// write goes to the bus ahead of everything waiting for it.
func (a *Agent) doEmergencyStop(ctx context.Context, _ *contract.Request) (any, error) {
	err := a.resort.EmergencyStop(ctx)
	dropped, running := a.exec.interrupt(errCauseEStop)
	for _, j := range dropped {
		a.replyErr(j, contract.Errorf(contract.CodeEStopped, "dropped from the queue by an emergency stop"))
	}
	a.kick(a.stateKick)
	out := contract.EStopResult{Torque: ptr(false), Latched: true, Interrupted: jobID(running), Dropped: len(dropped)}
	if err != nil {
		out.Torque = nil
		return out, err
	}
	return out, nil
}

func (a *Agent) doReset(_ context.Context, _ *contract.Request) (any, error) {
	was := a.resort.ResetEStop()
	a.kick(a.stateKick)
	return contract.ResetResult{WasLatched: was, Torque: a.resort.Torque()}, nil
}

func (a *Agent) doCancel(_ context.Context, req *contract.Request) (any, error) {
	id := req.String("command_id")
	removed, running := a.exec.cancelID(id, errCauseCancel)
	switch {
	case removed != nil:
		a.replyErr(removed, contract.Errorf(contract.CodeCancelled, "cancelled by command %s before it ran", orNone(req.ID)))
		return contract.CancelResult{CommandID: id, Was: "queued"}, nil
	case running:
		return contract.CancelResult{CommandID: id, Was: "running"}, nil
	}
	return nil, contract.Errorf(contract.CodeInvalidArg, "no queued or running command has id %q", id)
}

func (a *Agent) doReboot(ctx context.Context, req *contract.Request) (any, error) {
	if err := a.resort.Reboot(ctx, req.Bool("reapply")); err != nil {
		return nil, err
	}
	a.kick(a.healthKick)
	return a.healthReport(ctx)
}

func (a *Agent) doGetHealth(ctx context.Context, _ *contract.Request) (any, error) {
	return a.healthReport(ctx)
}

func (a *Agent) doGetPosition(ctx context.Context, _ *contract.Request) (any, error) {
	pos, err := a.resort.Position(ctx)
	if err != nil {
		return nil, err
	}
	return contract.PositionResult{PositionDeg: degrees(pos)}, nil
}

func (a *Agent) doGetActiveHotel(ctx context.Context, _ *contract.Request) (any, error) {
	h, pos, err := a.resort.ActiveHotel(ctx)
	if err != nil {
		return nil, err
	}
	out := contract.ActiveHotelResult{PositionDeg: degrees(pos)}
	if h != "" {
		out.Hotel = &h
	}
	return out, nil
}

func jobID(j *job) *string {
	if j == nil {
		return nil
	}
	if j.req.ID == "" {
		return ptr(j.req.Command)
	}
	return ptr(j.req.ID)
}

func orNone(s string) string {
	if s == "" {
		return "(no id)"
	}
	return s
}
