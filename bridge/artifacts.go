package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
)

// After a run's final state the bridge writes Prefect artifacts linked to
// the run (docs/prefect.md §16): a markdown table of the outcome for every
// run, and for get_health also a table artifact of the readings. They are
// written after the final state was proposed, so they never delay or fail
// the run: a failure is logged and counted, nothing more.

// artifactTimeout bounds the artifact calls of one run.
const artifactTimeout = 10 * time.Second

// maxCell keeps one table cell readable whatever the device sent.
const maxCell = 300

// runReport is what a run's artifacts say.
type runReport struct {
	Flow, Deployment, Device, Command, CommandID string
	Sent                                         map[string]any // parameters as sent to the agent
	Proposed                                     prefect.StateCreate
	Now                                          *prefect.State  // what Prefect holds after the proposal
	Reply                                        *contract.Reply // nil when the device never answered
}

// report writes the run's artifacts. It runs after the final state, on a
// context of its own, and never returns an error: see above.
func (r *run) report(ctx context.Context, proposed prefect.StateCreate, now *prefect.State) {
	rep := runReport{Flow: r.dep.Def.Flow, Deployment: r.dep.Name, Device: r.dep.Device, Command: r.dep.Def.Command,
		CommandID: r.commandID(), Sent: r.sent, Proposed: proposed, Now: now, Reply: r.reply}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), artifactTimeout)
	defer cancel()
	arts := []prefect.ArtifactCreate{{
		Key: artifactKey(r.dep.Device, rep.Flow), Type: prefect.ArtifactMarkdown, FlowRunID: r.fr.ID,
		Description: fmt.Sprintf("Outcome of %s/%s on %s (command id %s).", rep.Flow, rep.Deployment, rep.Device, rep.CommandID),
		Data:        renderMarkdown(rep),
	}}
	if rows := healthRows(rep); rows != nil {
		table, _ := json.Marshal(rows)
		arts = append(arts, prefect.ArtifactCreate{
			Key: artifactKey(r.dep.Device, "health-readings"), Type: prefect.ArtifactTable, FlowRunID: r.fr.ID,
			Description: fmt.Sprintf("Health readings of %s.", rep.Device),
			Data:        string(table), // a JSON string, as Python's TableArtifact.format() sends it
		})
	}
	for _, a := range arts {
		if _, err := r.deps.pc.CreateArtifact(actx, a); err != nil {
			r.deps.artifactFailures.Add(1)
			r.deps.log.Warn().Err(err).Str("flow_run", r.fr.ID).Str("artifact", a.Key).Msg("could not create the run's artifact; the run's outcome is unaffected")
		}
	}
}

var (
	keyUnsafe = regexp.MustCompile(`[^a-z0-9]+`)
	dashes    = regexp.MustCompile(`-+`)
)

// artifactKey names the artifact collection of what on device: Prefect keys
// take lowercase letters, numbers and dashes only (src/prefect/types/names.py
// ArtifactKey). Runs with the same key form one collection in the UI's
// Artifacts page, latest first.
func artifactKey(device, what string) string {
	k := "plate-resort-" + keyUnsafe.ReplaceAllString(strings.ToLower(device), "-") + "-" + keyUnsafe.ReplaceAllString(strings.ToLower(what), "-")
	return strings.Trim(dashes.ReplaceAllString(k, "-"), "-")
}

// codeWords says an error code in words for a lab user (topics.md, "Error
// codes").
var codeWords = map[contract.Code]string{
	contract.CodeBadRequest:     "the command could not be read",
	contract.CodeUnknownCommand: "the device does not know this command",
	contract.CodeInvalidArg:     "a parameter is out of range or not allowed",
	contract.CodeNotConnected:   "the servo is not connected (run connect)",
	contract.CodeQueueFull:      "the device's command queue is full",
	contract.CodeEStopLatched:   "an emergency stop is latched (run reset, then try again)",
	contract.CodeEStopped:       "an emergency stop interrupted the command",
	contract.CodeCancelled:      "the command was cancelled",
	contract.CodeExpired:        "the command expired before it could run",
	contract.CodeTimeout:        "the move did not finish in time or stalled",
	contract.CodeHardwareError:  "the servo reports a hardware error",
	contract.CodeSerialError:    "the serial link to the servo failed",
	contract.CodeInternal:       "internal error in the agent",
	contract.CodeInterrupted:    "the agent stopped while the command ran; its outcome is unknown",
}

// moveFields are the fields of contract.MoveResult, as pointers: a field
// the device did not send is left out of the table, never shown as 0.
type moveFields struct {
	Success    *bool    `json:"success"`
	Reason     *string  `json:"reason"`
	Hotel      *string  `json:"hotel"`
	Precise    *bool    `json:"precise"`
	Target     *float64 `json:"target_angle"`
	FinalAngle *float64 `json:"final_angle"`
	FinalError *float64 `json:"final_error"`
	Pulses     *int     `json:"pulses"`
	DurationS  *float64 `json:"duration_s"`
}

