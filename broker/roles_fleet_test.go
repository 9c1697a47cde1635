package broker

import "testing"

// The fleet topics: operators (any, also one limited to some devices) and
// admins may publish the fleet emergency stop, only admins the fleet reset;
// bridges and viewers neither. force_unlock is admin only like
// set_log_level. Agents read both fleet commands, and no other _fleet topic.
func TestFleetAndLockRights(t *testing.T) {
	for _, c := range []struct {
		role    string
		devices []string
		topic   string
		write   bool
		want    bool
	}{
		{RoleOperator, nil, "plate-resort/_fleet/cmd/emergency_stop", true, true},
		{RoleOperator, []string{"resort-1"}, "plate-resort/_fleet/cmd/emergency_stop", true, true},
		{RoleOperator, nil, "plate-resort/_fleet/cmd/reset", true, false},
		{RoleOperator, []string{"resort-1"}, "plate-resort/_fleet/cmd/reset", true, false},
		{RoleBridge, nil, "plate-resort/_fleet/cmd/emergency_stop", true, false},
		{RoleBridge, nil, "plate-resort/_fleet/cmd/reset", true, false},
		{RoleViewer, nil, "plate-resort/_fleet/cmd/emergency_stop", true, false},
		{RoleAdmin, nil, "plate-resort/_fleet/cmd/reset", true, true},
		{RoleOperator, nil, "plate-resort/resort-1/cmd/force_unlock", true, false},
		{RoleBridge, nil, "plate-resort/resort-1/cmd/force_unlock", true, false},
		{RoleOperator, nil, "plate-resort/resort-1/cmd/lock", true, true},
		{RoleBridge, nil, "plate-resort/resort-1/cmd/unlock", true, true},
		{RoleAdmin, nil, "plate-resort/resort-1/cmd/force_unlock", true, true},
		{RoleAgent, []string{"resort-1"}, "plate-resort/_fleet/cmd/emergency_stop", false, true},
		{RoleAgent, []string{"resort-1"}, "plate-resort/_fleet/cmd/reset", false, true},
		{RoleAgent, []string{"resort-1"}, "plate-resort/_fleet/cmd/other", false, false},
		{RoleAgent, []string{"resort-1"}, "plate-resort/_fleet/cmd/emergency_stop", true, false},
	} {
		r, err := rightsFor("plate-resort", c.role, c.devices)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.allows(c.topic, c.write); got != c.want {
			t.Errorf("%s %v write=%v %s: %v, want %v", c.role, c.devices, c.write, c.topic, got, c.want)
		}
	}
}
