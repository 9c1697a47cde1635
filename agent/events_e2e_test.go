package agent_test

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// eventLine decodes one "topic payload" line of the event stream.
func eventLine(t *testing.T, line string) contract.Event {
	t.Helper()
	_, payload, _ := strings.Cut(line, " ")
	ev, err := contract.DecodeEvent([]byte(payload))
	if err != nil {
		t.Fatalf("event %q: %v", line, err)
	}
	return ev
}

// waitEvent waits for an event of typ (and id, when not "") on s.
func waitEvent(t *testing.T, s *testenv.Sub, typ, id string, timeout time.Duration) contract.Event {
	t.Helper()
	return eventLine(t, s.Wait(t, timeout, func(l string) bool {
		_, p, _ := strings.Cut(l, " ")
		return strings.Contains(p, `"type":"`+typ+`"`) && (id == "" || strings.Contains(p, `"id":"`+id+`"`))
	}))
}

// auditAgent runs an agent whose log goes to logs (at info), and returns a
// function that stops it.
func auditAgent(t *testing.T, cfg agent.Config, logs *testenv.LockedBuffer) (stop func()) {
	t.Helper()
	return runAgent(t, cfg, zerolog.New(logs).Level(zerolog.InfoLevel))
}

// A move by a named operator, through the embedded broker with users:
// received -> started -> finished with the user the broker stamped and the
// flow run id; an e-stop and its reset are events; reads are not; get_events
// serves them after a restart; set_log_level works for admin only.
func TestEventsAuditAndLogLevel(t *testing.T) {
	testenv.NeedBinary(t, "mosquitto_rr")
	m := usersBroker(t, map[string]broker.UserConfig{
		"pi":    {Role: broker.RoleAgent, Devices: []string{"resort-1"}},
		"alice": {Role: broker.RoleOperator},
		"root":  {Role: broker.RoleAdmin},
	})
	as := m.as
	cfg, _, _ := simAgentConfig(t, sim.Config{})
	cfg.MQTT.URL, cfg.MQTT.Username, cfg.MQTT.Password = m.url(), "pi", "pi-pw"
	cfg.HomeAssistant.Enabled = false
	tp := cfg.Topics()
	if want := filepath.Join(filepath.Dir(cfg.JournalFile), "journal.events"); cfg.EventsPath() != want {
		t.Fatalf("EventsPath = %q, want %q next to the journal", cfg.EventsPath(), want)
	}

	logs := &testenv.LockedBuffer{}
	stop := auditAgent(t, cfg, logs)
	events := testenv.StartSub(t, append(as("alice"), "-q", "1", "-v", "-t", tp.Event())...)
	online := func(what string) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, what, func() bool { return m.retainedAs(t, "alice", tp.Availability()) == contract.Online })
	}
	online("agent online")
	rr := func(user, cmd, payload string) reply { t.Helper(); return m.rr(t, tp, user, cmd, payload) }

	// A move through the bridge's path: flow run id as a user property.
	if out, err := testenv.Run(t, 10*time.Second, "mosquitto_pub", append(as("alice"), "-q", "1", "-t", tp.Command(contract.ActivateHotel),
		"-D", "publish", "user-property", contract.FlowRunProperty, "flow-123",
		"-D", "publish", "user-property", contract.UserProperty, "mallory", // replaced by the broker
		"-m", `{"hotel":"B","id":"ev-1"}`)...); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	fin := waitEvent(t, events, contract.EventCommandFinished, "ev-1", 30*time.Second)
	var seq []string
	for _, l := range events.Lines() {
		if ev := eventLine(t, l); ev.ID == "ev-1" {
			seq = append(seq, ev.Type)
			if ev.User != "alice" || ev.FlowRunID != "flow-123" || ev.Command != contract.ActivateHotel {
				t.Errorf("event %+v: want user alice (the broker's stamp), flow run flow-123", ev)
			}
		}
	}
	if strings.Join(seq, ",") != "command_received,command_started,command_finished" {
		t.Fatalf("events of ev-1: %v", seq)
	}
	if fin.Outcome != "ok" || fin.DurationMS == nil || *fin.DurationMS < 50 {
		t.Fatalf("finished: %+v; want outcome ok and the move's duration", fin)
	}

	// A refused move is one command_finished with its code; no received.
	rr("alice", contract.ActivateHotel, `{"hotel":"B","id":"ev-2","ttl_s":0.000001}`)
	if ev := waitEvent(t, events, contract.EventCommandFinished, "ev-2", 5*time.Second); ev.Outcome != "expired" || ev.DurationMS != nil {
		t.Fatalf("refused: %+v", ev)
	}

	// E-stop and reset.
	rr("alice", contract.EmergencyStop, `{"id":"ev-3"}`)
	if ev := waitEvent(t, events, contract.EventEStop, "ev-3", 5*time.Second); ev.User != "alice" || ev.Outcome != "ok" {
		t.Fatalf("estop event: %+v", ev)
	}
	rr("alice", contract.Reset, `{"id":"ev-4"}`)
	if ev := waitEvent(t, events, contract.EventReset, "ev-4", 5*time.Second); ev.User != "alice" {
		t.Fatalf("reset event: %+v", ev)
	}
	waitEvent(t, events, contract.EventCommandFinished, "ev-4", 5*time.Second)

	// Reads are not history: 300 get_position in one burst add no event.
	before := len(events.Lines())
	replies := testenv.StartSub(t, append(as("alice"), "-q", "1", "-t", tp.Reply(contract.GetPosition))...)
	m.pubLines(t, "alice", tp.Command(contract.GetPosition), slices.Repeat([]string{"{}"}, 300))
	testenv.Eventually(t, 90*time.Second, "300 get_position replies", func() bool { return len(replies.Lines()) >= 300 })
	rr("alice", contract.GoHome, `{"id":"ev-5"}`) // a marker after the burst
	waitEvent(t, events, contract.EventCommandFinished, "ev-5", 30*time.Second)
	for _, l := range events.Lines()[before:] {
		if ev := eventLine(t, l); ev.Command == contract.GetPosition {
			t.Fatalf("a read became an event: %+v", ev)
		}
	}

	// get_events: oldest first, filtered, and bad input refused.
	r := rr("alice", contract.GetEvents, `{"limit":1000}`)
	var got contract.EventsResult
	if r.Status != "ok" || json.Unmarshal(r.Result, &got) != nil {
		t.Fatalf("get_events: %+v", r)
	}
	if n := len(got.Events); n < 10 || got.Events[n-1].ID != "ev-5" || got.Events[n-1].Type != contract.EventCommandFinished {
		t.Fatalf("get_events: %d events, last %+v; want ev-5 finished last", n, got.Events[len(got.Events)-1])
	}
	for i := 1; i < len(got.Events); i++ {
		if got.Events[i].At.Before(got.Events[i-1].At.Add(-time.Millisecond)) {
			t.Fatalf("not oldest first at %d: %v then %v", i, got.Events[i-1].At, got.Events[i].At)
		}
	}
	r = rr("alice", contract.GetEvents, `{"limit":1,"type":"estop"}`)
	if json.Unmarshal(r.Result, &got) != nil || len(got.Events) != 1 || got.Events[0].ID != "ev-3" {
		t.Fatalf("get_events estop: %+v", r)
	}
	for _, bad := range []string{`{"limit":0}`, `{"limit":1001}`, `{"limit":"ten"}`, `{"type":"explosion"}`, `{"limit":5,"extra":1}`} {
		if r := rr("alice", contract.GetEvents, bad); r.Error == nil || r.Error.Code != "invalid_argument" {
			t.Errorf("get_events %s: %+v, want invalid_argument", bad, r)
		}
	}

	// set_log_level: an operator's is refused by the broker (MQTT 5 PUBACK
	// 0x87) and never reaches the agent; the level stays info.
	out, _ := testenv.RunCombined(t, 10*time.Second, "mosquitto_pub", append(as("alice"), "-q", "1", "-t", tp.Command(contract.SetLogLevel), "-m", "debug")...)
	if !strings.Contains(out, "Not authorized") {
		t.Errorf("operator set_log_level: want 'Not authorized', got %q", out)
	}
	rr("alice", contract.GetHealth, "")
	time.Sleep(300 * time.Millisecond)
	if s := logs.String(); strings.Contains(s, "log level changed") || strings.Contains(s, `"level":"debug"`) {
		t.Fatalf("the operator's set_log_level had an effect:\n%s", s)
	}
	// The admin's goes through: reply, then debug lines in the log.
	r = rr("root", contract.SetLogLevel, `{"level":"debug","id":"lvl-1"}`)
	var lv contract.LogLevelResult
	if r.Status != "ok" || json.Unmarshal(r.Result, &lv) != nil || lv.Previous != "info" || lv.Level != "debug" {
		t.Fatalf("admin set_log_level: %+v", r)
	}
	rr("alice", contract.GetPosition, `{"id":"after-debug"}`)
	testenv.Eventually(t, 5*time.Second, "a debug line for the next command", func() bool {
		return strings.Contains(logs.String(), `"level":"debug"`) && strings.Contains(logs.String(), `"id":"after-debug"`)
	})
	if ev := waitEvent(t, events, contract.EventCommandFinished, "lvl-1", 5*time.Second); ev.User != "root" || ev.Command != contract.SetLogLevel {
		t.Fatalf("set_log_level event: %+v", ev)
	}
	r = rr("root", contract.SetLogLevel, "warn")
	if json.Unmarshal(r.Result, &lv) != nil || lv.Previous != "debug" || lv.Level != "warn" {
		t.Fatalf("back to warn: %+v", r)
	}
	n := len(logs.String())
	rr("alice", contract.GetPosition, `{"id":"after-warn"}`)
	time.Sleep(200 * time.Millisecond)
	if strings.Contains(logs.String()[n:], "after-warn") {
		t.Fatal("a debug line was written at warn")
	}

	// Restart with the same files: the history is still there.
	stop()
	logs2 := &testenv.LockedBuffer{}
	auditAgent(t, cfg, logs2)
	online("agent online again")
	r = rr("alice", contract.GetEvents, `{"limit":1000,"type":"command_received"}`)
	if json.Unmarshal(r.Result, &got) != nil || len(got.Events) == 0 || got.Events[0].ID != "ev-1" || got.Events[0].User != "alice" || got.Events[0].FlowRunID != "flow-123" {
		t.Fatalf("after restart: %+v", r)
	}
}