// renderMarkdown is the run's outcome as a markdown heading and table.
func renderMarkdown(rep runReport) string {
	var rows [][2]string
	add := func(k, v string) { rows = append(rows, [2]string{k, v}) }
	add("Outcome", outcomeWords(rep))
	if rep.Reply != nil && rep.Reply.Error != nil {
		e := rep.Reply.Error
		words := codeWords[e.Code]
		if words == "" {
			words = "error reported by the device"
		}
		add("Error code", fmt.Sprintf("%s: %s", e.Code, words))
		add("Error message", e.Message)
	} else if rep.Proposed.Message != "" && (rep.Proposed.Type != prefect.StateCompleted || stateName(rep) != rep.Proposed.Name) {
		add("Message", rep.Proposed.Message)
	}
	var result json.RawMessage
	if rep.Reply != nil {
		result = bytes.TrimSpace(rep.Reply.Result)
	}
	switch {
	case len(result) == 0 || string(result) == "null":
	case isMove(rep.Command):
		moveRows(result, add)
	case rep.Command == contract.GetHealth || rep.Command == contract.Reboot:
		for _, h := range healthRows(rep) {
			add(h.Reading, h.text())
		}
	default:
		genericRows(result, add)
	}
	add("Device", rep.Device)
	add("Command", rep.Command)
	add("Command id", rep.CommandID)
	if len(rep.Sent) > 0 {
		b, _ := json.Marshal(rep.Sent)
		add("Parameters sent", string(b))
	}
	if rep.Reply != nil {
		if rep.Reply.StartedAt != nil {
			add("Started", rep.Reply.StartedAt.UTC().Format(time.RFC3339))
		}
		if !rep.Reply.FinishedAt.IsZero() {
			add("Finished", rep.Reply.FinishedAt.UTC().Format(time.RFC3339))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### %s on %s: %s\n\n| Field | Value |\n| --- | --- |\n", cell(rep.Flow), cell(rep.Device), cell(stateName(rep)))
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", cell(r[0]), cell(r[1]))
	}
	return b.String()
}

func isMove(cmd string) bool {
	return cmd == contract.ActivateHotel || cmd == contract.MoveToAngle || cmd == contract.GoHome
}

// stateName is the state Prefect holds now (AwaitingRetry, Cancelled, ...),
// or the proposed one when unknown.
func stateName(rep runReport) string {
	if rep.Now != nil && rep.Now.Name != "" {
		return rep.Now.Name
	}
	return rep.Proposed.Name
}

// outcomeWords is the first row: what happened, in words.
func outcomeWords(rep runReport) string {
	var s string
	typ := rep.Proposed.Type
	if rep.Now != nil && rep.Now.Type.IsFinal() {
		typ = rep.Now.Type // Prefect chose another final state (Cancelled)
	}
	switch typ {
	case prefect.StateCompleted:
		s = "Completed: the device did it"
		if isMove(rep.Command) && rep.Reply != nil {
			var m moveFields
			if json.Unmarshal(rep.Reply.Result, &m) == nil && m.Hotel != nil && *m.Hotel != "" {
				s = "Completed: hotel " + *m.Hotel + " is at the access position"
			} else if m.FinalAngle != nil {
				s = fmt.Sprintf("Completed: the carousel is at %.2f°", *m.FinalAngle)
			}
		}
	case prefect.StateFailed:
		s = "Failed: the device refused or could not finish the command"
	case prefect.StateCrashed:
		s = "Crashed: no outcome from the device (see the message)"
	case prefect.StateCancelled:
		s = "Cancelled in Prefect"
	default:
		s = string(rep.Proposed.Type)
	}
	if rep.Now != nil && rep.Now.Type == prefect.StateScheduled {
		s += "; Prefect retries the run (" + rep.Now.Name + ")"
	}
	return s
}

// moveRows adds the fields of a move's result.
func moveRows(raw json.RawMessage, add func(k, v string)) {
	var m moveFields
	if json.Unmarshal(raw, &m) != nil {
		genericRows(raw, add)
		return
	}
	if m.Hotel != nil && *m.Hotel != "" {
		add("Hotel", *m.Hotel)
	}
	deg := func(k string, v *float64) {
		if v != nil {
			add(k, fmt.Sprintf("%.2f°", *v))
		}
	}
	deg("Target angle", m.Target)
	deg("Final angle", m.FinalAngle)
	deg("Final error", m.FinalError)
	if m.Success != nil {
		add("Reached the target", yesNo(*m.Success))
	}
	if m.Reason != nil && *m.Reason != "" {
		add("How it ended", *m.Reason)
	}
	if m.Precise != nil {
		add("Precise move", yesNo(*m.Precise))
	}
	if m.Pulses != nil {
		add("Pulses", fmt.Sprint(*m.Pulses))
	}
	if m.DurationS != nil {
		add("Duration", fmt.Sprintf("%.2f s", *m.DurationS))
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// healthRow is one reading of the health table artifact.
type healthRow struct {
	Reading string `json:"reading"`
	Value   any    `json:"value"`
	Unit    string `json:"unit"`
}

func (h healthRow) text() string {
	v := fmt.Sprint(h.Value)
	if h.Value == nil {
		v = "not read"
	}
	if h.Unit != "" && h.Value != nil {
		v += " " + h.Unit
	}
	return v
}

// healthRows are the readings of a get_health (or reboot) result, or nil
// when the run has none.
func healthRows(rep runReport) []healthRow {
	if rep.Reply == nil || (rep.Command != contract.GetHealth && rep.Command != contract.Reboot) {
		return nil
	}
	var h contract.Health
	if json.Unmarshal(rep.Reply.Result, &h) != nil {
		return nil
	}
	num := func(p *float64) any {
		if p == nil {
			return nil
		}
		return *p
	}
	hw, warnings := "none", "none"
	if h.HardwareError != nil && h.HardwareError.Raw != 0 {
		hw = fmt.Sprintf("%s (raw %d)", strings.Join(h.HardwareError.Flags, ", "), h.HardwareError.Raw)
	}
	if len(h.Warnings) > 0 {
		warnings = strings.Join(h.Warnings, "; ")
	}
	rows := []healthRow{
		{"Temperature", num(h.TemperatureC), "°C"},
		{"Voltage", num(h.VoltageV), "V"},
		{"Current", num(h.CurrentMA), "mA"},
		{"Hardware error", hw, ""},
		{"Warnings", warnings, ""},
		{"Serial port", h.Serial.Port, ""},
		{"Serial link connected", yesNo(h.Serial.Connected), ""},
		{"Serial transactions", h.Serial.Stats.Transactions, ""},
		{"Serial errors", h.Serial.Stats.Errors, ""},
		{"Serial timeouts", h.Serial.Stats.Timeouts, ""},
		{"Serial reconnects", h.Serial.Stats.Reconnects, ""},
	}
	if h.Servo != nil {
		rows = append(rows, healthRow{"Servo", fmt.Sprintf("%s, firmware %d, id %d", h.Servo.Model, h.Servo.Firmware, h.Servo.MotorID), ""})
	}
	rows = append(rows,
		healthRow{"Agent version", h.Agent.Version, ""},
		healthRow{"Agent uptime", fmt.Sprintf("%.0f", h.Agent.UptimeS), "s"},
		healthRow{"Commands ok / failed", fmt.Sprintf("%d / %d", h.Agent.Commands.OK, h.Agent.Commands.Error), ""},
	)
	if !h.ReadAt.IsZero() {
		rows = append(rows, healthRow{"Read at", h.ReadAt.UTC().Format(time.RFC3339), ""})
	}
	return rows
}

// maxGenericRows bounds the table of an unknown result.
const maxGenericRows = 40

// genericRows adds any result: an object's fields (nested ones as
// "a / b"), a scalar as one row.
func genericRows(raw json.RawMessage, add func(k, v string)) {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		add("Result", string(raw))
		return
	}
	n := 0
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		if n >= maxGenericRows {
			return
		}
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(join(prefix, fieldTitle(k)), m[k])
			}
			return
		}
		n++
		if n == maxGenericRows {
			add("…", "more fields in the run's result")
			return
		}
		switch x := v.(type) {
		case nil:
			add(orResult(prefix), "none")
		case string:
			add(orResult(prefix), x)
		case bool:
			add(orResult(prefix), yesNo(x))
		default:
			b, _ := json.Marshal(x)
			add(orResult(prefix), string(b))
		}
	}
	walk("", v)
}

