package resort

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plate-resort/plate-resort/driver/bus"

	"github.com/plate-resort/plate-resort/driver/xseries"
)

// Hold is the controlled stop: the carousel stops where it is and holds
// there with torque on (upstream had only torque off, which lets a loaded
// carousel coast; docs/dynamixel.md §8.16). In PWM mode it zeroes the duty, then returns to
// position mode holding the present position.
func (r *Resort) Hold(ctx context.Context) (xseries.Degrees, error) {
	if r.estop.Load() || r.stale(ctx) {
		return 0, ErrEStopLatched
	}
	r.mu.Lock()
	mode, torque := r.mode, r.torque
	r.mu.Unlock()
	if mode == xseries.ModePWM {
		if err := r.write(ctx, xseries.GoalPWM, 0); err != nil {
			return 0, err
		}
	}
	if mode != xseries.ModePosition || !torque {
		if err := r.enterPositionMode(ctx); err != nil {
			return 0, err
		}
		return r.Position(ctx)
	}
	raw, err := r.readInt(ctx, xseries.PresentPosition)
	if err != nil {
		return 0, err
	}
	hold := ((raw % xseries.PulsesPerRev) + xseries.PulsesPerRev) % xseries.PulsesPerRev
	if err := r.write(ctx, xseries.GoalPosition, hold); err != nil {
		return 0, err
	}
	return xseries.Normalize(xseries.PulsesToDegrees(raw)), nil
}

// EmergencyStop latches the e-stop and switches torque off with one write,
// ahead of anything else waiting for the bus; nothing is sent before it
// (upstream ran a whole connect() first, re-enabling torque; docs/dynamixel.md §8.15). It
// returns ErrNotConnected, still latched, when there is no servo to stop.
func (r *Resort) EmergencyStop(ctx context.Context) error {
	r.estop.Store(true)
	r.estopGen.Add(1)
	b, id, err := r.connectedBus()
	if err != nil {
		return err
	}
	// Repeated until acknowledged (a lost reply or a glitch must not leave
	// torque on); torque off is idempotent, so a repeat is harmless.
	for attempt := 0; ; attempt++ {
		err = b.WriteNow(ctx, id, xseries.TorqueEnable.Addr, []byte{0})
		if err == nil || attempt == 2 || errors.Is(err, bus.ErrDisconnected) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("torque off: %w (the e-stop stays latched; torque is switched off again when the link is back)", err)
	}
	r.setTorque(false)
	return nil
}

// EnforceEStop repeats the torque-off write while an e-stop is latched and
// the driver has no acknowledgement that torque is off (the e-stop's own
// write timed out, or the link was down). The agent calls it from its link
// watchdog, so torque goes off as soon as the servo answers again.
func (r *Resort) EnforceEStop(ctx context.Context) error {
	if !r.estop.Load() || !r.Torque() {
		return nil
	}
	b, id, err := r.connectedBus()
	if err != nil {
		return err
	}
	if err := b.WriteNow(ctx, id, xseries.TorqueEnable.Addr, []byte{0}); err != nil {
		return fmt.Errorf("torque off (latched e-stop): %w", err)
	}
	r.setTorque(false)
	r.log.Warn().Msg("torque switched off for the latched emergency stop after the link came back")
	return nil
}

// ResetEStop clears a latched emergency stop. Torque stays off; the next
// move enables it holding the present position.
func (r *Resort) ResetEStop() bool { return r.estop.Swap(false) }

// SetSpeed sets Profile Velocity (0.229 rpm units) for this and later moves;
// unlike upstream it survives the next command (docs/dynamixel.md §8.15).
func (r *Resort) SetSpeed(ctx context.Context, v int) error {
	r.mu.Lock()
	lim := r.velLim
	r.mu.Unlock()
	if lim <= 0 {
		lim = 1023
	}
	if v < 1 || v > lim {
		return fmt.Errorf("%w: speed %d is outside 1..%d (the servo's Velocity Limit; unit 0.229 rpm)", ErrInvalid, v, lim)
	}
	if r.estop.Load() {
		return ErrEStopLatched
	}
	if _, _, err := r.connectedBus(); err != nil {
		return err
	}
	r.mu.Lock()
	r.speed = v
	mode := r.mode
	r.mu.Unlock()
	if mode == xseries.ModePosition {
		return r.write(ctx, xseries.ProfileVelocity, int64(v))
	}
	return nil
}

// VelocityLimit is the servo's Velocity Limit read at connect.
func (r *Resort) VelocityLimit() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.velLim
}

// Reboot restarts the servo (the only way out of an overload shutdown short
// of a power cycle), waits for it to answer again and, with reapply, runs
// the connect sequence again. After an e-stop the latch holds: the servo is
// rebooted but torque stays off.
func (r *Resort) Reboot(ctx context.Context, reapply bool) error {
	b, id, err := r.connectedBus()
	if err != nil {
		return err
	}
	_ = b.WriteNow(ctx, id, xseries.TorqueEnable.Addr, []byte{0})
	r.setTorque(false)
	if err := b.Reboot(ctx, id); err != nil {
		return fmt.Errorf("reboot: %w", err)
	}
	r.mu.Lock()
	wait := seconds(r.cfg.RebootWait)
	r.mode = -1
	r.mu.Unlock()
	if err := r.opts.Sleep(ctx, wait); err != nil {
		return err
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		_, err = b.Ping(ctx, id)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		_ = r.opts.Sleep(ctx, 100*time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("servo did not answer after reboot: %w", err)
	}
	if reapply && !r.estop.Load() {
		if err := r.enterPositionMode(ctx); err != nil && !errors.Is(err, ErrEStopLatched) {
			return fmt.Errorf("re-apply after reboot: %w", err)
		}
	}
	return nil
}
