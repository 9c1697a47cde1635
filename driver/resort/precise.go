package resort

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/plate-resort/plate-resort/driver/bus"

	"github.com/plate-resort/plate-resort/driver/xseries"
)

// precise is upstream's _two_stage_move (docs/dynamixel.md §8), with its bugs
// fixed: stage 1 is a position move; when it settles within switch_error (or
// stage1_timeout passes) stage 2 nudges the carousel with PWM pulses,
// escalating the duty while it does not move, backing off when it jumps, and
// giving up after stall_pulses still pulses or pulse_max pulses. Whatever
// the outcome the servo ends in position mode holding its position.
func (r *Resort) precise(ctx context.Context, cfg Config, target xseries.Degrees, res *MoveResult) (err error) {
	tol := cfg.PositionTolerance
	if err := r.write(ctx, xseries.GoalPosition, int64(goalPulses(target))); err != nil {
		return err
	}
	deadline := time.Now().Add(seconds(cfg.Stage1Timeout))
	var quiet stillness
	for {
		s, err := r.pollSample(ctx)
		if err != nil {
			return err
		}
		e := float64(xseries.Diff(s.pos, target))
		res.FinalAngle, res.FinalError = s.pos, e
		if math.Abs(e) <= tol {
			res.Success, res.Reason = true, ReasonCoarse
			return nil
		}
		still := quiet.observe(s)
		near := math.Abs(e) <= cfg.SwitchError
		if near && (still >= 2 || time.Now().After(deadline)) {
			break
		}
		if !near && (still >= 3 || time.Now().After(deadline)) {
			// Stopped, or still on its way, far from the goal: a pulse stage
			// cannot fix that, and switching modes mid-travel would let the
			// carousel coast. Stop where it is.
			reason, what := ReasonStall, "stopped"
			if still < 3 {
				reason, what = ReasonTimeout, "still travelling after stage1_timeout"
			}
			res.Reason = reason
			if pos, herr := r.Hold(ctx); herr == nil {
				res.FinalAngle, res.FinalError = pos, float64(xseries.Diff(pos, target))
			}
			return fmt.Errorf("%w: stage 1 %s %.2f° from target, beyond switch_error %.2f°", ErrTimeout, what, math.Abs(e), cfg.SwitchError)
		}
		if err := r.opts.Sleep(ctx, min(liveInterval, seconds(cfg.PollInterval))); err != nil {
			return err
		}
	}

	// Stage 2.
	if err := r.enterPWMMode(ctx); err != nil {
		return err
	}
	defer func() {
		if ctx.Err() != nil || r.estop.Load() || r.stale(ctx) {
			return // finish() holds position or leaves torque off
		}
		if herr := r.enterPositionMode(ctx); herr != nil && err == nil {
			err = fmt.Errorf("return to position mode after pulses: %w", herr)
		}
	}()
	pwm := cfg.PulsePWMStart
	stall := 0
	s, err := r.pollSample(ctx)
	if err != nil {
		return err
	}
	for res.Pulses < cfg.PulseMax {
		e := float64(xseries.Diff(s.pos, target))
		res.FinalAngle, res.FinalError = s.pos, e
		if math.Abs(e) <= tol {
			res.Success, res.Reason = true, ReasonPulses
			return nil
		}
		duty := int64(pwm)
		if e < 0 {
			duty = -duty
		}
		if err := r.write(ctx, xseries.GoalPWM, duty); err != nil {
			return err
		}
		perr := r.watch(ctx, seconds(cfg.PulseDuration))
		// The pulse ends even when the context was cancelled mid-pulse.
		zctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		zerr := r.write(zctx, xseries.GoalPWM, 0)
		for i := 0; zerr != nil && i < 2 && !errors.Is(zerr, bus.ErrDisconnected); i++ {
			zerr = r.write(zctx, xseries.GoalPWM, 0) // never leave the duty on
		}
		cancel()
		if perr != nil {
			return perr
		}
		if zerr != nil {
			return zerr
		}
		if err := r.watch(ctx, seconds(cfg.PulseRest)); err != nil {
			return err
		}
		res.Pulses++
		next, err := r.pollSample(ctx)
		if err != nil {
			return err
		}
		delta := math.Abs(float64(xseries.Diff(s.pos, next.pos)))
		if cfg.PreciseLog {
			r.log.Debug().Int("pulse", res.Pulses).Int("pwm", int(duty)).Float64("error", e).Float64("delta", delta).Msg("precise pulse")
		}
		s = next
		if cfg.EnableBackoff && math.Abs(e) < cfg.SwitchError && delta > tol*cfg.MaxStepFactor {
			pwm = max(cfg.PulsePWMStart, pwm-cfg.PWMBackoffStep)
		}
		if delta < cfg.MotionThreshold {
			pwm = min(pwm+cfg.PWMStep, cfg.PWMMax)
			stall++
			if stall >= cfg.StallPulses {
				res.Reason = ReasonStall
				res.FinalAngle, res.FinalError = s.pos, float64(xseries.Diff(s.pos, target))
				return fmt.Errorf("%w: carousel did not move in %d pulses up to PWM %d; check for an obstruction", ErrTimeout, stall, pwm)
			}
		} else {
			stall = 0
		}
	}
	e := float64(xseries.Diff(s.pos, target))
	res.FinalAngle, res.FinalError = s.pos, e
	if math.Abs(e) <= tol {
		res.Success, res.Reason = true, ReasonPulses
		return nil
	}
	res.Reason = ReasonMaxPulses
	return fmt.Errorf("%w: still %.2f° from target after %d pulses", ErrTimeout, math.Abs(e), res.Pulses)
}

// watch waits d while reading the position at the live interval, so state
// stays fresh during pulses and rests.
func (r *Resort) watch(ctx context.Context, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return ctx.Err()
		}
		if err := r.opts.Sleep(ctx, min(left, liveInterval)); err != nil {
			return err
		}
		if time.Until(end) > liveInterval/2 {
			// A live sample during a pulse only feeds state; one that
			// comes late is skipped, never allowed to stretch the pulse.
			if _, err := r.sample(ctx); err != nil && !lateReply(err) {
				return err
			}
		}
	}
}
