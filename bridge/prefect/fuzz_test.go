package prefect

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
)

// FuzzDecodeResponses feeds arbitrary bytes to every response decoder the
// client uses: none may panic, and error details stay short and printable.
func FuzzDecodeResponses(f *testing.F) {
	for _, s := range []string{
		`{"detail":"Flow run not found"}`,
		`{"exception_message":"Invalid request received.","exception_detail":[{"loc":["body",1],"msg":"x"}]}`,
		`{"status":"WAIT","details":{"type":"wait_details","delay_seconds":5},"state":null}`,
		`{"id":"x","state":{"type":"COMPLETED","data":{"a":1},"state_details":{"scheduled_time":"2025-01-01T00:00:00Z"}}}`,
		`[{"work_pool_id":"p","flow_run":{"id":"r","parameters":{"hotel":"A"}}}]`,
		`{"type":"event","event":{"event":"prefect.flow-run.Scheduled","resource":{"prefect.resource.id":"prefect.flow-run.1"},"related":[{}]}}`,
		`{"type":"event","event":{"event":"prefect.flow-run.Scheduled","related":[{"prefect.resource.role":"work-queue","prefect.resource.name":"default"}],"payload":{"intended":{"from":null}}}}`,
		`<html><body>502</body></html>`,
		"\x00\xff",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d := extractDetail(b)
		if len(d) > maxDetail+len("…") {
			t.Fatalf("detail too long: %d", len(d))
		}
		for _, r := range d {
			if !unicode.IsPrint(r) && r != ' ' {
				t.Fatalf("unprintable rune %q in detail", r)
			}
		}
		var or OrchestrationResult
		_ = json.Unmarshal(b, &or)
		var fr FlowRun
		_ = json.Unmarshal(b, &fr)
		var sr []ScheduledRun
		_ = json.Unmarshal(b, &sr)
		var wp WorkPool
		_ = json.Unmarshal(b, &wp)
		if ev, ok := decodeEventMessage(b); ok {
			if ev.Event == "" {
				t.Fatal("event accepted without a name")
			}
			_ = ev.FlowRunID()
			// A first state needs a payload that says so, literally.
			if ev.FirstState() && !strings.Contains(string(ev.Payload), "null") {
				t.Fatalf("first state without a null from: %s", ev.Payload)
			}
			_, _ = ev.RelatedName("work-queue")
			_ = ev.Tagged("auto-scheduled")
		}
		if CheckResultData(b) == nil {
			if !json.Valid(b) || strings.TrimSpace(string(b)) == "null" {
				t.Fatalf("invalid result data accepted: %q", b)
			}
		}
	})
}
