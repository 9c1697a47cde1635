package bridge

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/plate-resort/plate-resort/contract"
)

const rid = "0b6f0a36-7c1e-4c43-9f0e-1f2b3c4d5e6f"

func TestShapeResult(t *testing.T) {
	pos, _ := flowDefByName("get-position")
	act, _ := flowDefByName("activate-hotel")
	if v, err := shapeResult(pos, json.RawMessage(`{"position_deg":109.25}`)); err != nil || v != 109.25 {
		t.Fatalf("angle: %v %v", v, err)
	}
	for _, bad := range []string{``, `null`, `{}`, `{"position_deg":"x"}`, `[1]`, `{"position_deg":null}`} {
		if _, err := shapeResult(pos, json.RawMessage(bad)); !errors.Is(err, contract.ErrBadReply) {
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

// FuzzDecodeReply fuzzes the bridge's path from a reply payload to a run's
// result: contract.DecodeReply, then shapeResult.
func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"id":"` + rid + `","command":"get_position","status":"ok","result":{"position_deg":1}}`))
	f.Add([]byte(`{"id":"` + rid + `","command":"get_position","status":"error","error":{"code":"x","message":"y"}}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, p []byte) {
		r, err := contract.DecodeReply(p, rid, contract.GetPosition)
		if err != nil {
			return
		}
		def, _ := flowDefByName("get-position")
		_, _ = shapeResult(def, r.Result)
		if r.Status == contract.StatusError && (r.Error == nil || r.Error.Code == "") {
			t.Fatal("error reply without code accepted")
		}
	})
}
