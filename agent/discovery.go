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

func (t *telemetry) discovery() []haEntity {
	id := t.resort.Identity()
	model := "Dynamixel X-series carousel"
	if id.Model != "" {
		model = "carousel on " + id.Model
	}
	dev := map[string]any{
		"identifiers":  []string{"plate-resort-" + t.cfg.Device},
		"name":         "Plate resort " + t.cfg.Device,
		"manufacturer": "plate-resort",
		"model":        model,
		"sw_version":   version(),
	}
	hotels := t.resort.Config().Hotels
	maxSpeed := t.resort.VelocityLimit()
	if maxSpeed <= 0 {
		maxSpeed = 1023
	}
	tp := t.topics
	base := func(name, object string) map[string]any {
		return map[string]any{
			"name":              name,
			"unique_id":         t.cfg.Device + "_" + object,
			"object_id":         t.cfg.Device + "_" + object,
			"device":            dev,
			"origin":            map[string]any{"name": "plate-resort", "sw_version": version()},
			"availability":      []map[string]any{{"topic": tp.Availability()}},
			"availability_mode": "all",
		}
	}
	with := func(m map[string]any, kv ...any) map[string]any {
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	// The select renders 'None' between hotels: HA's MQTT select ignores an
	// empty value (it would keep showing the last hotel) and clears on None.
	entities := []haEntity{
		{"select", "hotel", with(base("Hotel", "hotel"),
			"command_topic", tp.Command(contract.ActivateHotel), "command_template", "{{ value }}",
			"state_topic", tp.State(), "value_template", "{{ value_json.active_hotel if value_json.active_hotel else 'None' }}",
			"options", hotels, "icon", "mdi:rotate-3d-variant")},
		{"sensor", "position", with(base("Position", "position"),
			"state_topic", tp.State(), "value_template", "{{ value_json.position_deg }}",
			"unit_of_measurement", "°", "state_class", "measurement", "icon", "mdi:angle-acute", "suggested_display_precision", 1)},
		{"sensor", "temperature", with(base("Temperature", "temperature"),
			"state_topic", tp.Health(), "value_template", "{{ value_json.temperature_c }}",
			"device_class", "temperature", "unit_of_measurement", "°C", "state_class", "measurement", "entity_category", "diagnostic")},
		{"sensor", "voltage", with(base("Voltage", "voltage"),
			"state_topic", tp.Health(), "value_template", "{{ value_json.voltage_v }}",
			"device_class", "voltage", "unit_of_measurement", "V", "state_class", "measurement", "entity_category", "diagnostic")},
		{"sensor", "current", with(base("Current", "current"),
			"state_topic", tp.Health(), "value_template", "{{ value_json.current_ma }}",
			"device_class", "current", "unit_of_measurement", "mA", "state_class", "measurement", "entity_category", "diagnostic")},
		{"binary_sensor", "moving", with(base("Moving", "moving"),
			"state_topic", tp.State(), "value_template", "{{ 'ON' if value_json.moving else 'OFF' }}", "device_class", "moving")},
		{"binary_sensor", "problem", with(base("Problem", "problem"),
			"state_topic", tp.Health(), "value_template", "{{ 'ON' if value_json.warnings | length > 0 else 'OFF' }}",
			"json_attributes_topic", tp.Health(), "json_attributes_template", "{{ {'warnings': value_json.warnings} | tojson }}",
			"device_class", "problem", "entity_category", "diagnostic")},
		{"binary_sensor", "estop", with(base("Emergency stop latched", "estop"),
			"state_topic", tp.State(), "value_template", "{{ 'ON' if value_json.estop else 'OFF' }}", "device_class", "safety")},
		// No device_class: Home Assistant's "lock" class means on = unlocked.
		{"binary_sensor", "locked", with(base("Locked", "locked"),
			"state_topic", tp.State(), "value_template", "{{ 'ON' if value_json.lock else 'OFF' }}",
			"json_attributes_topic", tp.State(), "json_attributes_template", "{{ (value_json.lock or {}) | tojson }}",
			"icon", "mdi:lock")},
		{"button", "emergency_stop", with(base("Emergency stop", "emergency_stop"),
			"command_topic", tp.Command(contract.EmergencyStop), "payload_press", "{}", "icon", "mdi:alert-octagon")},
		{"button", "go_home", with(base("Go home", "go_home"),
			"command_topic", tp.Command(contract.GoHome), "payload_press", "{}", "icon", "mdi:home")},
		{"button", "reset", with(base("Reset emergency stop", "reset"),
			"command_topic", tp.Command(contract.Reset), "payload_press", "{}", "entity_category", "config")},
		{"number", "speed", with(base("Speed", "speed"),
			"command_topic", tp.Command(contract.SetSpeed), "command_template", "{{ value | int }}",
			"state_topic", tp.State(), "value_template", "{{ value_json.speed }}",
			"min", 1, "max", maxSpeed, "step", 1, "mode", "box", "entity_category", "config")},
	}
	// The entity id: HA 2025.10+ takes default_entity_id and warns about an
	// object_id sent without it (object_id alone stops working in 2026.4);
	// older HA drops the unknown key and takes object_id. Both give
	// <domain>.<device>_<object>.
	for _, e := range entities {
		e.config["default_entity_id"] = e.component + "." + t.cfg.Device + "_" + e.object
	}
	entities = append(entities, deviceTriggers(tp, dev)...) // not entities: no entity id
	return entities
}

// deviceTriggers are Home Assistant device triggers for an emergency stop
// and a fault, fed by the event stream. An MQTT device trigger fires when
// a message on its topic matches payload, after value_template when one is
// given (https://www.home-assistant.io/integrations/device_trigger.mqtt/:
// discovery only, topic <prefix>/device_automation/<node>/<object>/config,
// automation_type trigger, type + subtype unique per device). Every event
// is JSON with its type in "type", so the template picks that field and
// the payload names the one type; the other events on the topic do not
// match. Device triggers have no availability or entity id.
func deviceTriggers(tp contract.Topics, dev map[string]any) []haEntity {
	trigger := func(object, typ, subtype, event string) haEntity {
		return haEntity{"device_automation", object, map[string]any{
			"automation_type": "trigger",
			"topic":           tp.Event(),
			"value_template":  "{{ value_json.type }}",
			"payload":         event,
			"qos":             1,
			"type":            typ,
			"subtype":         subtype,
			"device":          dev,
			"origin":          map[string]any{"name": "plate-resort", "sw_version": version()},
		}}
	}
	return []haEntity{
		trigger("estop_trigger", "emergency_stop", "carousel", contract.EventEStop),
		trigger("fault_trigger", "fault", "servo", contract.EventFault),
	}
}

// DiscoveryTopic is the config topic of one entity.
func (t *telemetry) discoveryTopic(e haEntity) string {
	return contract.HADiscovery(t.cfg.HomeAssistant.Prefix, e.component, t.cfg.Device, e.object)
}

func (t *telemetry) publishDiscovery(ctx context.Context) {
	for _, e := range t.discovery() {
		payload, err := json.Marshal(e.config)
		if err != nil {
			t.log.Error().Err(err).Str("entity", e.object).Msg("discovery not encodable")
			continue
		}
		t.publish(ctx, t.discoveryTopic(e), payload, true)
	}
}
