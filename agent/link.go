package agent

import (
	"context"
	"time"
)

// linkLoop keeps the serial link up: while the agent should be connected
// and the port is gone (unplugged adapter, servo not powered at start), it
// retries with backoff, and tells health and state when the link flips.
// Reconnecting never clears a latched emergency stop.
func (a *Agent) linkLoop(ctx context.Context) {
	delay := a.cfg.ReconnectInterval
	was := a.resort.Connected()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		up := a.resort.Connected()
		if up != was {
			a.log.Info().Bool("serial_connected", up).Msg("serial link changed")
			a.kick(a.healthKick)
			a.kick(a.stateKick)
			if up {
				a.servoIdentified(ctx)
			}
			was = up
		}
		if up && a.resort.EStopped() {
			// An e-stop whose torque-off never got an answer is repeated
			// until the servo confirms it.
			ectx, cancel := context.WithTimeout(ctx, time.Second)
			if err := a.resort.EnforceEStop(ectx); err != nil {
				a.log.Warn().Err(err).Msg("latched e-stop: torque not confirmed off yet")
			}
			cancel()
		}
		if up || !a.wantConnected.Load() {
			delay = a.cfg.ReconnectInterval
			continue
		}
		if r, _ := a.exec.busy(); r != nil {
			// Let the running command fail on its own first: reopening the
			// port under a move would re-home its goal mid-way.
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		var err error
		if a.resort.Opened() {
			err = a.resort.Reconnect(cctx)
		} else {
			o := *a.connectOpts.Load()
			o.KeepEStop = true
			_, err = a.resort.Connect(cctx, o)
		}
		cancel()
		if err != nil {
			a.log.Debug().Err(err).Dur("retry_in", delay).Msg("serial reconnect failed")
			delay = min(delay*2, 10*time.Second)
			continue
		}
		a.log.Info().Msg("serial link restored")
		delay = a.cfg.ReconnectInterval
	}
}

// servoIdentified republishes what depends on the servo's identity (model,
// velocity limit): info and Home Assistant discovery.
func (a *Agent) servoIdentified(ctx context.Context) {
	a.rebuildCatalog()
	go func() {
		a.publishInfo(ctx)
		if a.cfg.HomeAssistant.Enabled {
			a.publishDiscovery(ctx)
		}
	}()
}
