package agent_test

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// The agent works under the production broker's deny-by-default ACLs: it
// logs in as an agent user, an operator commands it, a viewer cannot.
func TestAgentUnderBrokerRolesAndPasswords(t *testing.T) {
	testenv.NeedBinary(t, "mosquitto_rr")
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	bcfg := broker.DefaultConfig()
	bcfg.Listeners.TCP.Address = "127.0.0.1:0"
	bcfg.Anonymous = broker.AnonymousConfig{}
	bcfg.Users = map[string]broker.UserConfig{
		"pi":     {Role: broker.RoleAgent, Devices: []string{"resort-1"}, PasswordHash: hash("pi-pw")},
		"alice":  {Role: broker.RoleOperator, PasswordHash: hash("alice-pw")},
		"viewer": {Role: broker.RoleViewer, PasswordHash: hash("viewer-pw")},
	}
	b := startBroker(t, bcfg)
	host, port := strings.Split(b.TCPAddr(), ":")[0], strings.Split(b.TCPAddr(), ":")[1]
	servo := agentOnBroker(t, func(cfg *agent.Config) {
		cfg.MQTT.URL, cfg.MQTT.Username, cfg.MQTT.Password = "mqtt://"+b.TCPAddr(), "pi", "pi-pw"
	})

	as := func(user string) []string { return []string{"-h", host, "-p", port, "-u", user, "-P", user + "-pw"} }
	// The agent's birth messages got through its ACL.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := testenv.Run(t, 5*time.Second, "mosquitto_sub", append(as("viewer"), "-t", "plate-resort/resort-1/availability", "-C", "1", "-W", "2")...)
		if strings.TrimSpace(out) == "online" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("agent never published online under its ACL")
		}
	}
	if out, err := testenv.Run(t, 5*time.Second, "mosquitto_sub", append(as("viewer"), "-t", "homeassistant/button/resort-1/go_home/config", "-C", "1", "-W", "3")...); err != nil || !strings.Contains(out, "go_home") {
		t.Fatalf("discovery not published under the agent ACL: %q %v", out, err)
	}
	// An operator's MQTT 5 request gets its reply on its own response topic
	// (<prefix>/responses/<user>/<device>/..., the only place the broker
	// lets this agent answer).
	out, err := testenv.Run(t, 20*time.Second, "mosquitto_rr", append(as("alice"), "-t", "plate-resort/resort-1/cmd/activate_hotel",
		"-e", "plate-resort/responses/alice/resort-1/1", "-m", `{"hotel":"B","id":"acl-1"}`, "-W", "15")...)
	if err != nil || !strings.Contains(out, `"status":"ok"`) {
		t.Fatalf("operator request: %q %v", out, err)
	}
	// A viewer's command never reaches the agent.
	before := goalWrites(servo)
	_, _ = testenv.Run(t, 5*time.Second, "mosquitto_pub", append(as("viewer"), "-V", "5", "-q", "1", "-t", "plate-resort/resort-1/cmd/activate_hotel", "-m", "D")...)
	time.Sleep(700 * time.Millisecond)
	if goalWrites(servo) != before {
		t.Fatal("a viewer's command moved the servo")
	}
}
