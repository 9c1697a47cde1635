package agent

import (
	"context"
	"encoding/json"

	"github.com/plate-resort/plate-resort/contract"
)

// Home Assistant MQTT discovery (docs/mqtt.md §2): one retained config per
// entity under <ha-prefix>/<component>/<device>/<object>/config, all tied to
// the availability topic and grouped under one device.

type haEntity struct {
	component string
	object    string
	config    map[string]any
}

func (a *Agent) discovery() []haEntity {
	id := a.resort.Identity()
	model := "Dynamixel X-series carousel"
	if id.Model != "" {
		model = "carousel on " + id.Model
	}
	dev := map[string]any{
		"identifiers":  []string{"plate-resort-" + a.cfg.Device},
		"name":         "Plate resort " + a.cfg.Device,
		"manufacturer": "plate-resort",
		"model":        model,
		"sw_version":   version(),
	}
	hotels := a.resort.Config().Hotels
	maxSpeed := a.resort.VelocityLimit()
	if maxSpeed <= 0 {
		maxSpeed = 1023
	}
	t := a.topics
	base := func(name, object string) map[string]any {
		return map[string]any{
			"name":              name,
			"unique_id":         a.cfg.Device + "_" + object,
			"object_id":         a.cfg.Device + "_" + object,
			"device":            dev,
			"origin":            map[string]any{"name": "plate-resort", "sw_version": version()},
			"availability":      []map[string]any{{"topic": t.Availability()}},
			"availability_mode": "all",
		}
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	return []haEntity{
		{"select", "hotel", with(base("Hotel", "hotel"),
			"command_topic", t.Command(contract.ActivateHotel), "command_template", "{{ value }}",
			"state_topic", t.State(), "value_template", "{{ value_json.active_hotel if value_json.active_hotel else '' }}",
			"options", hotels, "icon", "mdi:rotate-3d-variant")},
		{"sensor", "position", with(base("Position", "position"),
			"state_topic", t.State(), "value_template", "{{ value_json.position_deg }}",
			"unit_of_measurement", "°", "state_class", "measurement", "icon", "mdi:angle-acute", "suggested_display_precision", 1)},
		{"sensor", "temperature", with(base("Temperature", "temperature"),
			"state_topic", t.Health(), "value_template", "{{ value_json.temperature_c }}",
			"device_class", "temperature", "unit_of_measurement", "°C", "state_class", "measurement", "entity_category", "diagnostic")},
		{"sensor", "voltage", with(base("Voltage", "voltage"),
			"state_topic", t.Health(), "value_template", "{{ value_json.voltage_v }}",
			"device_class", "voltage", "unit_of_measurement", "V", "state_class", "measurement", "entity_category", "diagnostic")},
		{"sensor", "current", with(base("Current", "current"),
			"state_topic", t.Health(), "value_template", "{{ value_json.current_ma }}",
			"device_class", "current", "unit_of_measurement", "mA", "state_class", "measurement", "entity_category", "diagnostic")},
		{"binary_sensor", "moving", with(base("Moving", "moving"),
			"state_topic", t.State(), "value_template", "{{ 'ON' if value_json.moving else 'OFF' }}", "device_class", "moving")},
		{"binary_sensor", "problem", with(base("Problem", "problem"),
			"state_topic", t.Health(), "value_template", "{{ 'ON' if value_json.warnings | length > 0 else 'OFF' }}",
			"json_attributes_topic", t.Health(), "json_attributes_template", "{{ {'warnings': value_json.warnings} | tojson }}",
			"device_class", "problem", "entity_category", "diagnostic")},
		{"binary_sensor", "estop", with(base("Emergency stop latched", "estop"),
			"state_topic", t.State(), "value_template", "{{ 'ON' if value_json.estop else 'OFF' }}", "device_class", "safety")},
		{"button", "emergency_stop", with(base("Emergency stop", "emergency_stop"),
			"command_topic", t.Command(contract.EmergencyStop), "payload_press", "{}", "icon", "mdi:alert-octagon")},
		{"button", "go_home", with(base("Go home", "go_home"),
			"command_topic", t.Command(contract.GoHome), "payload_press", "{}", "icon", "mdi:home")},
		{"button", "reset", with(base("Reset emergency stop", "reset"),
			"command_topic", t.Command(contract.Reset), "payload_press", "{}", "entity_category", "config")},
		{"number", "speed", with(base("Speed", "speed"),
			"command_topic", t.Command(contract.SetSpeed), "command_template", "{{ value | int }}",
			"state_topic", t.State(), "value_template", "{{ value_json.speed }}",
			"min", 1, "max", maxSpeed, "step", 1, "mode", "box", "entity_category", "config")},
	}
}

// DiscoveryTopic is the config topic of one entity.
func (a *Agent) discoveryTopic(e haEntity) string {
	return contract.HADiscovery(a.cfg.HomeAssistant.Prefix, e.component, a.cfg.Device, e.object)
}

func (a *Agent) publishDiscovery(ctx context.Context) {
	for _, e := range a.discovery() {
		payload, err := json.Marshal(e.config)
		if err != nil {
			a.log.Error().Err(err).Str("entity", e.object).Msg("discovery not encodable")
			continue
		}
		a.publish(ctx, a.discoveryTopic(e), payload, true)
	}
}
