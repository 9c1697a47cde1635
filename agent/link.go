package agent

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
)

// wish is the serial connection asked for (connect_on_start, connect,
// disconnect), which the link supervisor keeps up.
type wish struct {
	on   atomic.Bool
	opts atomic.Pointer[resort.ConnectOptions]
}

func newWish() *wish {
	w := &wish{}
	w.opts.Store(&resort.ConnectOptions{})
	return w
}

// want asks for the link with o; drop gives it up.
func (w *wish) want(o resort.ConnectOptions) {
	w.opts.Store(&o)
	w.on.Store(true)
}

func (w *wish) drop() { w.on.Store(false) }

// linkService is what the link supervisor needs from the command service.
type linkService interface {
	busy() (running *job, queued int)
	servoIdentified()
}

type linkDeps struct {
	log      zerolog.Logger
	interval time.Duration // first delay between reopen attempts
	resort   *resort.Resort
	wish     *wish
	service  linkService
	notify   notifier
	event    func(contract.Event) // events.go: link_down, link_up
}

// link is the serial link supervisor.
type link struct{ linkDeps }

// connectAtStart opens the servo once at start (connect_on_start); if it
// does not answer yet, loop keeps trying in the background.
func (l *link) connectAtStart(ctx context.Context) {
	l.wish.want(resort.ConnectOptions{})
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if res, err := l.resort.Connect(cctx, resort.ConnectOptions{}); err != nil {
		l.log.Warn().Err(err).Msg("servo not connected yet; retrying in the background")
	} else {
		l.log.Info().Str("model", res.Model).Int("firmware", res.Firmware).Float64("position_deg", float64(res.Position)).Msg("servo connected")
	}
}

// loop keeps the serial link up: while the agent should be connected and
// the port is gone (unplugged adapter, servo not powered at start), it
// retries with backoff, and tells health and state when the link flips.
// Reconnecting never clears a latched emergency stop.
func (l *link) loop(ctx context.Context) {
	delay := l.interval
	was := l.resort.Connected()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		up := l.resort.Connected()
		if up != was {
			l.log.Info().Bool("serial_connected", up).Msg("serial link changed")
			l.linkEvent(up)
			l.notify.healthChanged()
			l.notify.stateChanged()
			if up {
				l.service.servoIdentified()
			}
			was = up
		}
		if up && l.resort.EStopped() {
			// An e-stop whose torque-off never got an answer is repeated
			// until the servo confirms it.
			ectx, cancel := context.WithTimeout(ctx, time.Second)
			if err := l.resort.EnforceEStop(ectx); err != nil {
				l.log.Warn().Err(err).Msg("latched e-stop: torque not confirmed off yet")
			}
			cancel()
		}
		if up || !l.wish.on.Load() {
			delay = l.interval
			continue
		}
		if r, _ := l.service.busy(); r != nil {
			// Let the running command fail on its own first: reopening the
			// port under a move would re-home its goal mid-way.
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		var err error
		if l.resort.Opened() {
			err = l.resort.Reconnect(cctx)
		} else {
			o := *l.wish.opts.Load()
			o.KeepEStop = true
			_, err = l.resort.Connect(cctx, o)
		}
		cancel()
		if err != nil {
			l.log.Debug().Err(err).Dur("retry_in", delay).Msg("serial reconnect failed")
			delay = min(delay*2, 10*time.Second)
			continue
		}
		l.log.Info().Msg("serial link restored")
		delay = l.interval
	}
}

// linkEvent reports a serial link change as an event.
func (l *link) linkEvent(up bool) {
	ev := contract.Event{Type: contract.EventLinkDown, Message: l.resort.Link().Port + " is not answering"}
	if up {
		ev = contract.Event{Type: contract.EventLinkUp, Message: l.resort.Link().Port + " answers again"}
	}
	l.event(ev)
}
