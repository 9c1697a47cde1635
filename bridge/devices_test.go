package bridge

import (
	"testing"

	"github.com/plate-resort/plate-resort/contract"
)

func testDevices() *devices {
	return newDevices(contract.DefaultPrefix, []string{"resort-1"}, contract.Options{Hotels: []string{"A"}})
}

func FuzzDevicesHandle(f *testing.F) {
	f.Add("plate-resort/resort-1/state", []byte(`{"moving":true,"position_deg":3,"busy":{"id":"x","command":"go_home"}}`))
	f.Add("plate-resort/resort-1/info", []byte(`{"commands":[{"name":"x","params":{"type":"object"}}]}`))
	f.Add("plate-resort/resort-1/availability", []byte("offline"))
	f.Fuzz(func(t *testing.T, topic string, p []byte) {
		d := testDevices()
		d.handle(topic, p, timeNow())
		st, _ := d.get("resort-1")
		if st.Availability != "" && st.Availability != contract.Online && st.Availability != contract.Offline {
			t.Fatalf("availability %q", st.Availability)
		}
	})
}

func TestDevicesHandle(t *testing.T) {
	d := testDevices()
	topics := contract.DeviceTopics(contract.DefaultPrefix, "resort-1")
	if !d.handle(topics.Availability(), []byte(" online\n"), timeNow()) ||
		!d.handle(topics.State(), []byte(`{"connected":true,"moving":true,"position_deg":3,"busy":{"id":"x","command":"go_home"}}`), timeNow()) {
		t.Fatal("own topics not handled")
	}
	st, _ := d.get("resort-1")
	if st.Availability != contract.Online || !st.State.Connected || !busyWith(st.State, "x") || busyWith(st.State, "y") {
		t.Fatalf("status %+v", st)
	}
	for _, topic := range []string{"plate-resort/resort-2/state", "other/resort-1/state", "plate-resort/resort-1/health",
		"plate-resort/resort-1/cmd/go_home", "plate-resort/resort-1", "plate-resort/responses/resort-1/state"} {
		if d.handle(topic, []byte("{}"), timeNow()) {
			t.Errorf("%s handled", topic)
		}
	}
	// The catalogue: the built-in one until the agent's info arrives.
	if k := d.kind("resort-1", contract.GetPosition); k != contract.KindRead {
		t.Fatalf("built-in kind of get_position: %s", k)
	}
	d.handle(topics.Info(), []byte(`{"commands":[{"name":"get_position","kind":"motion","params":{"type":"object"}}]}`), timeNow())
	if k := d.kind("resort-1", contract.GetPosition); k != contract.KindMotion {
		t.Fatalf("kind from the agent's info: %s", k)
	}
	if k := d.kind("resort-1", contract.GoHome); k != contract.KindMotion {
		t.Fatalf("kind of a command the agent's info lacks: %s", k)
	}
}

// Review finding: a retained info whose schema has a null property crashed
// schema building on every start. Such a catalogue is now ignored, and
// whatever the device handler accepts must build into Prefect schemas.
func TestHostileInfoCatalogueIsIgnored(t *testing.T) {
	for _, info := range []string{
		`{"commands":[{"name":"connect","kind":"motion","params":{"type":"object","properties":{"port":null}}}]}`,
		`{"commands":[{"name":"x","params":{"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"object","properties":{"c":{"type":"object","properties":{"d":{"type":"object","properties":{"e":{"type":"string"}}}}}}}}}}}}]}`,
		`{"commands":[{"name":"x","params":{"type":"object","properties":{"a":{"type":"weird"}}}}]}`,
	} {
		d := testDevices()
		d.handle(contract.DeviceTopics(contract.DefaultPrefix, "resort-1").Info(), []byte(info), timeNow())
		st, _ := d.get("resort-1")
		if len(st.Commands) != 0 {
			t.Fatalf("hostile catalogue accepted: %s", info)
		}
	}
	// A valid catalogue builds without panicking for every flow.
	d := testDevices()
	d.handle(contract.DeviceTopics(contract.DefaultPrefix, "resort-1").Info(), []byte(`{"commands":[{"name":"activate_hotel","kind":"motion","params":{"type":"object","properties":{"hotel":{"type":"string","enum":["A"]}},"required":["hotel"]}}]}`), timeNow())
	st, _ := d.get("resort-1")
	if len(st.Commands) != 1 {
		t.Fatal("valid catalogue refused")
	}
	for i := range flowDefs {
		if flowDefs[i].Command == "activate_hotel" {
			_ = buildSchema(&flowDefs[i], st.Commands[0])
		}
	}
}
