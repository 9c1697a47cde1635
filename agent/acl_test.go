package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// The agent works under the production broker's deny-by-default ACLs: it
// logs in as an agent user, an operator commands it, a viewer cannot.
func TestAgentUnderBrokerRolesAndPasswords(t *testing.T) {
	testenv.NeedBinary(t, "mosquitto_rr")
	m := usersBroker(t, map[string]broker.UserConfig{
		"pi":     {Role: broker.RoleAgent, Devices: []string{"resort-1"}},
		"alice":  {Role: broker.RoleOperator},
		"viewer": {Role: broker.RoleViewer},
	})
	var tp contract.Topics
	servo := agentOnBroker(t, func(cfg *agent.Config) {
		cfg.MQTT.URL, cfg.MQTT.Username, cfg.MQTT.Password = m.url(), "pi", "pi-pw"
		tp = cfg.Topics()
	})

	// The agent's birth messages got through its ACL.
	testenv.Eventually(t, 10*time.Second, "online under the agent's ACL", func() bool {
		return m.retainedAs(t, "viewer", tp.Availability()) == contract.Online
	})
	testenv.Eventually(t, 10*time.Second, "discovery under the agent's ACL", func() bool {
		return strings.Contains(m.retainedAs(t, "viewer", "homeassistant/button/resort-1/go_home/config"), "go_home")
	})
	// An operator's MQTT 5 request gets its reply on its own response topic
	// (<prefix>/responses/<user>/<device>/..., the only place the broker
	// lets this agent answer).
	if r := m.rr(t, tp, "alice", contract.ActivateHotel, `{"hotel":"B","id":"acl-1"}`); r.Status != contract.StatusOK {
		t.Fatalf("operator request: %+v", r)
	}
	// A viewer's command never reaches the agent.
	before := goalWrites(servo)
	_, _ = testenv.Run(t, 5*time.Second, "mosquitto_pub", append(m.as("viewer"), "-q", "1", "-t", tp.Command(contract.ActivateHotel), "-m", "D")...)
	time.Sleep(700 * time.Millisecond)
	if goalWrites(servo) != before {
		t.Fatal("a viewer's command moved the servo")
	}
}
