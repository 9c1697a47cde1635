package bridge

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const rid = "0b6f0a36-7c1e-4c43-9f0e-1f2b3c4d5e6f"

func TestDecodeReplyHostile(t *testing.T) {
	cases := map[string]string{
		"empty":             ``,
		"not json":          `garbage`,
		"array":             `[1,2]`,
		"scalar":            `42`,
		"bad utf8":          "{\"id\":\"\xff\"}",
		"oversized":         `{"pad":"` + strings.Repeat("x", maxReply) + `"}`,
		"wrong id":          `{"id":"other","command":"get_position","status":"ok"}`,
		"wrong command":     `{"id":"` + rid + `","command":"reboot","status":"ok"}`,
		"id wrong type":     `{"id":7,"command":"get_position","status":"ok"}`,
		"status wrong type": `{"id":"` + rid + `","command":"get_position","status":true}`,
		"status unknown":    `{"id":"` + rid + `","command":"get_position","status":"maybe"}`,
		"error no code":     `{"id":"` + rid + `","command":"get_position","status":"error"}`,
		"error wrong type":  `{"id":"` + rid + `","command":"get_position","status":"error","error":"boom"}`,
		"truncated":         `{"id":"` + rid + `","command":"get_po`,
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := decodeReply([]byte(p), rid, "get_position")
			if !errors.Is(err, errBadReply) {
				t.Fatalf("err = %v, want errBadReply", err)
			}
			if len(err.Error()) > 600 {
				t.Errorf("error message is %d bytes: must stay readable", len(err.Error()))
			}
		})
	}
}

func TestDecodeReplyError(t *testing.T) {
	r, err := decodeReply([]byte(`{"id":"`+rid+`","command":"activate_hotel","status":"error","error":{"code":"estop_latched","message":"reset first"},"result":{"success":false}}`), rid, "activate_hotel")
	if err != nil || r.Error.Code != "estop_latched" || string(r.Result) != `{"success":false}` {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestShapeResult(t *testing.T) {
	pos, _ := flowDefByName("get-position")
	act, _ := flowDefByName("activate-hotel")
	if v, err := shapeResult(pos, json.RawMessage(`{"position_deg":109.25}`)); err != nil || v != 109.25 {
		t.Fatalf("angle: %v %v", v, err)
	}
	for _, bad := range []string{``, `null`, `{}`, `{"position_deg":"x"}`, `[1]`, `{"position_deg":null}`} {
		if _, err := shapeResult(pos, json.RawMessage(bad)); !errors.Is(err, errBadReply) {
			t.Errorf("angle from %q: %v", bad, err)
		}
	}
	v, err := shapeResult(act, json.RawMessage(`null`))
	if err != nil || v.(map[string]any)["ok"] != true {
		t.Fatalf("null result: %v %v", v, err)
	}
	// Keys Python would misread are wrapped, never passed through.
	v, err = shapeResult(act, json.RawMessage(`{"type":"x","storage_key":"y"}`))
	b, _ := json.Marshal(v)
	if err != nil || !strings.HasPrefix(string(b), `{"result":`) {
		t.Fatalf("reserved keys: %s %v", b, err)
	}
}

func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"id":"` + rid + `","command":"get_position","status":"ok","result":{"position_deg":1}}`))
	f.Add([]byte(`{"id":"` + rid + `","command":"get_position","status":"error","error":{"code":"x","message":"y"}}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := decodeReply(p, rid, "get_position")
		if err != nil {
			return
		}
		def, _ := flowDefByName("get-position")
		_, _ = shapeResult(def, r.Result)
		if r.Status == "error" && (r.Error == nil || r.Error.Code == "") {
			t.Fatal("error reply without code accepted")
		}
	})
}

func FuzzDevicesHandle(f *testing.F) {
	f.Add("plate-resort/resort-1/state", []byte(`{"moving":true,"position_deg":3,"busy":{"id":"x","command":"go_home"}}`))
	f.Add("plate-resort/resort-1/info", []byte(`{"commands":[{"name":"x","params":{"type":"object"}}]}`))
	f.Add("plate-resort/resort-1/availability", []byte("offline"))
	f.Fuzz(func(t *testing.T, topic string, p []byte) {
		d := newDevices("plate-resort", []string{"resort-1"})
		d.handle(topic, p, timeNow())
		st, _ := d.get("resort-1")
		if st.Availability != "" && st.Availability != "online" && st.Availability != "offline" {
			t.Fatalf("availability %q", st.Availability)
		}
	})
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
		d := newDevices("plate-resort", []string{"resort-1"})
		d.handle("plate-resort/resort-1/info", []byte(info), timeNow())
		st, _ := d.get("resort-1")
		if len(st.Commands) != 0 {
			t.Fatalf("hostile catalogue accepted: %s", info)
		}
	}
	// A valid catalogue builds without panicking for every flow.
	d := newDevices("plate-resort", []string{"resort-1"})
	d.handle("plate-resort/resort-1/info", []byte(`{"commands":[{"name":"activate_hotel","kind":"motion","params":{"type":"object","properties":{"hotel":{"type":"string","enum":["A"]}},"required":["hotel"]}}]}`), timeNow())
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
