package homeassistant

import (
	"testing"
)

// testAvailability: a clean stop (the agent's own offline) and a crash (the
// broker's Last Will) both make every entity unavailable; a start makes
// them available again.
func testAvailability(t *testing.T, ha *hass, w *watcher, ag *agentProc) {
	ag.stop(t)
	waitAvailability(t, w, "offline")
	waitAllAvailable(t, ha, false)
	ag.start(t)
	waitAvailability(t, w, "online")
	waitAllAvailable(t, ha, true)

	ag.kill(t) // no DISCONNECT: the connection just closes
	waitAvailability(t, w, "offline")
	waitAllAvailable(t, ha, false)
	ag.start(t)
	waitAvailability(t, w, "online")
	waitAllAvailable(t, ha, true)
}
