package broker

import "testing"

// set_log_level is admin only: operators and bridges keep every other
// command, of every device or of theirs; the agent may publish its own
// event stream and no other device's.
func TestAdminOnlyCommandsAndEventStream(t *testing.T) {
	for _, c := range []struct {
		role    string
		devices []string
		topic   string
		want    bool
	}{
		{RoleOperator, nil, "plate-resort/resort-1/cmd/set_log_level", false},
		{RoleOperator, nil, "plate-resort/resort-1/cmd/go_home", true},
		{RoleOperator, nil, "plate-resort/resort-1/cmd/get_events", true},
		{RoleOperator, []string{"resort-1"}, "plate-resort/resort-1/cmd/set_log_level", false},
		{RoleOperator, []string{"resort-1"}, "plate-resort/resort-1/cmd/emergency_stop", true},
		{RoleBridge, nil, "plate-resort/resort-2/cmd/set_log_level", false},
		{RoleBridge, nil, "plate-resort/resort-2/cmd/activate_hotel", true},
		{RoleAdmin, nil, "plate-resort/resort-1/cmd/set_log_level", true},
		{RoleViewer, nil, "plate-resort/resort-1/cmd/set_log_level", false},
		{RoleAgent, []string{"resort-1"}, "plate-resort/resort-1/event", true},
		{RoleAgent, []string{"resort-1"}, "plate-resort/resort-2/event", false},
	} {
		r, err := rightsFor("plate-resort", c.role, c.devices)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.allows(c.topic, true); got != c.want {
			t.Errorf("%s %v publish %s: %v, want %v", c.role, c.devices, c.topic, got, c.want)
		}
	}
	// Reading the event stream is everyone's who reads the device.
	r, _ := rightsFor("plate-resort", RoleViewer, nil)
	if !r.allows("plate-resort/resort-1/event", false) {
		t.Error("a viewer cannot read the event stream")
	}
}