// The serial adapter unplugged and back gives link_down then link_up; an
// overload the servo reports is a fault event; a broker restart is an
// mqtt_reconnect, kept on disk and served by get_events.
func TestEventsForLinkFaultAndReconnect(t *testing.T) {
	e := newEnv(t, opts{mosquitto: true})
	events := testenv.StartSub(t, append(e.conn(), "-q", "1", "-v", "-t", e.cfg.Topics().Event())...)
	e.waitRetained("health", func(s string) bool { h := decodeHealth(t, s); return h.Serial.Connected && h.TemperatureC != nil })
	if err := e.pty.Unplug(); err != nil {
		t.Fatal(err)
	}
	down := waitEvent(t, events, contract.EventLinkDown, "", 5*time.Second)
	if err := e.pty.Replug(); err != nil {
		t.Fatal(err)
	}
	up := waitEvent(t, events, contract.EventLinkUp, "", 15*time.Second)
	if !up.At.After(down.At) || !strings.Contains(down.Message, e.cfg.Resort.Device) {
		t.Fatalf("link events: down %+v, up %+v", down, up)
	}

	e.servo.TriggerOverload()
	if ev := waitEvent(t, events, contract.EventFault, "", 5*time.Second); ev.Outcome != "hardware_error" || !strings.Contains(ev.Message, "overload") {
		t.Fatalf("fault event: %+v", ev)
	}

	e.mosq.Stop()
	time.Sleep(300 * time.Millisecond)
	e.mosq.Start()
	e.waitRetained("availability", func(s string) bool { return s == "online" })
	s := e.replies()
	e.pub(contract.GetEvents, `{"type":"mqtt_reconnect","id":"ge-1"}`)
	r := waitReply(t, s, contract.GetEvents, "ge-1", 10*time.Second)
	var got contract.EventsResult
	if r.Status != "ok" || json.Unmarshal(r.Result, &got) != nil || len(got.Events) != 1 {
		t.Fatalf("get_events mqtt_reconnect: %+v", r)
	}
	r2 := func() reply {
		e.pub(contract.GetEvents, `{"limit":1000,"id":"ge-2"}`)
		return waitReply(t, s, contract.GetEvents, "ge-2", 10*time.Second)
	}()
	if json.Unmarshal(r2.Result, &got) != nil {
		t.Fatal(r2)
	}
	var order []string
	for _, ev := range got.Events {
		switch ev.Type {
		case contract.EventLinkDown, contract.EventLinkUp, contract.EventFault, contract.EventMQTTReconnect:
			order = append(order, ev.Type)
		}
	}
	if strings.Join(order, ",") != "link_down,link_up,fault,mqtt_reconnect" {
		t.Fatalf("stored history: %v", order)
	}
}

// An events_path the agent cannot use (here a directory) does not stop the
// agent: commands run, events are still published, and get_events says
// what is wrong.
func TestUnusableEventLog(t *testing.T) {
	blocked := t.TempDir()
	e := newEnv(t, opts{mut: func(c *agent.Config) { c.EventsFile = blocked }})
	events := testenv.StartSub(t, append(e.conn(), "-q", "1", "-v", "-t", e.cfg.Topics().Event())...)
	s := e.replies()
	e.pub(contract.GoHome, `{"id":"u-1"}`)
	if r := waitReply(t, s, contract.GoHome, "u-1", 30*time.Second); r.Status != "ok" {
		t.Fatalf("go_home: %+v", r)
	}
	waitEvent(t, events, contract.EventCommandFinished, "u-1", 5*time.Second)
	e.pub(contract.GetEvents, `{"id":"u-2"}`)
	r := waitReply(t, s, contract.GetEvents, "u-2", 5*time.Second)
	if r.Error == nil || r.Error.Code != "internal" || !strings.Contains(r.Error.Message, "event log unavailable") || !strings.Contains(r.Error.Message, blocked) {
		t.Fatalf("get_events with an unusable file: %+v", r)
	}
}
