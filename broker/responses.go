package broker

import (
	"slices"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/plate-resort/plate-resort/contract"
)

// responseAllowed keeps replies private. Under <prefix>/responses/<user>/
// only <user> reads (a subscription filter that merely could match another
// user's responses is allowed; each delivery is checked again with its
// concrete topic). Agents write replies only under
// <prefix>/responses/<user>/<their device>/..., so one device cannot forge
// another's reply. Admin passes; anonymous clients (loopback development)
// share every response name that is not a configured user's.
func (h *authHook) responseAllowed(cl *mqtt.Client, acct *account, topic string, write bool) bool {
	if acct.rights.admin {
		return true
	}
	rest, ok := strings.CutPrefix(topic, contract.ResponsesRoot(h.prefix))
	if !ok {
		return true
	}
	owner, after, _ := strings.Cut(rest, "/")
	if write {
		if acct.role != RoleAgent {
			return true // others' writes there are governed by their role
		}
		device, _, _ := strings.Cut(after, "/")
		return !strings.ContainsAny(owner, "+#") && acct.ownsDevice(device)
	}
	if strings.ContainsAny(owner, "+#") {
		return true // a filter; deliveries are checked one by one
	}
	user := string(cl.Properties.Username)
	if user == "" {
		_, configured := h.users[owner]
		return !configured
	}
	return owner == user
}

// stampUser sets the MQTT 5 user property plate-resort-user on a command
// publish to the authenticated user name, dropping any the client sent, so
// the agent can say who sent what and nobody can claim to be someone else.
// Anonymous clients are stamped "anonymous".
func stampUser(cl *mqtt.Client, pk *packets.Packet) {
	user := string(cl.Properties.Username)
	if user == "" {
		user = "anonymous"
	}
	pk.Properties.User = slices.DeleteFunc(pk.Properties.User, func(p packets.UserProperty) bool {
		return p.Key == contract.UserProperty
	})
	pk.Properties.User = append(pk.Properties.User, packets.UserProperty{Key: contract.UserProperty, Val: user})
}
