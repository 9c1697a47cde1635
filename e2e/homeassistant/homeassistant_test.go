package homeassistant

import (
	"net"
	"strconv"
	"testing"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// The device and the entities its discovery declares (agent/discovery.go),
// by the entity ids HA gives them: <domain>.<device>_<object>, with the
// device id's "-" slugified to "_".
const device = "resort-1"

var entities = []string{
	"select.resort_1_hotel",
	"sensor.resort_1_position", "sensor.resort_1_temperature", "sensor.resort_1_voltage", "sensor.resort_1_current",
	"binary_sensor.resort_1_moving", "binary_sensor.resort_1_problem", "binary_sensor.resort_1_estop", "binary_sensor.resort_1_locked",
	"button.resort_1_emergency_stop", "button.resort_1_go_home", "button.resort_1_reset",
	"number.resort_1_speed",
}

var topics = contract.DeviceTopics("plate-resort", device)

// TestHomeAssistant runs one Home Assistant Core against the embedded broker
// and `plate-resort agent` with the simulated servo; the subtests share it
// (HA takes seconds to start) and run in order, each leaving the carousel
// online and idle.
func TestHomeAssistant(t *testing.T) {
	bin := needHass(t)
	addr := startBroker(t)
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portStr)
	w := newWatcher(t, addr, topics.All(), "homeassistant/#")

	// HA boots while the agent is built and started.
	ha := newHass(t, bin)
	ag := newAgent(t, testenv.PlateResort(t), addr, startServo(t))
	ag.start(t)
	waitAvailability(t, w, "online")
	ha.waitListening(t)
	ha.api.onboard(t)
	ha.waitRunning(t)
	ha.api.setupMQTT(t, host, port)

	t.Run("discovery", func(t *testing.T) { testDiscovery(t, ha) })
	t.Run("select_hotel", func(t *testing.T) { testSelectHotel(t, ha, w) })
	t.Run("between_hotels", func(t *testing.T) { testBetweenHotels(t, ha, w) })
	t.Run("speed", func(t *testing.T) { testSpeed(t, ha, w) })
	t.Run("emergency_stop", func(t *testing.T) { testEmergencyStop(t, ha, w) })
	t.Run("device_triggers", func(t *testing.T) { testDeviceTriggers(t, ha, w) })
	t.Run("availability", func(t *testing.T) { testAvailability(t, ha, w, ag) })
	t.Run("ha_restart", func(t *testing.T) { testRestart(t, ha, w) })
	t.Run("log", func(t *testing.T) { testLog(t, ha) })
}