func join(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + " / " + k
}

func orResult(k string) string {
	if k == "" {
		return "Result"
	}
	return k
}

// unitSuffixes turn a field's unit suffix into words: "position_deg" ->
// "Position (°)".
var unitSuffixes = []struct{ suffix, unit string }{
	{"_deg_s", "°/s"}, {"_deg", "°"}, {"_rpm", "rpm"}, {"_ms", "ms"}, {"_s", "s"},
	{"_c", "°C"}, {"_v", "V"}, {"_ma", "mA"},
}

func fieldTitle(k string) string {
	unit := ""
	for _, u := range unitSuffixes {
		if strings.HasSuffix(k, u.suffix) && len(k) > len(u.suffix) {
			k, unit = strings.TrimSuffix(k, u.suffix), u.unit
			break
		}
	}
	t := strings.ReplaceAll(k, "_", " ")
	if t != "" {
		t = strings.ToUpper(t[:1]) + t[1:]
	}
	if unit != "" {
		t += " (" + unit + ")"
	}
	return t
}

// cell makes s safe inside a markdown table cell: one line, no column
// breaks, no HTML (the device's text is not trusted), clipped.
func cell(s string) string {
	s = contract.Clip(s, maxCell)
	r := strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ", "|", `\|`, "<", "&lt;", ">", "&gt;", "`", "'")
	return r.Replace(s)
}
