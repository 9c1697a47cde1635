package broker

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

// A subscriber that allows few QoS 1 messages in flight (Receive Maximum,
// MQTT 5 §3.1.2.11.3; libmosquitto's clients announce 20) still gets every
// message of a burst many times larger. mochi v2.7.9 sent a message held
// back for the quota and then forgot it, so its PUBACK gave no quota back:
// after Receive Maximum such messages the client's quota stayed 0 and
// delivery stopped for good (third_party/mochi-mqtt-server/README.md).
func TestBurstBeyondReceiveMaximumIsDelivered(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listeners.TCP.Address = "127.0.0.1:0"
	b, _ := startBroker(t, cfg)
	host, port := hostPort(t, b.TCPAddr())
	const n = 300
	sub := testenv.StartSub(t, "-h", host, "-p", port, "-V", "mqttv5", "-q", "1", "-t", "burst/t", "-i", "quota-sub",
		"-D", "connect", "receive-maximum", "5")
	deadline := time.Now().Add(10 * time.Second)
	for !subscribed(b, "quota-sub") {
		if time.Now().After(deadline) {
			t.Fatal("subscriber not subscribed within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("m-%d", i)
	}
	burst := filepath.Join(t.TempDir(), "burst")
	if err := os.WriteFile(burst, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := testenv.RunCombined(t, 30*time.Second, "sh", "-c", `mosquitto_pub "$@" < "$0"`, burst,
		"-h", host, "-p", port, "-V", "mqttv5", "-q", "1", "-t", "burst/t", "-l"); err != nil {
		t.Fatalf("publish: %v %s", err, out)
	}
	got := 0
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if got = len(sub.Lines()); got >= n {
			break
		}
	}
	if got != n {
		t.Fatalf("%d of %d messages delivered to a subscriber with Receive Maximum 5", got, n)
	}
	seen := map[string]bool{}
	for _, l := range sub.Lines() {
		seen[l] = true
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages of %d", len(seen), n)
	}
}
