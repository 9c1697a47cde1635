package bridge

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// labBridgeSection is the bridge part of configs/mosquitto-lab-bridge.conf
// (from its `connection` line on, comments dropped), pointed at central
// with the lab user's password: the test runs the shipped example.
func labBridgeSection(t *testing.T, central, password string) string {
	t.Helper()
	f, err := os.Open("../configs/mosquitto-lab-bridge.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	on := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key := strings.Fields(line)[0]
		on = on || key == "connection"
		switch {
		case !on:
		case key == "address":
			out = append(out, "address "+central)
		case key == "remote_password":
			out = append(out, "remote_password "+password)
		default:
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, "\n")
}

// mosquittoUsers writes a mosquitto password file (mosquitto_passwd -b).
func mosquittoUsers(t *testing.T, users map[string]string) string {
	t.Helper()
	// Not in t.TempDir: mosquitto started as root reads the file after
	// dropping to its own user (mosquitto.conf(5), `user`), who cannot enter
	// the test's 0700 temp dirs; /tmp is world-searchable.
	dir, err := os.MkdirTemp("", "plate-resort-passwd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	file := filepath.Join(dir, "passwd")
	first := true
	for u, p := range users {
		args := []string{"-b", file, u, p}
		if first {
			args = append([]string{"-c"}, args...)
			first = false
		}
		if out, err := testenv.Run(t, 10*time.Second, "mosquitto_passwd", args...); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	}
	_ = os.Chmod(dir, 0o755)
	_ = os.Chmod(file, 0o644)
	return file
}

// The lab runs its own mosquitto with the agent; a central mosquitto has
// the Prefect bridge. The lab broker bridges plate-resort/# both ways over
// MQTT 5 (configs/mosquitto-lab-bridge.conf). A lab user's run_deployment
// against Prefect reaches the carousel through both brokers and completes,
// and the move is seen at the servo.
func TestLabBrokerBridgedToCentral(t *testing.T) {
	testenv.NeedBinary(t, "mosquitto_passwd")
	pw := map[string]string{"lab-1": "lab-secret", "bridge": "bridge-secret"}
	central := testenv.StartMosquittoConf(t, "allow_anonymous false\npassword_file "+mosquittoUsers(t, pw))
	lab := testenv.StartMosquittoConf(t, "allow_anonymous true\n"+labBridgeSection(t, central.Addr, pw["lab-1"]))
	cp := fmt.Sprint(central.Port)
	// notifications true: the lab broker announces the link, retained, on the central one.
	st, err := testenv.Run(t, 30*time.Second, "mosquitto_sub", "-h", "127.0.0.1", "-p", cp, "-u", "bridge", "-P", pw["bridge"],
		"-t", "$SYS/broker/connection/plate-resort-lab-1/state", "-C", "1", "-W", "25")
	if err != nil || strings.TrimSpace(st) != "1" {
		t.Fatalf("bridge link state %q (%v)\nlab log:\n%s", st, err, lab.Log())
	}

	t.Run("MQTT5PropertiesCrossTheLink", func(t *testing.T) {
		// What the Prefect bridge sends (request.go) and the agent echoes
		// (agent/reply.go), published on one broker and read on the other.
		const format = "%t|%p|R=%R|D=%D|P=%P|E=%E|C=%C"
		atLab := testenv.StartSub(t, "-h", "127.0.0.1", "-p", fmt.Sprint(lab.Port), "-V", "mqttv5", "-t", "plate-resort/props-1/cmd/#", "-F", format)
		atCentral := testenv.StartSub(t, "-h", "127.0.0.1", "-p", cp, "-u", "bridge", "-P", pw["bridge"], "-V", "mqttv5", "-t", "plate-resort/responses/#", "-F", format)
		if _, err := testenv.Run(t, 10*time.Second, "mosquitto_pub", "-h", "127.0.0.1", "-p", cp, "-u", "bridge", "-P", pw["bridge"], "-V", "mqttv5", "-q", "1",
			"-t", "plate-resort/props-1/cmd/get_position", "-m", "{}",
			"-D", "publish", "response-topic", "plate-resort/responses/w1/props-1",
			"-D", "publish", "correlation-data", "corr-42",
			"-D", "publish", "user-property", "plate-resort-user", "alice",
			"-D", "publish", "message-expiry-interval", "60"); err != nil {
			t.Fatal(err)
		}
		got := atLab.Wait(t, 10*time.Second, func(l string) bool { return strings.HasPrefix(l, "plate-resort/props-1/cmd/get_position|") })
		for _, want := range []string{"R=plate-resort/responses/w1/props-1", "D=corr-42", "P=plate-resort-user:alice"} {
			if !strings.Contains(got, want) {
				t.Errorf("command at the lab broker lost %s: %s", want, got)
			}
		}
		// The expiry arrives counted down, never dropped (MQTT 5 §3.3.2.3.3).
		if strings.Contains(got, "|E=|") {
			t.Errorf("message expiry dropped: %s", got)
		}
		if _, err := testenv.Run(t, 10*time.Second, "mosquitto_pub", "-h", "127.0.0.1", "-p", fmt.Sprint(lab.Port), "-V", "mqttv5", "-q", "1",
			"-t", "plate-resort/responses/w1/props-1", "-m", `{"status":"ok"}`,
			"-D", "publish", "correlation-data", "corr-42", "-D", "publish", "content-type", "application/json"); err != nil {
			t.Fatal(err)
		}
		back := atCentral.Wait(t, 10*time.Second, func(l string) bool { return strings.HasPrefix(l, "plate-resort/responses/w1/props-1|") })
		if !strings.Contains(back, "D=corr-42") || !strings.Contains(back, "C=application/json") {
			t.Errorf("reply at the central broker lost its properties: %s", back)
		}
	})

	r := newRig(t, rigOptions{noAgent: true, configure: func(c *Config) {
		c.MQTT.URL = "mqtt://" + central.Addr
		c.MQTT.Username, c.MQTT.Password = "bridge", pw["bridge"]
	}})
	goals := &goalLog{writes: map[string]map[int32]int{"resort-1": {}}}
	r.servo.OnWrite(goals.hook("resort-1"))
	r.acfg.MQTT.URL = "mqtt://" + lab.Addr
	r.startAgent()
	// waitRegistered also waits until the bridge, on the central broker,
	// sees the agent's retained availability and state from the lab.
	r.startBridge(r.cfg)

	const angle = 123.0
	var out pyOutcome
	r.python(pyRun+fmt.Sprintf(`
fr = run_deployment("move-to-angle/move-to-angle", parameters={"angle": %v, "precise": False}, timeout=90, poll_interval=0.5)
print(json.dumps(final(fr)))
`, angle), &out)
	if out.Type != "COMPLETED" {
		t.Fatalf("run ended %s (%s): %s", out.Type, out.Name, out.Message)
	}
	res, _ := out.Result.(map[string]any)
	final, _ := res["final_angle"].(float64)
	if math.Abs(final-angle) > 1 {
		t.Errorf("result %v: want final_angle near %v", res, angle)
	}
	if n := goals.count("resort-1", xseries.Degrees(angle).Pulses()); n != 1 {
		t.Errorf("%d Goal Position writes of %v° at the servo behind the lab broker, want 1", n, angle)
	}
}
