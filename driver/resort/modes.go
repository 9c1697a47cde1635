package resort

import (
	"context"
	"fmt"
	"time"

	"github.com/plate-resort/plate-resort/driver/xseries"
)

// enterPositionMode leaves the servo holding its present position in
// position mode (3) with torque on. Order matters (docs/dynamixel.md §9): EEPROM
// items such as Operating Mode only accept writes with torque off; changing
// the mode resets Profile Velocity/Acceleration to 0 (so they are written
// again); and Goal Position is set to the present position before torque
// comes on, so the carousel never jumps to a stale goal.
func (r *Resort) enterPositionMode(ctx context.Context) error {
	if err := r.write(ctx, xseries.TorqueEnable, 0); err != nil {
		return err
	}
	r.setTorque(false)
	// Clear the Bus Watchdog of the pulse stage (also one that tripped
	// while the host was gone): a tripped watchdog freezes every goal.
	if err := r.write(ctx, xseries.BusWatchdog, 0); err != nil {
		return err
	}
	mode, err := r.readInt(ctx, xseries.OperatingMode)
	if err != nil {
		return err
	}
	if mode != xseries.ModePosition {
		if err := r.write(ctx, xseries.OperatingMode, xseries.ModePosition); err != nil {
			return err
		}
	}
	r.mu.Lock()
	r.mode = xseries.ModePosition
	speed, accel := r.speed, r.cfg.ProfileAcceleration
	r.mu.Unlock()
	if err := r.write(ctx, xseries.ProfileVelocity, int64(speed)); err != nil {
		return err
	}
	if err := r.write(ctx, xseries.ProfileAcceleration, int64(accel)); err != nil {
		return err
	}
	raw, err := r.readInt(ctx, xseries.PresentPosition)
	if err != nil {
		return err
	}
	// Present Position may be multi-turn while torque is off; the goal must
	// lie within the single-turn limits 0..4095 of mode 3.
	hold := ((raw % xseries.PulsesPerRev) + xseries.PulsesPerRev) % xseries.PulsesPerRev
	if err := r.write(ctx, xseries.GoalPosition, hold); err != nil {
		return err
	}
	if err := r.write(ctx, xseries.TorqueEnable, 1); err != nil {
		return err
	}
	r.setTorque(true)
	return nil
}

// enterPWMMode switches to PWM mode (16) for the pulse stage. Changing the
// mode resets Goal PWM to PWM Limit (100 %), so Goal PWM is zeroed BEFORE
// torque comes on; upstream enabled torque first and kicked the carousel at
// full power (docs/dynamixel.md §8.13).
func (r *Resort) enterPWMMode(ctx context.Context) error {
	if err := r.write(ctx, xseries.TorqueEnable, 0); err != nil {
		return err
	}
	r.setTorque(false)
	if err := r.write(ctx, xseries.OperatingMode, xseries.ModePWM); err != nil {
		return err
	}
	r.mu.Lock()
	r.mode = xseries.ModePWM
	r.mu.Unlock()
	if err := r.write(ctx, xseries.GoalPWM, 0); err != nil {
		return err
	}
	// The Bus Watchdog stops the drive if the host goes silent for
	// pulseWatchdog (an adapter pulled mid-pulse would otherwise leave the
	// carousel turning at the pulse's duty until power is cut). The pulse
	// loop talks to the servo at least every liveInterval.
	if err := r.write(ctx, xseries.BusWatchdog, int64(pulseWatchdog/(20*time.Millisecond))); err != nil {
		return err
	}
	if err := r.write(ctx, xseries.TorqueEnable, 1); err != nil {
		return err
	}
	r.setTorque(true)
	return nil
}

// pulseWatchdog is the Bus Watchdog time during the pulse stage: five live
// intervals of silence.
const pulseWatchdog = 500 * time.Millisecond

func (r *Resort) setTorque(on bool) {
	r.mu.Lock()
	r.torque = on
	r.mu.Unlock()
}

// ready makes sure a move can start: no latched e-stop, no hardware error
// shutdown, position mode with torque on.
func (r *Resort) ready(ctx context.Context) error {
	if r.estop.Load() {
		return ErrEStopLatched
	}
	if _, _, err := r.connectedBus(); err != nil {
		return err
	}
	if !r.prepared.Load() {
		return fmt.Errorf("%w: the connect sequence has not completed (the agent retries it)", ErrNotConnected)
	}
	hw, err := r.hardwareError(ctx)
	if err != nil {
		return r.classify(ctx, fmt.Errorf("read hardware error status: %w", err))
	}
	if hw&xseries.DefaultShutdown != 0 {
		return fmt.Errorf("%w: %s; the servo has switched its torque off and only reboot clears it", ErrHardware, hw)
	}
	r.mu.Lock()
	ok := r.mode == xseries.ModePosition && r.torque
	r.mu.Unlock()
	if ok {
		// Confirm torque really is on: a shutdown or reset elsewhere clears it.
		t, err := r.readInt(ctx, xseries.TorqueEnable)
		if err != nil {
			return err
		}
		if t == 1 {
			return nil
		}
	}
	return r.enterPositionMode(ctx)
}
