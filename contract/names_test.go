package contract

import (
	"strings"
	"testing"
)

func TestValidDeviceID(t *testing.T) {
	for _, ok := range []string{"resort-1", "A", "r_2", strings.Repeat("x", 64), "9lives"} {
		if err := ValidDeviceID(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "_fleet", "_bridge", "-x", "a/b", "a+", "a#", "responses",
		strings.Repeat("x", 65), "a b", "a\x00", "ä", "$SYS"} {
		if err := ValidDeviceID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestValidPrefixHotelWorker(t *testing.T) {
	cases := []struct {
		f    func(string) error
		ok   []string
		bad  []string
		name string
	}{
		{ValidPrefix, []string{"plate-resort", "lab/3", "a_b/c-d"}, []string{"", "/a", "a/", "a//b", "a/+", "#", strings.Repeat("a", 129)}, "prefix"},
		{ValidHotel, []string{"A", "hotel_2", "x-1"}, []string{"", "A/B", "A+", strings.Repeat("h", 17), "a b"}, "hotel"},
		{ValidWorkerName, []string{"bridge-1", "lab.pi", "w_2"}, []string{"", ".x", "a/b", "a%b", strings.Repeat("w", 101)}, "worker"},
	}
	for _, c := range cases {
		for _, s := range c.ok {
			if err := c.f(s); err != nil {
				t.Errorf("%s %q refused: %v", c.name, s, err)
			}
		}
		for _, s := range c.bad {
			if err := c.f(s); err == nil {
				t.Errorf("%s %q accepted", c.name, s)
			}
		}
	}
}

func TestTopics(t *testing.T) {
	tp := DeviceTopics("plate-resort", "resort-1")
	want := map[string]string{
		tp.Command(GetPosition):          "plate-resort/resort-1/cmd/get_position",
		tp.CommandFilter():               "plate-resort/resort-1/cmd/+",
		tp.Reply(Reset):                  "plate-resort/resort-1/reply/reset",
		tp.State():                       "plate-resort/resort-1/state",
		tp.Health():                      "plate-resort/resort-1/health",
		tp.Availability():                "plate-resort/resort-1/availability",
		tp.Info():                        "plate-resort/resort-1/info",
		tp.Event():                       "plate-resort/resort-1/event",
		Responses("plate-resort", "bob"): "plate-resort/responses/bob",
		AllCommands("plate-resort"):      "plate-resort/+/cmd/#",
		FleetCommand("plate-resort", EmergencyStop):                 "plate-resort/_fleet/cmd/emergency_stop",
		BridgeAvailability("plate-resort", "w1"):                    "plate-resort/_bridge/w1/availability",
		HADiscovery("homeassistant", "select", "resort-1", "hotel"): "homeassistant/select/resort-1/hotel/config",
	}
	for got, w := range want {
		if got != w {
			t.Errorf("got %q, want %q", got, w)
		}
	}
	for topic, want := range map[string][2]string{
		"plate-resort/resort-1/state":            {"resort-1", "state"},
		"plate-resort/resort-1/cmd/get_position": {"resort-1", "cmd/get_position"},
	} {
		d, rest, ok := ParseDeviceTopic("plate-resort", topic)
		if !ok || d != want[0] || rest != want[1] {
			t.Errorf("ParseDeviceTopic(%q) = %q %q %v", topic, d, rest, ok)
		}
	}
	for _, topic := range []string{"plate-resort/_fleet/cmd/reset", "plate-resort/responses/x/y", "other/resort-1/state", "plate-resort/resort-1", "plate-resortX/a/state"} {
		if d, _, ok := ParseDeviceTopic("plate-resort", topic); ok {
			t.Errorf("ParseDeviceTopic(%q) accepted device %q", topic, d)
		}
	}
}
