package homeassistant

import (
	"encoding/json"
	"slices"
	"strconv"
	"testing"
	"time"
)

// testDiscovery: every entity exists, all under one device, with plausible
// states.
func testDiscovery(t *testing.T, ha *hass) {
	var st map[string]state
	eventually(t, 30*time.Second, "every discovered entity available in HA", func() bool {
		st = ha.api.states(t)
		for _, id := range entities {
			if s, ok := st[id]; !ok || s.State == "unavailable" {
				return false
			}
		}
		return true
	})
	// The device registry, through templates: one device holds all of
	// them, and nothing else.
	var ids []*string
	list, _ := json.Marshal(entities)
	if err := json.Unmarshal([]byte(ha.api.template(t, "{{ "+string(list)+" | map('device_id') | list | tojson }}")), &ids); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if id == nil || *id != *ids[0] {
			t.Fatalf("%s is not on the device of %s: device ids %v", entities[i], entities[0], deref(ids))
		}
	}
	dev := *ids[0]
	var onDevice []string
	if err := json.Unmarshal([]byte(ha.api.template(t, "{{ device_entities('"+dev+"') | tojson }}")), &onDevice); err != nil {
		t.Fatal(err)
	}
	slices.Sort(onDevice)
	want := slices.Sorted(slices.Values(entities))
	if !slices.Equal(onDevice, want) {
		t.Errorf("device entities:\n got %v\nwant %v", onDevice, want)
	}
	for attr, want := range map[string]string{"name": "Plate resort " + device, "manufacturer": "plate-resort"} {
		if got := ha.api.template(t, "{{ device_attr('"+dev+"', '"+attr+"') }}"); got != want {
			t.Errorf("device %s = %q, want %q", attr, got, want)
		}
	}
	for _, id := range []string{"sensor.resort_1_position", "sensor.resort_1_temperature", "sensor.resort_1_voltage", "sensor.resort_1_current", "number.resort_1_speed"} {
		if _, err := strconv.ParseFloat(st[id].State, 64); err != nil {
			t.Errorf("%s = %q, want a number", id, st[id].State)
		}
	}
	if u := st["sensor.resort_1_temperature"].Attributes["unit_of_measurement"]; u != "°C" {
		t.Errorf("temperature unit %v", u)
	}
	for _, id := range []string{"binary_sensor.resort_1_moving", "binary_sensor.resort_1_estop", "binary_sensor.resort_1_problem"} {
		if s := st[id].State; s != "on" && s != "off" {
			t.Errorf("%s = %q, want on or off", id, s)
		}
	}
	if s := st["binary_sensor.resort_1_estop"].State; s != "off" {
		t.Errorf("estop %q at start", s)
	}
	opts, _ := json.Marshal(st["select.resort_1_hotel"].Attributes["options"])
	if string(opts) != `["A","B","C","D"]` {
		t.Errorf("hotel options %s", opts)
	}
}

func deref(ids []*string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		if id != nil {
			out[i] = *id
		}
	}
	return out
}
