package homeassistant

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/contract"
)

// testRestart: HA restarted with the retained discovery gone gets every
// entity back from the agent, which answers HA's homeassistant/status
// "online" with its discovery.
func testRestart(t *testing.T, ha *hass, w *watcher) {
	ha.stop(t)
	var configs []string
	for _, id := range entities {
		domain, object, _ := strings.Cut(id, ".")
		tp := contract.HADiscovery(contract.DefaultHAPrefix, domain, device, strings.TrimPrefix(object, "resort_1_"))
		configs = append(configs, tp)
		w.publish(t, tp, "", true) // an empty retained message deletes the retained one
	}
	eventually(t, 10*time.Second, "the retained discovery deleted", func() bool {
		for _, tp := range configs {
			if p, _ := w.get(tp); p != "" {
				return false
			}
		}
		return true
	})
	births := w.messages(contract.HAStatus(contract.DefaultHAPrefix))
	ha.start(t)
	ha.api.refresh(t)
	ha.waitRunning(t)
	eventually(t, 30*time.Second, `homeassistant/status "online" from the restarted HA`, func() bool {
		p, _ := w.get(contract.HAStatus(contract.DefaultHAPrefix))
		return w.messages(contract.HAStatus(contract.DefaultHAPrefix)) > births && p == "online"
	})
	eventually(t, 30*time.Second, "the agent's discovery published again", func() bool {
		for _, tp := range configs {
			if p, _ := w.get(tp); !strings.HasPrefix(p, "{") {
				return false
			}
		}
		return true
	})
	waitAllAvailable(t, ha, true)
	st := ha.api.states(t)
	if _, err := strconv.ParseFloat(st["sensor.resort_1_position"].State, 64); err != nil {
		t.Errorf("position after the restart %q", st["sensor.resort_1_position"].State)
	}
}
