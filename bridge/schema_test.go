package bridge

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/plate-resort/plate-resort/contract"
)

func TestSchemasMatchUpstreamParameterNames(t *testing.T) {
	cat := contract.New(contract.Options{Hotels: []string{"A", "B"}, Ports: []string{"/dev/ttyUSB0"}})
	want := map[string][]string{ // upstream flows.py parameter names
		"connect": {"device", "baudrate", "motor_id"}, "activate-hotel": {"hotel", "precise", "overrides"},
		"move-to-angle": {"angle"}, "set-speed": {"speed"}, "reboot": {"wait", "reapply"},
	}
	for flow, params := range want {
		def, _ := flowDefByName(flow)
		spec, _ := cat.Lookup(def.Command)
		s := buildSchema(def, spec)
		for _, p := range params {
			if s.Properties[p] == nil {
				t.Errorf("%s: no parameter %q in %v", flow, p, s.Properties)
			}
		}
	}
	def, _ := flowDefByName("activate-hotel")
	spec, _ := cat.Lookup(def.Command)
	b, _ := json.Marshal(buildSchema(def, spec))
	if !strings.Contains(string(b), `"enum":["A","B"]`) || !strings.Contains(string(b), `"required":["hotel"]`) {
		t.Fatalf("activate-hotel schema lacks the hotel dropdown: %s", b)
	}
	// Translation to the agent: renamed, upstream-only and null dropped.
	cdef, _ := flowDefByName("connect")
	got := toAgentParams(cdef, map[string]any{"device": "/dev/ttyUSB0", "baudrate": 57600, "motor_id": nil})
	if got["port"] != "/dev/ttyUSB0" || got["device"] != nil || len(got) != 2 {
		t.Fatalf("connect params %v", got)
	}
	rdef, _ := flowDefByName("reboot")
	if got := toAgentParams(rdef, map[string]any{"wait": 0.8, "reapply": true}); len(got) != 1 {
		t.Fatalf("reboot params %v", got)
	}
}
