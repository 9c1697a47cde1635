package resort

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/plate-resort/plate-resort/driver/xseries"
)

// MoveResult is what every move returns; the precise fields match upstream's
// activate_hotel_precise dict (success, reason, pulses, final_angle,
// final_error).
type MoveResult struct {
	// Started is true once the move passed its checks and began to act
	// (its goal about to be written); a move refused before that (e-stop
	// latched, not connected, hardware error) did nothing.
	Started    bool
	Success    bool
	Reason     string
	Hotel      string
	Precise    bool
	Target     xseries.Degrees
	FinalAngle xseries.Degrees
	FinalError float64 // shortest signed target - final, degrees
	Pulses     int
	DurationS  float64
}

// Reasons a move ends.
const (
	ReasonReached       = "reached"        // plain move within tolerance
	ReasonCoarse        = "coarse_success" // precise: stage 1 was enough
	ReasonPulses        = "pulses_success" // precise: stage 2 converged
	ReasonOffTarget     = "settled_off_target"
	ReasonStall         = "stall"
	ReasonMaxPulses     = "max_pulses"
	ReasonTimeout       = "timeout"
	ReasonCancelled     = "cancelled"
	ReasonEStopped      = "estopped"
	ReasonHardwareError = "hardware_error"
)

// PreciseOverrides replace precise-move keys for one move (upstream's
// activate_hotel_precise(**overrides)). Nil fields keep the configuration.
type PreciseOverrides struct {
	PositionTolerance *float64
	SwitchError       *float64
	Stage1Timeout     *float64
	PulsePWMStart     *int
	PWMStep           *int
	PWMMax            *int
	PulseDuration     *float64
	PulseRest         *float64
	PulseMax          *int
	MotionThreshold   *float64
	StallPulses       *int
	EnableBackoff     *bool
	MaxStepFactor     *float64
	PWMBackoffStep    *int
}

// Apply returns cfg with the overrides, validated.
func (o PreciseOverrides) Apply(cfg Config) (Config, error) {
	setF := func(dst *float64, v *float64) {
		if v != nil {
			*dst = *v
		}
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setF(&cfg.PositionTolerance, o.PositionTolerance)
	setF(&cfg.SwitchError, o.SwitchError)
	setF(&cfg.Stage1Timeout, o.Stage1Timeout)
	setI(&cfg.PulsePWMStart, o.PulsePWMStart)
	setI(&cfg.PWMStep, o.PWMStep)
	setI(&cfg.PWMMax, o.PWMMax)
	setF(&cfg.PulseDuration, o.PulseDuration)
	setF(&cfg.PulseRest, o.PulseRest)
	setI(&cfg.PulseMax, o.PulseMax)
	setF(&cfg.MotionThreshold, o.MotionThreshold)
	setI(&cfg.StallPulses, o.StallPulses)
	if o.EnableBackoff != nil {
		cfg.EnableBackoff = *o.EnableBackoff
	}
	setF(&cfg.MaxStepFactor, o.MaxStepFactor)
	setI(&cfg.PWMBackoffStep, o.PWMBackoffStep)
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: overrides: %v", ErrInvalid, err)
	}
	return cfg, nil
}

