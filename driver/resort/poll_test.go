package resort_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/driver/sim"
)

// A plain move on the default simulator (1.2° deadband, like a loaded
// carousel) reaches its target within plain_tolerance and says how far off
// it ended.
func TestPlainMoveWithinPlainTolerance(t *testing.T) {
	g := newRig(t, sim.Config{})
	g.connect()
	res, err := g.r.MoveToAngle(ctx10(t), 200, false, resort.PreciseOverrides{})
	if err != nil || !res.Success || res.Reason != resort.ReasonReached {
		t.Fatalf("plain move: %v %+v", err, res)
	}
	if e := math.Abs(res.FinalError); e < 0.5 || e > g.cfg.PlainTolerance {
		t.Fatalf("final error %.2f°: want the deadband (~1.2°), within plain_tolerance %.2f°", e, g.cfg.PlainTolerance)
	}
}

// With plain_tolerance as tight as position_tolerance, the same plain move
// stops inside the deadband and is reported off target, never as success.
func TestPlainMoveOffTargetIsNotSuccess(t *testing.T) {
	g := newRig(t, sim.Config{}, func(c *resort.Config) { c.PlainTolerance = c.PositionTolerance })
	g.connect()
	res, err := g.r.MoveToAngle(ctx10(t), 200, false, resort.PreciseOverrides{})
	if !errors.Is(err, resort.ErrTimeout) || res.Success || res.Reason != resort.ReasonOffTarget {
		t.Fatalf("plain move: %v %+v", err, res)
	}
}

// A servo that answers nothing for a few hundred milliseconds in the middle
// of a move (a loaded machine, a slow adapter) does not fail the move; one
// that stays silent does, with the link error, after the poll grace.
func TestMoveSurvivesLatePollsButNotADeadLink(t *testing.T) {
	for _, precise := range []bool{false, true} {
		g := newRig(t, sim.Config{}, func(c *resort.Config) { c.ReadRetries = 0; c.DefaultSpeed = 40 })
		g.connect()
		done := make(chan error, 1)
		var res resort.MoveResult
		go func() {
			var err error
			res, err = g.r.MoveToAngle(ctx10(t), 150, precise, resort.PreciseOverrides{})
			done <- err
		}()
		time.Sleep(150 * time.Millisecond)
		g.servo.SetUnplugged(true)
		time.Sleep(400 * time.Millisecond)
		g.servo.SetUnplugged(false)
		if err := <-done; err != nil || !res.Success {
			t.Fatalf("precise=%v: a 400 ms silence failed the move: %v %+v", precise, err, res)
		}
	}

	g := newRig(t, sim.Config{}, func(c *resort.Config) { c.ReadRetries = 0; c.DefaultSpeed = 20 })
	g.connect()
	done := make(chan error, 1)
	go func() {
		_, err := g.r.MoveToAngle(ctx10(t), 300, false, resort.PreciseOverrides{})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	g.servo.SetUnplugged(true)
	start := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, resort.ErrNoReply) {
			t.Fatalf("dead link: want ErrNoReply, got %v", err)
		}
		if el := time.Since(start); el < time.Second || el > 6*time.Second {
			t.Errorf("dead link failed after %v, want about the 2 s poll grace", el)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("a move on a dead link never ended")
	}
}
