package agent_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// Both brokers: the embedded one and a real mosquitto.
func brokers(t *testing.T, f func(t *testing.T, mosquitto bool)) {
	t.Run("embedded", func(t *testing.T) { f(t, false) })
	t.Run("mosquitto", func(t *testing.T) { f(t, true) })
}

func TestBareHotelActivatesAndStateIsRetained(t *testing.T) {
	brokers(t, func(t *testing.T, mosq bool) {
		e := newEnv(t, opts{mosquitto: mosq})
		s := e.replies()
		e.pub("activate_hotel", "B")
		r := waitReply(t, s, "activate_hotel", "", 20*time.Second)
		if r.Status != "ok" {
			t.Fatalf("reply %+v %s", r, r.Result)
		}
		var res struct {
			Success    bool    `json:"success"`
			Hotel      string  `json:"hotel"`
			FinalAngle float64 `json:"final_angle"`
			FinalError float64 `json:"final_error"`
			Reason     string  `json:"reason"`
		}
		if err := json.Unmarshal(r.Result, &res); err != nil || !res.Success || res.Hotel != "B" || math.Abs(res.FinalAngle-109) > 0.5 {
			t.Fatalf("result %s", r.Result)
		}
		e.waitRetained("state", func(s string) bool {
			st := decodeState(t, s)
			return st.ActiveHotel != nil && *st.ActiveHotel == "B" && !st.Moving && st.Busy == nil && st.Torque
		})
	})
}

func TestMQTT5RequestResponseWithCorrelation(t *testing.T) {
	brokers(t, func(t *testing.T, mosq bool) {
		e := newEnv(t, opts{mosquitto: mosq})
		out, err := testenv.Run(t, 15*time.Second, "mosquitto_rr", append(e.conn(),
			"-t", e.cfg.Topics().Command(contract.GetPosition), "-e", contract.Responses(e.cfg.Prefix, "alice")+"/"+e.cfg.Device,
			"-m", `{"id":"rr-1"}`, "-D", "publish", "correlation-data", "corr-xyz", "-F", "%D %p", "-W", "10")...)
		if err != nil {
			t.Fatal(err)
		}
		corr, payload, _ := strings.Cut(strings.TrimSpace(out), " ")
		if corr != "corr-xyz" {
			t.Fatalf("correlation data %q not echoed (output %q)", corr, out)
		}
		var r struct {
			ID     string
			Status string
			Result struct {
				PositionDeg *float64 `json:"position_deg"`
			}
		}
		if err := json.Unmarshal([]byte(payload), &r); err != nil || r.ID != "rr-1" || r.Status != "ok" || r.Result.PositionDeg == nil {
			t.Fatalf("reply %q: %v", payload, err)
		}
	})
}

func TestReplyToForMQTT311Callers(t *testing.T) {
	e := newEnv(t, opts{})
	own := testenv.StartSub(t, append(e.conn(), "-t", contract.Responses(e.cfg.Prefix, "bob")+"/#", "-v")...)
	e.pub("get_active_hotel", `{"id":"q1","reply_to":"`+contract.Responses(e.cfg.Prefix, "bob")+"/"+e.cfg.Device+`"}`)
	line := own.Wait(t, 10*time.Second, func(l string) bool { return strings.Contains(l, `"id":"q1"`) })
	if !strings.HasPrefix(line, contract.Responses(e.cfg.Prefix, "bob")+"/"+e.cfg.Device+" ") {
		t.Fatalf("reply on %q", line)
	}
	// A reply_to naming the agent's own telemetry is refused: no caller
	// may make the agent overwrite its retained state.
	before := e.retained("state")
	e.pub("get_position", `{"id":"q2","reply_to":"`+e.cfg.Topics().State()+`"}`)
	time.Sleep(500 * time.Millisecond)
	if after := e.retained("state"); strings.Contains(after, `"command"`) && strings.Contains(after, "q2") {
		t.Fatalf("state overwritten by a reply: %q (was %q)", after, before)
	}
}

func TestInfoCarriesCatalogueAndHotels(t *testing.T) {
	e := newEnv(t, opts{})
	raw := e.waitRetained("info", func(s string) bool { return strings.Contains(s, "activate_hotel") })
	var info contract.Info
	if err := json.Unmarshal([]byte(raw), &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Hotels) != 4 || info.Hotels[1].Name != "B" || info.Hotels[1].Angle != 109 || info.Servo.ModelNumber != 1030 {
		t.Fatalf("info %+v", info)
	}
	names := map[string]bool{}
	for _, c := range info.Commands {
		names[c.Name] = true
		if c.Params == nil || c.Params.Type != "object" {
			t.Fatalf("%s has no schema", c.Name)
		}
	}
	for _, want := range []string{"connect", "disconnect", "activate_hotel", "go_home", "move_to_angle", "set_speed", "stop", "emergency_stop", "reset", "cancel", "reboot", "get_health", "get_position", "get_active_hotel"} {
		if !names[want] {
			t.Fatalf("command %s missing from info", want)
		}
	}
}

