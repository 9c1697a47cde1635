package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/plate-resort/plate-resort/contract"
)

// State is the retained <base>/state payload.
type State struct {
	Connected   bool     `json:"connected"`
	Torque      bool     `json:"torque"`
	Moving      bool     `json:"moving"`
	PositionDeg *float64 `json:"position_deg"`
	ActiveHotel *string  `json:"active_hotel"`
	Target      *Target  `json:"target"`
	Speed       int      `json:"speed"`
	EStop       bool     `json:"estop"`
	Busy        *Busy    `json:"busy"`
	Queue       int      `json:"queue"`
	UpdatedAt   string   `json:"updated_at"`
}

// Busy names the command running now.
type Busy struct {
	ID        *string   `json:"id"`
	Command   string    `json:"command"`
	StartedAt time.Time `json:"started_at"`
}

func isMove(cmd string) bool {
	return cmd == contract.ActivateHotel || cmd == contract.GoHome || cmd == contract.MoveToAngle
}

func (a *Agent) snapshot() State {
	running, queued := a.exec.busy()
	a.liveMu.Lock()
	pos, target := a.livePos, a.target
	a.liveMu.Unlock()
	s := State{
		Connected: a.resort.Connected(), Torque: a.resort.Torque(), Speed: a.resort.Speed(),
		EStop: a.resort.EStopped(), Queue: queued, Target: target,
	}
	if pos != nil {
		p := round2(float64(*pos))
		s.PositionDeg = &p
		if h := a.resort.Config().HotelAt(*pos); h != "" {
			s.ActiveHotel = &h
		}
	}
	if running != nil {
		b := &Busy{Command: running.req.Command, StartedAt: running.started.UTC()}
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
		a.publish(ctx, a.topics.State, payload, true)
	}
}
