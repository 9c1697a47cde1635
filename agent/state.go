package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/plate-resort/plate-resort/contract"
)

func isMove(cmd string) bool {
	return cmd == contract.ActivateHotel || cmd == contract.GoHome || cmd == contract.MoveToAngle
}

func (t *telemetry) snapshot() contract.State {
	running, queued := t.status.busy()
	pos, target := t.live.read()
	s := contract.State{
		Connected: t.resort.Connected(), Torque: t.resort.Torque(), Speed: t.resort.Speed(),
		EStop: t.resort.EStopped(), Queue: queued, Target: target, Lock: t.status.lockState(),
	}
	if pos != nil {
		s.PositionDeg = ptr(degrees(*pos))
		if h := t.resort.Config().HotelAt(*pos); h != "" {
			s.ActiveHotel = &h
		}
	}
	if running != nil {
		b := &contract.Busy{Command: running.req.Command, StartedAt: running.started.UTC()}
		if running.req.ID != "" {
			b.ID = idPtr(running.req.ID)
		}
		s.Busy = b
		s.Moving = isMove(running.req.Command)
	}
	return s
}

// stateLoop publishes state on change, at MovingStateInterval while a move
// runs (≥ 5 Hz), and re-reads an idle carousel's position every
// StateInterval (someone may turn it by hand with torque off).
func (t *telemetry) stateLoop(ctx context.Context) {
	// The fast ticker runs only while a move runs: a move starts with a
	// state change (the executor's and the driver's wake-ups), and an idle
	// agent then sleeps between StateInterval re-reads instead of waking
	// ten times a second, which adds up in a fleet.
	fast := time.NewTicker(t.cfg.MovingStateInterval)
	fast.Stop()
	defer fast.Stop()
	fastOn := false
	idle := time.NewTicker(t.cfg.StateInterval)
	defer idle.Stop()
	var last []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.live.state:
		case <-fast.C:
			if s := t.snapshot(); !s.Moving {
				fast.Stop()
				fastOn = false
				continue
			}
		case <-idle.C:
			if r, _ := t.status.busy(); r == nil && t.resort.Connected() {
				rctx, cancel := context.WithTimeout(ctx, time.Second)
				if pos, err := t.resort.Position(rctx); err == nil {
					t.live.observe(pos, false)
				}
				cancel()
			}
			continue
		}
		s := t.snapshot()
		if s.Moving && !fastOn {
			fast.Reset(t.cfg.MovingStateInterval)
			fastOn = true
		}
		cmp, _ := json.Marshal(s)
		force := t.live.force.Swap(false)
		if !force && !s.Moving && bytes.Equal(cmp, last) {
			continue
		}
		last = cmp
		s.UpdatedAt = time.Now().UTC().Format(time.RFC3339Nano)
		payload, _ := json.Marshal(s)
		if err := t.publish(ctx, t.topics.State(), payload, true); err != nil {
			// Not out (the connection was lost under it): the next wake-up
			// publishes even an unchanged state, or a broker taken over
			// after a failover would be left without one.
			last = nil
		}
	}
}