func TestHomeAssistantDiscovery(t *testing.T) {
	e := newEnv(t, opts{})
	topics := []string{"select/resort-1/hotel", "sensor/resort-1/position", "sensor/resort-1/temperature",
		"sensor/resort-1/voltage", "sensor/resort-1/current", "binary_sensor/resort-1/moving",
		"binary_sensor/resort-1/problem", "binary_sensor/resort-1/estop", "button/resort-1/emergency_stop",
		"button/resort-1/go_home", "button/resort-1/reset", "number/resort-1/speed"}
	all := testenv.StartSub(t, append(e.conn(), "-t", "homeassistant/#", "-v")...)
	for _, tp := range topics {
		all.Wait(t, 5*time.Second, func(l string) bool { return strings.HasPrefix(l, "homeassistant/"+tp+"/config ") })
	}
	got := strings.Join(all.Lines(), "\n")
	for _, tp := range topics {
		line := ""
		for _, l := range strings.Split(got, "\n") {
			if strings.HasPrefix(l, "homeassistant/"+tp+"/config ") {
				line = l
			}
		}
		if line == "" {
			t.Fatalf("no discovery for %s in:\n%s", tp, got)
		}
		var cfg map[string]any
		if err := json.Unmarshal([]byte(strings.SplitN(line, " ", 2)[1]), &cfg); err != nil {
			t.Fatal(err)
		}
		av, _ := cfg["availability"].([]any)
		dev, _ := cfg["device"].(map[string]any)
		if len(av) != 1 || dev == nil || cfg["unique_id"] == nil {
			t.Fatalf("%s: missing availability/device/unique_id: %v", tp, cfg)
		}
	}
	// Device triggers for an e-stop and a fault, fed by the event stream:
	// HA applies value_template to each event and fires on an exact match
	// of payload.
	for object, event := range map[string]string{"estop_trigger": "estop", "fault_trigger": "fault"} {
		line := all.Wait(t, 5*time.Second, func(l string) bool {
			return strings.HasPrefix(l, "homeassistant/device_automation/resort-1/"+object+"/config ")
		})
		var cfg map[string]any
		if err := json.Unmarshal([]byte(strings.SplitN(line, " ", 2)[1]), &cfg); err != nil {
			t.Fatal(err)
		}
		dev, _ := cfg["device"].(map[string]any)
		ids, _ := dev["identifiers"].([]any)
		if cfg["automation_type"] != "trigger" || cfg["topic"] != e.base()+"/event" || cfg["payload"] != event ||
			cfg["value_template"] != "{{ value_json.type }}" || cfg["type"] == nil || cfg["subtype"] == nil ||
			len(ids) != 1 || ids[0] != "plate-resort-resort-1" {
			t.Fatalf("%s: %v", object, cfg)
		}
	}
	// Home Assistant restarting asks for discovery again.
	s := testenv.StartSub(t, append(e.conn(), "-t", "homeassistant/button/#", "-v")...)
	s.Wait(t, 5*time.Second, func(string) bool { return true }) // retained copies
	n := len(s.Lines())
	if _, err := testenv.Run(t, 5*time.Second, "mosquitto_pub", append(e.conn(), "-t", "homeassistant/status", "-m", "online")...); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Lines()) < n+3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if len(s.Lines()) < n+3 {
		t.Fatalf("discovery not republished on homeassistant/status online (%d -> %d lines)", n, len(s.Lines()))
	}
}

func TestReadsAnswerDuringAMove(t *testing.T) {
	e := newEnv(t, opts{sim: simAt(10), mut: func(c *agent.Config) { c.Resort.DefaultSpeed = 20 }})
	s := e.replies()
	e.pub("move_to_angle", `{"angle":300,"id":"long"}`)
	e.waitRetained("state", func(s string) bool { st := decodeState(t, s); return st.Moving })
	start := time.Now()
	e.pub("get_position", `{"id":"p1"}`)
	r := waitReply(t, s, "get_position", "p1", 5*time.Second)
	if r.Status != "ok" || time.Since(start) > 2*time.Second {
		t.Fatalf("read during move: %+v after %s", r, time.Since(start))
	}
	st := decodeState(t, e.retained("state"))
	if !st.Moving || st.Busy == nil || st.Busy.Command != "move_to_angle" {
		t.Fatalf("read did not happen during the move: %+v", st)
	}
}

func TestStateAtFiveHertzWhileMoving(t *testing.T) {
	e := newEnv(t, opts{sim: simAt(10), mut: func(c *agent.Config) { c.Resort.DefaultSpeed = 20 }})
	sub := testenv.StartSub(t, append(e.conn(), "-t", e.cfg.Topics().State())...)
	e.pub("move_to_angle", `{"angle":120,"id":"rate"}`)
	sub.Wait(t, 5*time.Second, func(l string) bool { return strings.Contains(l, `"moving":true`) })
	time.Sleep(2 * time.Second)
	var moving []string
	positions := map[string]bool{}
	for _, l := range sub.Lines() {
		if strings.Contains(l, `"moving":true`) {
			moving = append(moving, l)
			var st state
			_ = json.Unmarshal([]byte(l), &st)
			if st.PositionDeg != nil {
				positions[strings.TrimSpace(strings.Split(strings.Split(l, `"position_deg":`)[1], ",")[0])] = true
			}
		}
	}
	// 2 s of moving at >= 5 Hz is at least 10 messages; live positions change.
	if len(moving) < 10 || len(positions) < 5 {
		t.Fatalf("%d moving states with %d distinct positions in ~2 s", len(moving), len(positions))
	}
}
