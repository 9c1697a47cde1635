package broker

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

// Retained state and a persistent session's queued message survive a
// broker restart on the same bolt file.
func TestRetainedAndSessionSurviveRestart(t *testing.T) {
	cfg := productionConfig(t)
	cfg.Storage.Path = filepath.Join(t.TempDir(), "broker.db")

	b1, _ := startBroker(t, cfg)
	h, p := hostPort(t, b1.TCPAddr())
	state := `{"active_hotel":"B","position_deg":90}`
	if out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append([]string{"-h", h, "-p", p, "-q", "1", "-r",
		"-t", "plate-resort/resort-1/state", "-m", state}, creds("agent1")...)...); err != nil {
		t.Fatalf("publish state: %v %s", err, out)
	}
	// A persistent MQTT 5 session (-c, expiry 1 h) subscribes, then goes away.
	sess := []string{"-h", h, "-p", p, "-V", "mqttv5", "-c", "-x", "3600", "-q", "1",
		"-t", "plate-resort/resort-1/cmd/#", "-v"}
	sess = append(sess, creds("agent1")...)
	wait := startSub(t, b1, "agent-session", append(sess, "-W", "1")...)
	_, _ = wait()
	if out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append([]string{"-h", h, "-p", p, "-q", "1",
		"-t", "plate-resort/resort-1/cmd/get_health", "-m", "queued"}, creds("alice")...)...); err != nil {
		t.Fatalf("publish while offline: %v %s", err, out)
	}
	if err := b1.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	cfg.Listeners.TCP.Address = b1.TCPAddr() // same port: the session is keyed by client id, not port
	b2, _ := startBroker(t, cfg)
	h, p = hostPort(t, b2.TCPAddr())
	out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_sub", append([]string{"-h", h, "-p", p, "-C", "1", "-W", "5",
		"-t", "plate-resort/resort-1/state"}, creds("viewer")...)...)
	if err != nil || strings.TrimSpace(out) != state {
		t.Errorf("retained state after restart: err=%v out=%q, want %q", err, out, state)
	}
	out, err = testenv.RunCombined(t, toolTimeout, "mosquitto_sub", append(append([]string{"-i", "agent-session"}, sess...), "-C", "1", "-W", "5")...)
	if err != nil || !strings.Contains(out, "plate-resort/resort-1/cmd/get_health queued") {
		t.Errorf("queued message after restart: err=%v out=%q", err, out)
	}
}
