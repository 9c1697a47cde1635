package broker

import (
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

const reasonNotAuthorized = 0x87 // MQTT 5.0 §2.4, Reason Code 135

// A viewer's command never reaches the agent, over MQTT 3.1.1 and 5, with
// the real mosquitto clients a user would type.
func TestViewerCommandNeverReachesAgent(t *testing.T) {
	b, _ := startBroker(t, productionConfig(t))
	h, p := hostPort(t, b.TCPAddr())
	for _, v := range []string{"mqttv311", "mqttv5"} {
		t.Run(v, func(t *testing.T) {
			wait := startSub(t, b, "agent-"+v, append([]string{"-h", h, "-p", p, "-V", v, "-q", "1", "-C", "1", "-W", "10",
				"-t", "plate-resort/resort-1/cmd/#"}, creds("agent1")...)...)
			for _, q := range []string{"0", "1"} {
				out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append([]string{"-h", h, "-p", p, "-V", v, "-q", q,
					"-t", "plate-resort/resort-1/cmd/activate_hotel", "-m", "viewer-cmd"}, creds("viewer")...)...)
				switch {
				case v == "mqttv5" && q == "1":
					// mochi answers with PUBACK reason 0x87; mosquitto_pub prints it.
					if !strings.Contains(out, "Not authorized") {
						t.Errorf("v5 QoS 1: want PUBACK 'Not authorized', got err=%v out=%q", err, out)
					}
				case v == "mqttv311" && q == "1":
					// 3.1.1 has no negative PUBACK: the broker closes the connection.
					if err == nil {
						t.Errorf("3.1.1 QoS 1: want the connection closed, mosquitto_pub succeeded: %q", out)
					}
				}
			}
			// An operator's command after the refused ones: the agent's
			// first (and only, -C 1) message must be this one.
			if out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append([]string{"-h", h, "-p", p, "-V", v, "-q", "1",
				"-t", "plate-resort/resort-1/cmd/activate_hotel", "-m", "operator-cmd"}, creds("alice")...)...); err != nil {
				t.Fatalf("operator publish: %v %s", err, out)
			}
			out, err := wait()
			if err != nil {
				t.Fatalf("agent subscriber: %v\n%s", err, out)
			}
			if strings.Contains(out, "viewer-cmd") || !strings.Contains(out, "operator-cmd") {
				t.Fatalf("agent received:\n%s\nwant operator-cmd only", out)
			}
		})
	}
}

// The v5 reason codes a client sees, read with a Go MQTT 5 client.
func TestV5ReasonCodes(t *testing.T) {
	b, _ := startBroker(t, productionConfig(t))
	viewer, _ := pahoConnect(t, b.TCPAddr(), "viewer-1", "viewer")

	pr, err := viewer.Publish(ctx5s(t), &paho.Publish{Topic: "plate-resort/resort-1/cmd/stop", QoS: 1, Payload: []byte("{}")})
	if err == nil || pr == nil || pr.ReasonCode != reasonNotAuthorized {
		t.Errorf("viewer command: want PUBACK 0x87, got %+v, %v", pr, err)
	}
	sa, err := viewer.Subscribe(ctx5s(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
		{Topic: "#", QoS: 1}, {Topic: "plate-resort/#", QoS: 1}, {Topic: "$SYS/#", QoS: 0},
		{Topic: "$share/g/plate-resort/+/state", QoS: 1}, {Topic: "$share/g/#", QoS: 1},
	}})
	if err == nil || sa == nil {
		t.Fatalf("subscribe: want a partial failure, got %v", err)
	}
	want := []byte{reasonNotAuthorized, 1, reasonNotAuthorized, 1, reasonNotAuthorized}
	if string(sa.Reasons) != string(want) {
		t.Errorf("SUBACK reasons = %x, want %x", sa.Reasons, want)
	}

	// A retained command is refused even for an operator (ghost switching),
	// and nothing is stored.
	alice, _ := pahoConnect(t, b.TCPAddr(), "alice-1", "alice")
	pr, err = alice.Publish(ctx5s(t), &paho.Publish{Topic: "plate-resort/resort-1/cmd/go_home", QoS: 1, Retain: true})
	if err == nil || pr.ReasonCode != reasonNotAuthorized {
		t.Errorf("retained command: want PUBACK 0x87, got %+v, %v", pr, err)
	}
	if pr, err := alice.Publish(ctx5s(t), &paho.Publish{Topic: "plate-resort/resort-1/cmd/go_home", QoS: 1}); err != nil || pr.ReasonCode != 0 {
		t.Errorf("plain command: want success, got %+v, %v", pr, err)
	}
	// An operator restricted to resort-2 cannot command resort-1.
	op2, _ := pahoConnect(t, b.TCPAddr(), "op2-1", "operator2")
	if pr, err := op2.Publish(ctx5s(t), &paho.Publish{Topic: "plate-resort/resort-1/cmd/go_home", QoS: 1}); err == nil || pr.ReasonCode != reasonNotAuthorized {
		t.Errorf("operator2 on resort-1: want 0x87, got %+v, %v", pr, err)
	}
	if pr, err := op2.Publish(ctx5s(t), &paho.Publish{Topic: "plate-resort/resort-2/cmd/go_home", QoS: 1}); err != nil || pr.ReasonCode != 0 {
		t.Errorf("operator2 on resort-2: want success, got %+v, %v", pr, err)
	}
	// admin may do what nobody else may: a retained command (to clear one).
	admin, _ := pahoConnect(t, b.TCPAddr(), "admin-1", "admin")
	if pr, err := admin.Publish(ctx5s(t), &paho.Publish{Topic: "plate-resort/resort-1/cmd/go_home", QoS: 1, Retain: true}); err != nil || pr.ReasonCode != 0 {
		t.Errorf("admin retained command: want success, got %+v, %v", pr, err)
	}
}

