package bridge

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
)

func reply(t *testing.T, s string) *contract.Reply {
	t.Helper()
	var r contract.Reply
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		t.Fatal(err)
	}
	return &r
}

// rowsOf parses the markdown table back into field -> value.
func rowsOf(t *testing.T, md string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, l := range strings.Split(md, "\n") {
		if !strings.HasPrefix(l, "| ") || strings.HasPrefix(l, "| Field") || strings.HasPrefix(l, "| ---") {
			continue
		}
		// Split on unescaped pipes only.
		inner := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(l, "| "), " |"), `\|`, "\x00")
		parts := strings.Split(inner, " | ")
		if len(parts) != 2 {
			t.Fatalf("row %q has %d cells, want 2", l, len(parts))
		}
		for i := range parts {
			parts[i] = strings.ReplaceAll(parts[i], "\x00", `\|`)
		}
		out[strings.TrimSpace(parts[0])] = strings.TrimSpace(parts[1])
	}
	return out
}

func TestMarkdownOfAMove(t *testing.T) {
	done, _ := prefect.Completed("ok", map[string]any{"x": 1})
	md := renderMarkdown(runReport{Flow: "activate-hotel", Deployment: "activate-hotel", Device: "resort-1", Command: contract.ActivateHotel,
		CommandID: "run-1", Sent: map[string]any{"hotel": "B"}, Proposed: done, Now: &prefect.State{Type: prefect.StateCompleted, Name: "Completed"},
		Reply: reply(t, `{"id":"run-1","command":"activate_hotel","status":"ok","result":{"success":true,"reason":"pulses","hotel":"B","precise":true,
			"target_angle":90,"final_angle":89.956,"final_error":0.044,"pulses":3,"duration_s":2.413},"error":null,
			"received_at":"2025-01-01T10:00:00Z","started_at":"2025-01-01T10:00:00Z","finished_at":"2025-01-01T10:00:02Z"}`)})
	if !strings.HasPrefix(md, "### activate-hotel on resort-1: Completed\n") {
		t.Errorf("heading: %q", md)
	}
	got := rowsOf(t, md)
	for k, want := range map[string]string{
		"Outcome": "Completed: hotel B is at the access position", "Hotel": "B", "Target angle": "90.00°",
		"Final angle": "89.96°", "Final error": "0.04°", "Pulses": "3", "Duration": "2.41 s", "Precise move": "yes",
		"Reached the target": "yes", "Command id": "run-1", "Parameters sent": `{"hotel":"B"}`,
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q\n%s", k, got[k], want, md)
		}
	}
}

func TestMarkdownOfARefusal(t *testing.T) {
	md := renderMarkdown(runReport{Flow: "move-to-angle", Device: "resort-1", Command: contract.MoveToAngle, CommandID: "r",
		Proposed: prefect.Failed("estop_latched: ..."), Now: &prefect.State{Type: prefect.StateFailed, Name: "Failed"},
		Reply: reply(t, `{"id":"r","command":"move_to_angle","status":"error","result":null,
			"error":{"code":"estop_latched","message":"emergency stop latched | send <b>reset</b>\nthen retry"}}`)})
	got := rowsOf(t, md)
	if got["Error code"] != "estop_latched: an emergency stop is latched (run reset, then try again)" {
		t.Errorf("error code row %q\n%s", got["Error code"], md)
	}
	// The device's text cannot break the table or inject HTML.
	if got["Error message"] != `emergency stop latched \| send &lt;b&gt;reset&lt;/b&gt; then retry` {
		t.Errorf("error message row %q", got["Error message"])
	}
	if !strings.HasPrefix(got["Outcome"], "Failed") {
		t.Errorf("outcome %q", got["Outcome"])
	}
}

func TestMarkdownOfACrashAndARetry(t *testing.T) {
	md := renderMarkdown(runReport{Flow: "go-home", Device: "resort-1", Command: contract.GoHome, CommandID: "c",
		Proposed: prefect.Crashed("timeout: no reply from device resort-1"), Now: &prefect.State{Type: prefect.StateCrashed, Name: "Crashed"}})
	if got := rowsOf(t, md); !strings.HasPrefix(got["Outcome"], "Crashed") || got["Message"] != "timeout: no reply from device resort-1" {
		t.Errorf("crash rows %v", got)
	}
	md = renderMarkdown(runReport{Flow: "go-home", Device: "resort-1", Command: contract.GoHome, CommandID: "c",
		Proposed: prefect.Failed("timeout: stalled"), Now: &prefect.State{Type: prefect.StateScheduled, Name: "AwaitingRetry"},
		Reply: reply(t, `{"id":"c","command":"go_home","status":"error","error":{"code":"timeout","message":"stalled"}}`)})
	if got := rowsOf(t, md); !strings.Contains(got["Outcome"], "Prefect retries the run (AwaitingRetry)") {
		t.Errorf("retry outcome %q", got["Outcome"])
	}
}

func TestHealthTableAndGenericResult(t *testing.T) {
	rep := runReport{Flow: "get-motor-health", Device: "resort-1", Command: contract.GetHealth, CommandID: "h",
		Proposed: prefect.StateCreate{Type: prefect.StateCompleted, Name: "Completed"},
		Reply: reply(t, `{"id":"h","command":"get_health","status":"ok","result":{"temperature_c":35,"voltage_v":12.1,"current_ma":null,
			"hardware_error":{"raw":4,"flags":["overheating"]},"warnings":["hot"],"serial":{"port":"/dev/ttyUSB0","connected":true,"stats":{"transactions":10}},
			"agent":{"version":"1.0","uptime_s":61,"commands":{"ok":3,"error":1}}}}`)}
	rows := healthRows(rep)
	b, _ := json.Marshal(rows)
	for _, want := range []string{`{"reading":"Temperature","value":35,"unit":"°C"}`, `{"reading":"Current","value":null,"unit":"mA"}`,
		`"value":"overheating (raw 4)"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("health table lacks %s: %s", want, b)
		}
	}
	got := rowsOf(t, renderMarkdown(rep))
	if got["Temperature"] != "35 °C" || got["Current"] != "not read" || got["Commands ok / failed"] != "3 / 1" {
		t.Errorf("health markdown rows %v", got)
	}
	// Any other result: its fields, titled, units in words.
	got = rowsOf(t, renderMarkdown(runReport{Flow: "set-speed", Device: "d", Command: contract.SetSpeed, CommandID: "s",
		Proposed: prefect.StateCreate{Type: prefect.StateCompleted, Name: "Completed"},
		Reply:    reply(t, `{"id":"s","command":"set_speed","status":"ok","result":{"speed":50,"speed_rpm":11.45,"speed_deg_s":68.7}}`)}))
	if got["Speed"] != "50" || got["Speed (rpm)"] != "11.45" || got["Speed (°/s)"] != "68.7" {
		t.Errorf("generic rows %v", got)
	}
}

func TestArtifactKeysArePrefectKeys(t *testing.T) {
	valid := regexp.MustCompile(`^[a-z0-9-]+$`) // src/prefect/types/names.py ArtifactKey
	for _, c := range [][2]string{{"resort-1", "activate-hotel"}, {"Lab_B.resort", "get-motor-health"}, {"-x-", "--y"}} {
		if k := artifactKey(c[0], c[1]); !valid.MatchString(k) || strings.Contains(k, "--") {
			t.Errorf("artifactKey(%q, %q) = %q", c[0], c[1], k)
		}
	}
	if k := artifactKey("resort-1", "activate-hotel"); k != "plate-resort-resort-1-activate-hotel" {
		t.Errorf("key %q", k)
	}
}
