package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
)

// healthReader assembles the health report. Telemetry publishes it and the
// command service answers get_health and reboot with it, so it is its own
// small part that both are given.
type healthReader struct {
	resort   *resort.Resort
	started  time.Time
	counters func() contract.Counters
	last     atomic.Pointer[contract.Health] // the last report, for metrics
}

// lastReport is the last health report read (nil before the first).
func (h *healthReader) lastReport() *contract.Health { return h.last.Load() }

// read reads the servo (when connected) and assembles the report. A
// failing servo read is a warning in the report, not a failed report: the
// link part is exactly what a user needs then.
func (h *healthReader) read(ctx context.Context) (rep contract.Health, _ error) {
	defer func() { h.last.Store(&rep) }()
	rep = contract.Health{
		Warnings: []string{}, Serial: serialLink(h.resort.Link()), ReadAt: time.Now().UTC(),
		Agent: contract.AgentHealth{Version: version(), UptimeS: time.Since(h.started).Round(time.Second).Seconds(), Commands: h.counters()},
	}
	if !h.resort.Connected() {
		if h.resort.Opened() {
			rep.Warnings = append(rep.Warnings, "serial link down: "+rep.Serial.Port+" is not answering; reconnecting")
		} else {
			rep.Warnings = append(rep.Warnings, "servo not connected")
		}
		return rep, nil
	}
	rep.Servo = ptr(servoInfo(h.resort.Identity()))
	s, err := h.resort.Health(ctx)
	if err != nil {
		rep.Warnings = append(rep.Warnings, "health read failed: "+err.Error())
		rep.Serial = serialLink(h.resort.Link())
		return rep, nil
	}
	rep.TemperatureC, rep.VoltageV, rep.CurrentMA = &s.TemperatureC, &s.VoltageV, s.CurrentMA
	rep.HardwareError = hardwareError(s.HardwareError)
	rep.Warnings = append(rep.Warnings, s.Warnings...)
	rep.Serial = serialLink(h.resort.Link())
	return rep, nil
}

// healthLoop publishes health every HealthInterval and whenever warnings or
// the link state change.
func (t *telemetry) healthLoop(ctx context.Context) {
	tick := time.NewTicker(t.cfg.HealthInterval)
	defer tick.Stop()
	var lastKey []byte
	var last contract.Health
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-t.live.health:
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		rep, _ := t.health(hctx)
		cancel()
		key, _ := json.Marshal(struct {
			W []string
			C bool
			H any
		}{rep.Warnings, rep.Serial.Connected, rep.HardwareError})
		// Published either way; the key only decides whether to log a change.
		if !bytes.Equal(key, lastKey) && lastKey != nil {
			t.log.Info().Strs("warnings", rep.Warnings).Bool("serial_connected", rep.Serial.Connected).Msg("health changed")
		}
		lastKey = key
		for _, ev := range healthEvents(last, rep) {
			t.event(ev)
		}
		last = rep
		payload, _ := json.Marshal(rep)
		t.publish(ctx, t.topics.Health(), payload, true)
		t.healthStamp.Touch() // liveness (metrics.go)
	}
}
