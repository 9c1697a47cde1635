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

func (a *Agent) snapshot() contract.State {
	running, queued := a.exec.busy()
	a.liveMu.Lock()
	pos, target := a.livePos, a.target
	a.liveMu.Unlock()
	s := contract.State{
		Connected: a.resort.Connected(), Torque: a.resort.Torque(), Speed: a.resort.Speed(),
		EStop: a.resort.EStopped(), Queue: queued, Target: target,
	}
	if pos != nil {
		s.PositionDeg = ptr(degrees(*pos))
		if h := a.resort.Config().HotelAt(*pos); h != "" {
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
func (a *Agent) stateLoop(ctx context.Context) {
	fast := time.NewTicker(a.cfg.MovingStateInterval)
	defer fast.Stop()
	idle := time.NewTicker(a.cfg.StateInterval)
	defer idle.Stop()
	var last []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.stateKick:
		case <-fast.C:
			if s := a.snapshot(); !s.Moving {
				continue
			}
		case <-idle.C:
			if r, _ := a.exec.busy(); r == nil && a.resort.Connected() {
				rctx, cancel := context.WithTimeout(ctx, time.Second)
				if pos, err := a.resort.Position(rctx); err == nil {
					a.observe(pos, false)
				}
				cancel()
			}
			continue
		}
		s := a.snapshot()
		cmp, _ := json.Marshal(s)
		force := a.forceState.Swap(false)
		if !force && !s.Moving && bytes.Equal(cmp, last) {
			continue
		}
		last = cmp
		s.UpdatedAt = time.Now().UTC().Format(time.RFC3339Nano)
		payload, _ := json.Marshal(s)
		a.publish(ctx, a.topics.State(), payload, true)
	}
}
