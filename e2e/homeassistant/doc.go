// Package homeassistant is the end-to-end test of the agent with a real
// Home Assistant Core as its client: HA discovers the carousel over MQTT,
// shows its state and controls it through its own services.
//
// It runs the pinned HA Core from .ci/requirements-homeassistant.txt:
//
//	./.ci/ha-venv.sh .cache/ha-venv
//	PLATE_RESORT_TEST_HASS=$PWD/.cache/ha-venv/bin/hass go test ./e2e/homeassistant/
//
// Without hass the test is skipped, unless PLATE_RESORT_REQUIRE_E2E=1 (CI)
// makes that a failure. HA runs with --skip-pip on loopback only and needs
// no network.
package homeassistant
