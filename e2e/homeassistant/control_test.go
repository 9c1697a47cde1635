package homeassistant

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/contract"
)

// testSelectHotel: select.select_option moves the carousel, and the select
// follows the agent's state.
func testSelectHotel(t *testing.T, ha *hass, w *watcher) {
	ha.api.call(t, "select", "select_option", map[string]any{"entity_id": "select.resort_1_hotel", "option": "B"})
	s := waitState(t, w, "the carousel at hotel B", 30*time.Second, func(s contract.State) bool {
		return !s.Moving && s.ActiveHotel != nil && *s.ActiveHotel == "B" && s.PositionDeg != nil
	})
	waitEntity(t, ha, "select.resort_1_hotel", "B")
	waitEntityNear(t, ha, "sensor.resort_1_position", *s.PositionDeg, 0.5)
}

// testBetweenHotels: after a move to an angle no hotel is at, the select
// shows no hotel instead of keeping the last one.
func testBetweenHotels(t *testing.T, ha *hass, w *watcher) {
	w.publish(t, topics.Command(contract.MoveToAngle), "60", false)
	waitState(t, w, "the carousel at 60°, between A and B", 30*time.Second, func(s contract.State) bool {
		return !s.Moving && s.ActiveHotel == nil && s.PositionDeg != nil && math.Abs(*s.PositionDeg-60) < 3
	})
	waitEntityNear(t, ha, "sensor.resort_1_position", 60, 3)
	waitEntity(t, ha, "select.resort_1_hotel", "unknown")
}

// testSpeed: number.set_value sets the speed.
func testSpeed(t *testing.T, ha *hass, w *watcher) {
	waitState(t, w, "speed 300 (agent.yaml)", 10*time.Second, func(s contract.State) bool { return s.Speed == 300 })
	ha.api.call(t, "number", "set_value", map[string]any{"entity_id": "number.resort_1_speed", "value": 200})
	waitState(t, w, "speed 200", 10*time.Second, func(s contract.State) bool { return s.Speed == 200 })
	waitEntityNear(t, ha, "number.resort_1_speed", 200, 0)
}

// testEmergencyStop: the emergency_stop button latches the stop (the
// agent's retained state and HA's binary sensor), a hotel chosen in HA is
// then refused, and reset clears the stop.
func testEmergencyStop(t *testing.T, ha *hass, w *watcher) {
	ha.api.call(t, "button", "press", map[string]any{"entity_id": "button.resort_1_emergency_stop"})
	waitState(t, w, "estop latched", 10*time.Second, func(s contract.State) bool { return s.EStop })
	waitEntity(t, ha, "binary_sensor.resort_1_estop", "on")
	ha.api.call(t, "select", "select_option", map[string]any{"entity_id": "select.resort_1_hotel", "option": "C"})
	eventually(t, 10*time.Second, "activate_hotel C refused with estop_latched", func() bool {
		var r struct {
			Status string `json:"status"`
			Error  *struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		p, _ := w.get(topics.Reply(contract.ActivateHotel))
		return json.Unmarshal([]byte(p), &r) == nil && r.Status == "error" && r.Error != nil && r.Error.Code == string(contract.CodeEStopLatched)
	})
	ha.api.call(t, "button", "press", map[string]any{"entity_id": "button.resort_1_reset"})
	waitState(t, w, "estop cleared", 10*time.Second, func(s contract.State) bool { return !s.EStop })
	waitEntity(t, ha, "binary_sensor.resort_1_estop", "off")
}
