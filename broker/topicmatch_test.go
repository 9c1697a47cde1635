package broker

import (
	"strings"
	"testing"
)

func TestCovers(t *testing.T) {
	cases := []struct {
		pattern, filter string
		want            bool
	}{
		{"a/b", "a/b", true},
		{"a/b", "a/c", false},
		{"a/b", "a/b/c", false},
		{"a/b/c", "a/b", false},
		{"a/#", "a", true}, // MQTT 5.0 §4.7.1.2: "#" includes the parent
		{"a/#", "a/b/c", true},
		{"a/#", "a/+", true},
		{"a/#", "a/#", true},
		{"a/#", "#", false},
		{"a/#", "+/b", false},
		{"a/+", "a/b", true},
		{"a/+", "a/", true},
		{"a/+", "a/+", true},
		{"a/+", "a/#", false},
		{"a/+", "a/b/c", false},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/+/c", true},
		{"a/+/c", "a/b/d", false},
		{"a/b", "a/+", false},
		{"plate-resort/+/cmd/#", "plate-resort/resort-1/cmd/stop", true},
		{"plate-resort/+/cmd/#", "plate-resort/resort-1/state", false},
		{"plate-resort/#", "plate-resort2/x", false},
		{"x", "", false},
		{"homeassistant/+/resort-1/+/config", "homeassistant/sensor/resort-1/temp/config", true},
		{"homeassistant/+/resort-1/+/config", "homeassistant/sensor/resort-2/temp/config", false},
	}
	for _, c := range cases {
		if got := covers(c.pattern, c.filter); got != c.want {
			t.Errorf("covers(%q, %q) = %v, want %v", c.pattern, c.filter, got, c.want)
		}
	}
}

func TestStripShare(t *testing.T) {
	for in, want := range map[string]string{
		"$share/g/a/b": "a/b", "$share/g": "", "a/b": "a/b", "$share//a": "a", "$SYS/x": "$SYS/x",
	} {
		if got := stripShare(in); got != want {
			t.Errorf("stripShare(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRights(t *testing.T) {
	type check struct {
		topic string
		write bool
		want  bool
	}
	p := DefaultPrefix
	cases := map[string]struct {
		role    string
		devices []string
		checks  []check
	}{
		"agent": {RoleAgent, []string{"resort-1"}, []check{
			{p + "/resort-1/state", true, true},
			{p + "/resort-1/health", true, true},
			{p + "/resort-1/availability", true, true},
			{p + "/resort-1/info", true, true},
			{p + "/resort-1/reply/activate_hotel", true, true},
			{p + "/responses/alice/x", true, true},
			{"homeassistant/select/resort-1/hotel/config", true, true},
			{"homeassistant/device/resort-1/config", true, true},
			{p + "/resort-2/state", true, false},
			{p + "/resort-1/cmd/stop", true, false}, // an agent never commands itself
			{"homeassistant/select/resort-2/hotel/config", true, false},
			{"homeassistant/status", true, false},
			{p + "/resort-1/cmd/#", false, true},
			{"homeassistant/status", false, true},
			{p + "/resort-2/cmd/#", false, false},
			{p + "/#", false, false},
		}},
		"operator": {RoleOperator, nil, []check{
			{p + "/resort-1/cmd/stop", true, true},
			{p + "/resort-9/cmd/activate_hotel", true, true},
			{p + "/resort-1/state", true, false},
			{p + "/#", false, true},
			{"homeassistant/#", false, true},
			{"$share/ops/" + p + "/+/reply/#", false, true},
			{"#", false, false},
			{"$SYS/#", false, false},
		}},
		"operator restricted": {RoleOperator, []string{"resort-2"}, []check{
			{p + "/resort-2/cmd/stop", true, true},
			{p + "/resort-1/cmd/stop", true, false},
		}},
		"bridge": {RoleBridge, nil, []check{{p + "/resort-1/cmd/stop", true, true}, {p + "/resort-1/state", true, false}}},
		"bridge announces itself": {RoleBridge, nil, []check{
			{p + "/_bridge/worker-1/availability", true, true},
			{p + "/_bridge/worker-1/other", true, false},
			{"homeassistant/binary_sensor/_bridge/worker-1/config", true, true},
			{"homeassistant/binary_sensor/resort-1/problem/config", true, false},
			{"homeassistant/select/_bridge/x/config", true, false},
		}},
		"operator does not announce a bridge": {RoleOperator, nil, []check{{p + "/_bridge/worker-1/availability", true, false}}},
		"viewer": {RoleViewer, nil, []check{
			{p + "/resort-1/cmd/stop", true, false},
			{p + "/resort-1/state", true, false},
			{p + "/resort-1/state", false, true},
			{"homeassistant/status", true, false},
			{"other/#", false, false},
		}},
		"admin": {RoleAdmin, nil, []check{{"#", false, true}, {"$SYS/x", true, true}, {"anything", true, true}}},
	}
	for name, c := range cases {
		r, err := rightsFor(p, c.role, c.devices)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, ch := range c.checks {
			if got := r.allows(ch.topic, ch.write); got != ch.want {
				t.Errorf("%s: allows(%q, write=%v) = %v, want %v", name, ch.topic, ch.write, got, ch.want)
			}
		}
	}
	if _, err := rightsFor(p, "root", nil); err == nil {
		t.Error("unknown role accepted")
	}
}

func TestPacketIDFromKey(t *testing.T) {
	for key, want := range map[string]uint16{
		"if_agent:7": 7, "if_a:b:c:65535": 65535, "if_x:65536": 0, "if_x:": 0, "nokey": 0, "if_x:-1": 0, "if_x:abc": 0,
	} {
		if got := packetIDFromKey(key); got != want {
			t.Errorf("packetIDFromKey(%q) = %d, want %d", key, got, want)
		}
	}
}

// matches is the plain MQTT matching of a topic name against a filter, the
// reference covers is checked against.
func matches(filter, topic string) bool {
	f, n := strings.Split(filter, "/"), strings.Split(topic, "/")
	for i, l := range f {
		if l == "#" {
			return true // also the parent level (MQTT 5.0 §4.7.1.2)
		}
		if i >= len(n) || (l != "+" && l != n[i]) {
			return false
		}
	}
	return len(f) == len(n)
}

// FuzzCovers: covers never panics, and when it says pattern covers a
// wildcard-free topic, plain matching agrees (no topic ever slips through
// an ACL rule it does not match).
func FuzzCovers(f *testing.F) {
	for _, s := range [][2]string{{"a/#", "a/b"}, {"a/+/c", "a/b/c"}, {"#", "x"}, {"a/+", "a/"}, {"", ""}, {"$share/g/a", "a"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		got := covers(pattern, topic)
		_ = stripShare(topic)
		if strings.ContainsAny(topic, "+#") || strings.ContainsAny(pattern, "#") && !strings.HasSuffix(pattern, "#") {
			return
		}
		if got && !matches(pattern, topic) {
			t.Fatalf("covers(%q, %q) = true, but the topic does not match", pattern, topic)
		}
		if covers(topic, topic) != true {
			t.Fatalf("covers(%q, itself) = false", topic)
		}
	})
}
