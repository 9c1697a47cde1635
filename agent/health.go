package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/plate-resort/plate-resort/contract"
)

// healthReport reads the servo (when connected) and assembles the report.
// A failing servo read is a warning in the report, not a failed report:
// the link part is exactly what a user needs then.
func (a *Agent) healthReport(ctx context.Context) (contract.Health, error) {
	rep := contract.Health{
		Warnings: []string{}, Serial: serialLink(a.resort.Link()), ReadAt: time.Now().UTC(),
		Agent: contract.AgentHealth{Version: version(), UptimeS: time.Since(a.started).Round(time.Second).Seconds(), Commands: a.counterSnapshot()},
	}
	if !a.resort.Connected() {
		if a.resort.Opened() {
			rep.Warnings = append(rep.Warnings, "serial link down: "+rep.Serial.Port+" is not answering; reconnecting")
		} else {
			rep.Warnings = append(rep.Warnings, "servo not connected")
		}
		return rep, nil
	}
	rep.Servo = ptr(servoInfo(a.resort.Identity()))
	h, err := a.resort.Health(ctx)
	if err != nil {
		rep.Warnings = append(rep.Warnings, "health read failed: "+err.Error())
		rep.Serial = serialLink(a.resort.Link())
		return rep, nil
	}
	rep.TemperatureC, rep.VoltageV, rep.CurrentMA = &h.TemperatureC, &h.VoltageV, h.CurrentMA
	rep.HardwareError = hardwareError(h.HardwareError)
	rep.Warnings = append(rep.Warnings, h.Warnings...)
	rep.Serial = serialLink(a.resort.Link())
	return rep, nil
}

// healthLoop publishes health every HealthInterval and whenever warnings or
// the link state change.
func (a *Agent) healthLoop(ctx context.Context) {
	t := time.NewTicker(a.cfg.HealthInterval)
	defer t.Stop()
	var lastKey []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.healthKick:
		}
		hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		rep, _ := a.healthReport(hctx)
		cancel()
		key, _ := json.Marshal(struct {
			W []string
			C bool
			H any
		}{rep.Warnings, rep.Serial.Connected, rep.HardwareError})
		_ = bytes.Equal(key, lastKey) // published either way; key kept for change logs
		if !bytes.Equal(key, lastKey) && lastKey != nil {
			a.log.Info().Strs("warnings", rep.Warnings).Bool("serial_connected", rep.Serial.Connected).Msg("health changed")
		}
		lastKey = key
		payload, _ := json.Marshal(rep)
		a.publish(ctx, a.topics.Health(), payload, true)
	}
}
