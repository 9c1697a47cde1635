package agent_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// Every accepted command is answered: 10 000 QoS 1 get_position commands in
// one burst (mosquitto_pub -l, the reproduction that once got 734 replies
// out of 1000) get 10 000 replies, through the embedded broker and through
// mosquitto.
func TestBurstOfQoS1CommandsAllAnswered(t *testing.T) {
	const n = 10000
	for _, mosq := range []bool{false, true} {
		name := "embedded"
		if mosq {
			name = "mosquitto"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, opts{mosquitto: mosq, sim: sim.Config{Baud: 1000000}})
			sub := testenv.StartSub(t, append(e.conn(), "-q", "1", "-t", e.cfg.Topics().Reply(contract.GetPosition))...)
			time.Sleep(200 * time.Millisecond) // the subscription is in place
			cmd := exec.Command(testenv.NeedBinary(t, "mosquitto_pub"),
				append(e.conn(), "-q", "1", "-l", "-t", e.cfg.Topics().Command(contract.GetPosition))...)
			cmd.Stdin = strings.NewReader(strings.Repeat("\n", n))
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mosquitto_pub: %v %s", err, out)
			}
			deadline := time.Now().Add(3 * time.Minute)
			for time.Now().Before(deadline) && len(sub.Lines()) < n {
				time.Sleep(200 * time.Millisecond)
			}
			lines := sub.Lines()
			ok := 0
			for _, l := range lines {
				if strings.Contains(l, `"status":"ok"`) {
					ok++
				}
			}
			t.Logf("%d commands: %d replies (%d ok) in %v", n, len(lines), ok, time.Since(start).Round(time.Millisecond))
			if len(lines) != n {
				t.Fatalf("%d commands, %d replies: a command was dropped", n, len(lines))
			}
		})
	}
}