// An agent publishes its own device's topics and nothing of another device.
func TestAgentCannotPublishAnotherDevice(t *testing.T) {
	b, _ := startBroker(t, productionConfig(t))
	h, p := hostPort(t, b.TCPAddr())
	pub := func(topic, msg string) (string, error) {
		return testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append([]string{"-h", h, "-p", p, "-V", "mqttv5", "-q", "1", "-r",
			"-t", topic, "-m", msg}, creds("agent1")...)...)
	}
	if out, _ := pub("plate-resort/resort-2/state", `{"forged":true}`); !strings.Contains(out, "Not authorized") {
		t.Errorf("forged state: want 'Not authorized', got %q", out)
	}
	if out, _ := pub("homeassistant/sensor/resort-2/temp/config", `{}`); !strings.Contains(out, "Not authorized") {
		t.Errorf("forged discovery: want 'Not authorized', got %q", out)
	}
	// Replies go under <prefix>/responses/<user>/<device>/: never under
	// another device's level, never straight under the user.
	for _, topic := range []string{"plate-resort/responses/alice/resort-2/x", "plate-resort/responses/alice/x"} {
		if out, _ := pub(topic, "forged"); !strings.Contains(out, "Not authorized") {
			t.Errorf("forged reply %s: want 'Not authorized', got %q", topic, out)
		}
	}
	for _, topic := range []string{"plate-resort/resort-1/state", "homeassistant/sensor/resort-1/temp/config",
		"homeassistant/device/resort-1/config", "plate-resort/responses/alice/resort-1/x"} {
		if out, err := pub(topic, "own"); err != nil || out != "" {
			t.Errorf("own topic %s: want success, got err=%v out=%q", topic, err, out)
		}
	}
	// The retained store holds resort-1's state and nothing for resort-2.
	out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_sub", append([]string{"-h", h, "-p", p, "-v", "-W", "2",
		"-t", "plate-resort/+/state"}, creds("viewer")...)...)
	if !strings.Contains(out, "plate-resort/resort-1/state own") || strings.Contains(out, "forged") {
		t.Fatalf("retained states (err=%v):\n%s", err, out)
	}
}

// A client id is bound to the user holding it: another user cannot take
// over (and so disconnect) the agent's session.
func TestClientIDTakeoverRefused(t *testing.T) {
	b, logs := startBroker(t, productionConfig(t))
	pahoConnect(t, b.TCPAddr(), "resort-1-agent", "agent1")
	h, p := hostPort(t, b.TCPAddr())
	out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append([]string{"-h", h, "-p", p, "-i", "resort-1-agent", "-t", "plate-resort/x", "-m", "x"}, creds("viewer")...)...)
	if err == nil {
		t.Fatalf("viewer took over the agent's client id: %q", out)
	}
	if !strings.Contains(logs.String(), "another user") {
		t.Errorf("refusal not logged:\n%s", logs.String())
	}
	// The same user reconnecting (agent restart) is allowed.
	pahoConnect(t, b.TCPAddr(), "resort-1-agent", "agent1")
}

// mochi applies no ACL to a Last Will, so the broker checks the will at
// CONNECT: a viewer cannot leave a (retained) command behind, an agent
// cannot leave another device's availability, and an agent's own
// availability will is fine.
func TestLastWillIsCheckedAtConnect(t *testing.T) {
	b, _ := startBroker(t, productionConfig(t))
	h, p := hostPort(t, b.TCPAddr())
	connect := func(user, topic string, retain bool) error {
		args := append([]string{"-h", h, "-p", p, "-t", "plate-resort/resort-1/state", "-C", "1", "-W", "1",
			"--will-topic", topic, "--will-payload", "90"}, creds(user)...)
		if retain {
			args = append(args, "--will-retain")
		}
		out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_sub", args...)
		if err != nil && strings.Contains(out+err.Error(), "Timed out") {
			return nil // connected (and subscribed), then timed out waiting
		}
		if err != nil {
			return err
		}
		return nil
	}
	if err := connect("viewer", "plate-resort/resort-1/cmd/move_to_angle", true); err == nil {
		t.Fatal("viewer connected with a retained will on a command topic")
	}
	if err := connect("viewer", "plate-resort/resort-1/cmd/move_to_angle", false); err == nil {
		t.Fatal("viewer connected with a will on a command topic")
	}
	if err := connect("alice", "plate-resort/resort-1/cmd/move_to_angle", true); err == nil {
		t.Fatal("operator connected with a retained will on a command topic")
	}
	if err := connect("agent2", "plate-resort/resort-1/availability", true); err == nil {
		t.Fatal("agent of resort-2 connected with a will on resort-1's availability")
	}
	if err := connect("agent1", "plate-resort/resort-1/availability", true); err != nil {
		t.Fatalf("agent's own availability will refused: %v", err)
	}
}