// ActivateHotel turns the carousel to hotel. precise selects the two-stage
// move (upstream's activate_hotel_precise); otherwise a position move with
// read-back (upstream's blind activate_hotel returned before moving; docs/dynamixel.md §8.10).
func (r *Resort) ActivateHotel(ctx context.Context, hotel string, precise bool, o PreciseOverrides) (MoveResult, error) {
	cfg := r.Config()
	name, ok := cfg.CanonicalHotel(hotel)
	if !ok {
		_, err := cfg.HotelAngle(hotel)
		return MoveResult{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	target, _ := cfg.HotelAngle(name)
	res, err := r.MoveToAngle(ctx, target, precise, o)
	res.Hotel = name
	return res, err
}

// BlindMove writes the goal for angle and returns at once, without waiting
// or checking where the carousel ends up: upstream's activate_hotel. It is
// kept for diagnostics and scripted sequences; commands use MoveToAngle,
// which reports the truth.
func (r *Resort) BlindMove(ctx context.Context, angle xseries.Degrees) error {
	if math.IsNaN(float64(angle)) || math.IsInf(float64(angle), 0) {
		return fmt.Errorf("%w: angle must be a finite number", ErrInvalid)
	}
	if err := r.ready(ctx); err != nil {
		return err
	}
	return r.write(ctx, xseries.GoalPosition, int64(goalPulses(xseries.Normalize(angle))))
}

// GoHome moves to the home angle (0° by default).
func (r *Resort) GoHome(ctx context.Context, precise bool) (MoveResult, error) {
	return r.MoveToAngle(ctx, xseries.Degrees(r.Config().HomeAngle), precise, PreciseOverrides{})
}

// MoveToAngle moves to angle (normalised into [0, 360)).
func (r *Resort) MoveToAngle(ctx context.Context, angle xseries.Degrees, precise bool, o PreciseOverrides) (MoveResult, error) {
	if math.IsNaN(float64(angle)) || math.IsInf(float64(angle), 0) {
		return MoveResult{}, fmt.Errorf("%w: angle must be a finite number", ErrInvalid)
	}
	cfg, err := o.Apply(r.Config())
	if err != nil {
		return MoveResult{}, err
	}
	target := xseries.Normalize(angle)
	start := time.Now()
	res := MoveResult{Precise: precise, Target: target}
	ctx = r.withGen(ctx)
	if err := r.ready(ctx); err != nil {
		return res, err
	}
	res.Started = true
	if r.opts.Started != nil {
		r.opts.Started(target)
	}
	if precise {
		err = r.precise(ctx, cfg, target, &res)
	} else {
		err = r.plain(ctx, cfg, target, seconds(cfg.MovementTimeout), &res)
	}
	res.DurationS = time.Since(start).Seconds()
	return r.finish(ctx, res, err)
}

// finish leaves the servo in a defined state whatever happened: on
// cancellation it holds position (torque on, position mode); after an
// e-stop it does nothing (torque stays off).
func (r *Resort) finish(ctx context.Context, res MoveResult, err error) (MoveResult, error) {
	switch {
	case r.estop.Load() || r.stale(ctx):
		// Interrupted by an e-stop (maybe already reset): never hold, never
		// touch torque again.
		res.Success, res.Reason = false, ReasonEStopped
		return res, ErrEStopLatched
	case ctx.Err() != nil:
		res.Success, res.Reason = false, ReasonCancelled
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if pos, herr := r.Hold(hctx); herr == nil {
			res.FinalAngle = pos
			res.FinalError = float64(xseries.Diff(pos, res.Target))
		} else if !errors.Is(herr, ErrEStopLatched) {
			r.log.Error().Err(herr).Msg("could not hold position after cancel")
		}
		return res, ctx.Err()
	case errors.Is(err, ErrHardware):
		res.Success, res.Reason = false, ReasonHardwareError
	}
	return res, err
}

// sample is one read of Moving (122) through Present Position (132): a
// single 14-byte transaction instead of two.
type sample struct {
	pos    xseries.Degrees
	moving bool
}

func (r *Resort) sample(ctx context.Context) (sample, error) {
	b, id, err := r.connectedBus()
	if err != nil {
		return sample{}, err
	}
	const first, last = 122, 136 // Moving .. end of Present Position
	data, err := b.Read(ctx, id, first, last-first)
	if err != nil {
		return sample{}, r.classify(ctx, fmt.Errorf("read position: %w", err))
	}
	raw, err := xseries.PresentPosition.Decode(data[132-first : 136-first])
	if err != nil {
		return sample{}, err
	}
	// Moving (122) is 0 below Moving Threshold (10 units), so a slow
	// profile also counts Moving Status (123) bit 1, "profile ongoing".
	s := sample{pos: xseries.Normalize(xseries.PulsesToDegrees(raw)), moving: data[0] != 0 || data[1]&0x02 != 0}
	r.mu.Lock()
	r.lastPos = s.pos
	r.mu.Unlock()
	r.observe(s.pos, s.moving)
	r.checkAlert(ctx)
	return s, nil
}

// pollGrace is how long a move keeps polling through position reads that
// got no (or a garbled) reply before it gives up on the link. Under load a
// reply can come hundreds of milliseconds late, and the servo goes on
// moving to its goal meanwhile; a move fails on a dead link, not on one
// late poll. A gone adapter (ErrDisconnected) fails at once.
const pollGrace = 2 * time.Second

// pollSample is sample for the loops of a move: it retries late replies
// for up to pollGrace.
func (r *Resort) pollSample(ctx context.Context) (sample, error) {
	var since time.Time
	for {
		s, err := r.sample(ctx)
		if err == nil || !lateReply(err) || ctx.Err() != nil {
			return s, err
		}
		if since.IsZero() {
			since = time.Now()
		} else if time.Since(since) > pollGrace {
			return s, fmt.Errorf("no position reply for %s: %w", pollGrace, err)
		}
		r.log.Debug().Err(err).Msg("position poll got no reply; polling again")
		if err := r.opts.Sleep(ctx, 20*time.Millisecond); err != nil {
			return s, err
		}
	}
}

// lateReply says whether err is a missing or garbled reply, which another
// try may cure, rather than a gone adapter or a servo error.
func lateReply(err error) bool {
	return (errors.Is(err, ErrNoReply) || errors.Is(err, ErrCorrupt)) && !errors.Is(err, ErrDisconnected)
}

// liveInterval is how often a move reads the position for live state (the
// agent publishes ≥ 5 Hz while moving).
const liveInterval = 100 * time.Millisecond

// plain writes the goal and reads back until within tolerance, settled off
// target, or timeout.
func (r *Resort) plain(ctx context.Context, cfg Config, target xseries.Degrees, timeout time.Duration, res *MoveResult) error {
	if err := r.write(ctx, xseries.GoalPosition, int64(goalPulses(target))); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	var quiet stillness
	for {
		s, err := r.pollSample(ctx)
		if err != nil {
			return err
		}
		res.FinalAngle, res.FinalError = s.pos, float64(xseries.Diff(s.pos, target))
		if math.Abs(res.FinalError) <= cfg.PlainTolerance {
			res.Success, res.Reason = true, ReasonReached
			return nil
		}
		still := quiet.observe(s)
		// Three quiet samples (300 ms) mean the servo has given up short of
		// the goal: friction inside its deadband. Waiting longer changes
		// nothing, unlike upstream which waited for the full timeout.
		if still >= 3 {
			res.Reason = ReasonOffTarget
			return fmt.Errorf("%w: stopped %.2f° from target (plain_tolerance %.2f°); use precise:true", ErrTimeout, math.Abs(res.FinalError), cfg.PlainTolerance)
		}
		if time.Now().After(deadline) {
			res.Reason = ReasonTimeout
			return fmt.Errorf("%w: %.2f° from target after %s", ErrTimeout, math.Abs(res.FinalError), timeout)
		}
		if err := r.opts.Sleep(ctx, liveInterval); err != nil {
			return err
		}
	}
}

// stillness counts successive samples that show no motion: neither the
// servo's Moving/profile flags nor a position change of a pulse and a half.
type stillness struct {
	n    int
	prev xseries.Degrees
	seen bool
}

func (q *stillness) observe(s sample) int {
	if s.moving || !q.seen || math.Abs(float64(xseries.Diff(q.prev, s.pos))) >= 0.13 {
		q.n = 0
	} else {
		q.n++
	}
	q.prev, q.seen = s.pos, true
	return q.n
}

// goalPulses converts a normalised angle to a mode-3 goal in 0..4095 with
// 4096 pulses per turn (upstream used 4095 and truncated; docs/dynamixel.md §8.5).
func goalPulses(a xseries.Degrees) int32 {
	p := xseries.Normalize(a).Pulses()
	if p >= xseries.PulsesPerRev {
		p -= xseries.PulsesPerRev
	}
	return p
}
