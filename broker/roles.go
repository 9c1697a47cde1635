package broker

import (
	"fmt"

	"github.com/plate-resort/plate-resort/contract"
)

// rights is what one user (or the anonymous client) may do, compiled from
// its role and devices once at start. Everything not listed is denied.
type rights struct {
	admin bool     // everything, including $SYS and retained commands
	write []string // topic filters a client may publish to
	read  []string // topic filters a client may subscribe to / receive
	deny  []string // topic filters a client may never publish to, whatever write says
}

// validRoles lists the role names a config may use.
var validRoles = map[string]bool{RoleAgent: true, RoleOperator: true, RoleBridge: true, RoleViewer: true, RoleAdmin: true}

// rightsFor turns a role over the topic contract of topics.md into filters.
func rightsFor(prefix, role string, devices []string) (rights, error) {
	readAll := []string{contract.AllDevices(prefix), contract.HAAll(contract.DefaultHAPrefix)}
	switch role {
	case RoleAdmin:
		return rights{admin: true}, nil
	case RoleViewer:
		return rights{read: readAll}, nil
	case RoleOperator, RoleBridge:
		r := rights{read: readAll}
		if len(devices) == 0 {
			r.write = []string{contract.AllCommands(prefix)}
		}
		for _, d := range devices {
			r.write = append(r.write, contract.DeviceTopics(prefix, d).CommandPrefix()+"#")
		}
		r.deny = contract.AdminCommandFilters(prefix) // set_log_level, force_unlock: admin only
		// <prefix>/+/cmd/# also matches <prefix>/_fleet/cmd/# (a "+" matches
		// any level, MQTT 5 §4.7.1.3): the fleet reset is denied by name.
		r.deny = append(r.deny, contract.FleetCommand(prefix, contract.Reset))
		if role == RoleOperator {
			// Any operator, whatever its devices, may stop the whole fleet:
			// an emergency stop is a safety action. The fleet reset stays
			// with admin.
			r.write = append(r.write, contract.FleetCommand(prefix, contract.EmergencyStop))
		} else {
			// A bridge drives the devices its flows name, never the fleet.
			r.deny = append(r.deny, contract.FleetCommand(prefix, "#"))
		}
		if role == RoleBridge {
			// A bridge announces itself: retained availability (and its
			// Last Will) under _bridge/, and its Home Assistant
			// connectivity sensor under the _bridge discovery node, which
			// no device id can name. Any worker name: the broker's user
			// name is not the worker name.
			r.write = append(r.write, contract.BridgeAvailability(prefix, "+"), contract.HABridgeDiscovery(contract.DefaultHAPrefix, "+"))
		}
		return r, nil
	case RoleAgent:
		if len(devices) == 0 {
			return rights{}, fmt.Errorf("role agent needs at least one device id")
		}
		// MQTT 5 callers name a Response Topic; by convention those live
		// under <prefix>/responses/<caller>/..., and the agent answers there.
		r := rights{write: []string{contract.ResponsesRoot(prefix) + "#"}, read: []string{contract.HAStatus(contract.DefaultHAPrefix)}}
		for _, c := range contract.FleetCommands {
			r.read = append(r.read, contract.FleetCommand(prefix, c)) // every agent obeys these
		}
		for _, d := range devices {
			t := contract.DeviceTopics(prefix, d)
			r.write = append(r.write, t.Telemetry()...)
			r.write = append(r.write, t.ReplyFilter())
			r.write = append(r.write, t.Event()) // the non-retained event stream
			r.write = append(r.write, contract.HADiscoveryFilters(contract.DefaultHAPrefix, d)...)
			// The whole own base, not only cmd/#: an agent may read back its
			// own retained state and info at start. Nothing of another device.
			r.read = append(r.read, t.All())
		}
		return r, nil
	}
	return rights{}, fmt.Errorf("unknown role %q: want agent, operator, bridge, viewer or admin", role)
}

// allows judges one publish (write) or subscribe/delivery (read).
func (r *rights) allows(topic string, write bool) bool {
	if r.admin {
		return true
	}
	list := r.read
	if write {
		for _, p := range r.deny {
			if covers(p, topic) {
				return false
			}
		}
		list = r.write
	} else {
		topic = stripShare(topic)
	}
	for _, p := range list {
		if covers(p, topic) {
			return true
		}
	}
	return false
}
