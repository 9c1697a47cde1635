package broker

import (
	"fmt"
	"regexp"
)

// rights is what one user (or the anonymous client) may do, compiled from
// its role and devices once at start. Everything not listed is denied.
type rights struct {
	admin bool     // everything, including $SYS and retained commands
	write []string // topic filters a client may publish to
	read  []string // topic filters a client may subscribe to / receive
}

// deviceIDPattern is the shape of a device id: one topic level that is also
// a valid Home Assistant node_id ([a-zA-Z0-9_-], mqtt.md §2), so a device id
// can never smuggle a wildcard or an extra level into an ACL rule.
var deviceIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// validRoles lists the role names a config may use.
var validRoles = map[string]bool{RoleAgent: true, RoleOperator: true, RoleBridge: true, RoleViewer: true, RoleAdmin: true}

// rightsFor turns a role over the topic contract of design.md into filters.
func rightsFor(prefix, role string, devices []string) (rights, error) {
	readAll := []string{prefix + "/#", "homeassistant/#"}
	switch role {
	case RoleAdmin:
		return rights{admin: true}, nil
	case RoleViewer:
		return rights{read: readAll}, nil
	case RoleOperator, RoleBridge:
		r := rights{read: readAll}
		if len(devices) == 0 {
			r.write = []string{prefix + "/+/cmd/#"}
		}
		for _, d := range devices {
			r.write = append(r.write, prefix+"/"+d+"/cmd/#")
		}
		return r, nil
	case RoleAgent:
		if len(devices) == 0 {
			return rights{}, fmt.Errorf("role agent needs at least one device id")
		}
		// MQTT 5 callers name a Response Topic; by convention those live
		// under <prefix>/responses/<caller>/..., and the agent answers there.
		r := rights{write: []string{prefix + "/responses/#"}, read: []string{"homeassistant/status"}}
		for _, d := range devices {
			base := prefix + "/" + d
			r.write = append(r.write,
				base+"/state", base+"/health", base+"/availability", base+"/info", base+"/reply/#",
				"homeassistant/+/"+d+"/+/config",    // HA discovery, one entity
				"homeassistant/device/"+d+"/config", // HA device-based discovery
			)
			// The whole own base, not only cmd/#: an agent may read back its
			// own retained state and info at start. Nothing of another device.
			r.read = append(r.read, base+"/#")
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
