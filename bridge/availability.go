package bridge

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/buildinfo"
)

// The bridge's own availability on MQTT: retained `online` on
// <prefix>/_bridge/<worker>/availability after every (re)connection,
// `offline` on a clean stop and, through the broker, as the Last Will when
// the bridge vanishes (MQTT 5.0 §3.1.2.5: the server publishes the Will
// when the network connection closes without a DISCONNECT). Prefect already
// sees the worker through its heartbeat (peers.go); this is for everyone
// on MQTT, and for Home Assistant as a connectivity sensor.

func (c Config) availabilityTopic() string {
	return contract.BridgeAvailability(c.Prefix, c.WorkerName)
}

func (c Config) will() *paho.WillMessage {
	return &paho.WillMessage{Retain: true, QoS: 1, Topic: c.availabilityTopic(), Payload: []byte(contract.Offline)}
}

// birth runs on every subscribed connection: online, then discovery.
func (b *Bridge) birth(ctx context.Context, cm *autopaho.ConnectionManager) {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pub := func(topic string, payload []byte) {
		if _, err := cm.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Retain: true, Payload: payload}); err != nil {
			b.log.Warn().Err(err).Str("topic", topic).Msg("publish failed: give the bridge's MQTT user the bridge role (it may publish <prefix>/_bridge/+/availability and its discovery)")
		}
	}
	pub(b.cfg.availabilityTopic(), []byte(contract.Online))
	if b.cfg.HomeAssistant.Enabled {
		topic, payload := b.discovery()
		pub(topic, payload)
	}
}

// goodbye publishes the retained offline before a clean disconnect.
func (b *Bridge) goodbye(ctx context.Context, cm *autopaho.ConnectionManager) {
	if _, err := cm.Publish(ctx, &paho.Publish{Topic: b.cfg.availabilityTopic(), QoS: 1, Retain: true, Payload: []byte(contract.Offline)}); err != nil {
		b.log.Debug().Err(err).Msg("offline not published; the broker publishes the Last Will instead")
	}
}

// haObject is the worker name as a discovery object id: Home Assistant
// allows [a-zA-Z0-9_-] there (https://www.home-assistant.io/integrations/mqtt/#discovery-topic);
// worker names may also hold '.'.
func haObject(worker string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, worker)
}

// discovery is the Home Assistant MQTT discovery config of the bridge's
// connectivity sensor: a binary_sensor whose state is the availability
// topic itself, `online` = on = connected (device class connectivity,
// https://www.home-assistant.io/integrations/binary_sensor.mqtt/ and
// https://developers.home-assistant.io/docs/core/entity/binary-sensor).
// It has no availability of its own: a bridge that is gone must show
// "disconnected", not "unavailable".
func (b *Bridge) discovery() (topic string, payload []byte) {
	obj := haObject(b.cfg.WorkerName)
	slug := strings.ToLower(strings.ReplaceAll(obj, "-", "_"))
	cfg := map[string]any{
		"name":              "Prefect bridge",
		"unique_id":         "plate_resort_bridge_" + obj,
		"object_id":         "plate_resort_bridge_" + slug,
		"default_entity_id": "binary_sensor.plate_resort_bridge_" + slug,
		"state_topic":       b.cfg.availabilityTopic(),
		"payload_on":        contract.Online,
		"payload_off":       contract.Offline,
		"device_class":      "connectivity",
		"entity_category":   "diagnostic",
		"device": map[string]any{
			"identifiers":  []string{"plate-resort-bridge-" + b.cfg.WorkerName},
			"name":         "Plate resort bridge " + b.cfg.WorkerName,
			"manufacturer": "plate-resort",
			"model":        "Prefect worker (MQTT bridge)",
			"sw_version":   buildinfo.Version,
		},
		"origin": map[string]any{"name": "plate-resort", "sw_version": buildinfo.Version},
	}
	payload, _ = json.Marshal(cfg)
	return contract.HABridgeDiscovery(b.cfg.HomeAssistant.Prefix, obj), payload
}
