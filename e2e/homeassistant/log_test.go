package homeassistant

import (
	"strings"
	"testing"
)

// testLog: HA's log shows it processed the agent's discovery, with no
// deprecation of, and no warning or error about, the agent's payloads.
func testLog(t *testing.T, ha *hass) {
	logs := ha.logs(t)
	for _, id := range entities {
		domain, object, _ := strings.Cut(id, ".")
		found := "Found new component: " + domain + " " + device + " " + strings.TrimPrefix(object, "resort_1_") + " from external application plate-resort"
		if !strings.Contains(logs, found) {
			t.Errorf("HA's log lacks %q", found)
		}
	}
	for _, line := range strings.Split(logs, "\n") {
		l := strings.ToLower(line)
		ours := strings.Contains(l, "resort-1") || strings.Contains(l, "resort_1") || strings.Contains(l, "plate-resort")
		switch {
		case strings.Contains(l, "deprecat") && (ours || strings.Contains(l, "mqtt")):
			t.Errorf("deprecation in HA's log: %s", line)
		case ours && (strings.Contains(line, " ERROR ") || strings.Contains(line, " WARNING ")):
			t.Errorf("HA complains about the agent: %s", line)
		}
	}
	if t.Failed() {
		t.Logf("home-assistant.log:\n%s", tail(logs, 20000))
	}
}
