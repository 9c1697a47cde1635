package bridge

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// The bridge's Home Assistant sensor is a connectivity binary_sensor fed by
// its own retained availability, under the _bridge discovery node that no
// device id can name; a '.' in the worker name becomes '_'.
func TestBridgeDiscovery(t *testing.T) {
	c := Defaults()
	c.Prefect.APIURL = "http://127.0.0.1:1/api"
	c.WorkerName = "lab-pc.bridge"
	b, err := New(c, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	topic, payload := b.discovery()
	if topic != "homeassistant/binary_sensor/_bridge/lab-pc_bridge/config" {
		t.Fatalf("topic %s", topic)
	}
	var m map[string]any
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"state_topic": "plate-resort/_bridge/lab-pc.bridge/availability", "payload_on": "online", "payload_off": "offline",
		"device_class": "connectivity", "unique_id": "plate_resort_bridge_lab-pc_bridge",
		"default_entity_id": "binary_sensor.plate_resort_bridge_lab_pc_bridge",
	} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if _, has := m["availability"]; has {
		t.Error("the connectivity sensor must not go unavailable with the bridge: it shows off")
	}
	if w := c.will(); string(w.Payload) != "offline" || !w.Retain || w.Topic != "plate-resort/_bridge/lab-pc.bridge/availability" {
		t.Errorf("will %+v", w)
	}
}

func TestBridgeConfigRefusesBadHTTP(t *testing.T) {
	for key, mut := range map[string]func(*Config){
		"http.address":  func(c *Config) { c.HTTP.Address = "localhost" },
		"http.metrics":  func(c *Config) { c.HTTP.Metrics = true },
		"stall_after":   func(c *Config) { c.StallAfter = c.PollInterval },
		"homeassistant": func(c *Config) { c.HomeAssistant.Prefix = "a/#" },
	} {
		c := Defaults()
		c.Prefect.APIURL = "http://127.0.0.1:1/api"
		mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v", key, err)
		}
	}
}
