package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/plate-resort/plate-resort/driver/resort"
)

// HealthReport is the retained <base>/health payload and get_health's result.
type HealthReport struct {
	TemperatureC  *float64                    `json:"temperature_c"`
	VoltageV      *float64                    `json:"voltage_v"`
	CurrentMA     *float64                    `json:"current_ma"`
	HardwareError *resort.HardwareErrorReport `json:"hardware_error"`
	Warnings      []string                    `json:"warnings"`
	Serial        resort.Link                 `json:"serial"`
	Servo         *resort.Identity            `json:"servo"`
	Agent         AgentHealth                 `json:"agent"`
	ReadAt        time.Time                   `json:"read_at"`
}

// AgentHealth is the agent's own part of health.
type AgentHealth struct {
	Version  string   `json:"version"`
	UptimeS  float64  `json:"uptime_s"`
	Commands Counters `json:"commands"`
}

// healthReport reads the servo (when connected) and assembles the report.
// A failing servo read is a warning in the report, not a failed report:
// the link part is exactly what a user needs then.
func (a *Agent) healthReport(ctx context.Context) (HealthReport, error) {
	rep := HealthReport{
		Warnings: []string{}, Serial: a.resort.Link(), ReadAt: time.Now().UTC(),
		Agent: AgentHealth{Version: version(), UptimeS: time.Since(a.started).Round(time.Second).Seconds(), Commands: a.counterSnapshot()},
	}
	if !a.resort.Connected() {
		if a.resort.Opened() {
			rep.Warnings = append(rep.Warnings, "serial link down: "+rep.Serial.Port+" is not answering; reconnecting")
		} else {
			rep.Warnings = append(rep.Warnings, "servo not connected")
		}
		return rep, nil
	}
	id := a.resort.Identity()
	rep.Servo = &id
	h, err := a.resort.Health(ctx)
	if err != nil {
		rep.Warnings = append(rep.Warnings, "health read failed: "+err.Error())
		rep.Serial = a.resort.Link()
		return rep, nil
	}
	rep.TemperatureC, rep.VoltageV, rep.CurrentMA = &h.TemperatureC, &h.VoltageV, h.CurrentMA
	rep.HardwareError = &h.HardwareError
	rep.Warnings = append(rep.Warnings, h.Warnings...)
	rep.Serial = a.resort.Link()
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
		a.publish(ctx, a.topics.Health, payload, true)
	}
}
