package agent_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

func simAt(deg float64) sim.Config { return sim.Config{InitialPosition: xseries.Degrees(deg)} }

func TestDuplicateIDExecutesOnce(t *testing.T) {
	e := newEnv(t, opts{})
	s := e.replies()
	before := goalWrites(e.servo)
	payload := `{"hotel":"C","id":"dup-1"}`
	e.pub("activate_hotel", payload) // runs
	e.pub("activate_hotel", payload) // joins the running command
	first := waitReply(t, s, "activate_hotel", "dup-1", 20*time.Second)
	if first.Status != "ok" {
		t.Fatalf("first %+v", first)
	}
	moved := goalWrites(e.servo) - before
	e.pub("activate_hotel", payload) // after it finished: stored reply
	var dups int
	deadline := time.Now().Add(5 * time.Second)
	for dups < 2 && time.Now().Before(deadline) {
		dups = 0
		for _, l := range s.Lines() {
			if r := parseLine(t, l); r.Duplicate && r.ID != nil && *r.ID == "dup-1" {
				dups++
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if dups < 2 {
		t.Fatalf("want 2 duplicate replies, got %d: %v", dups, s.Lines())
	}
	if after := goalWrites(e.servo) - before; after != moved || moved == 0 {
		t.Fatalf("goal position writes: %d during the command, %d in total: the duplicate moved the servo", moved, after)
	}
	// The same id for another command is refused, not executed.
	e.pub("go_home", `{"id":"dup-1"}`)
	r := waitReply(t, s, "go_home", "dup-1", 5*time.Second)
	if r.Status != "error" || r.Error.Code != "bad_request" || goalWrites(e.servo)-before != moved {
		t.Fatalf("reused id: %+v", r)
	}
}

func TestExpiredAndRetainedCommandsRefused(t *testing.T) {
	brokers(t, func(t *testing.T, mosq bool) {
		e := newEnv(t, opts{mosquitto: mosq})
		s := e.replies()
		before := goalWrites(e.servo)
		e.pub("activate_hotel", `{"hotel":"B","id":"old","expires_at":"2020-01-01T00:00:00Z"}`)
		if r := waitReply(t, s, "activate_hotel", "old", 5*time.Second); r.Error == nil || r.Error.Code != "expired" {
			t.Fatalf("expired: %+v", r)
		}
		e.pub("activate_hotel", `{"hotel":"B","id":"kept"}`, "-r")
		if r := waitReply(t, s, "activate_hotel", "kept", 5*time.Second); r.Error == nil || r.Error.Code != "bad_request" || !strings.Contains(r.Error.Message, "retained") {
			t.Fatalf("retained: %+v", r)
		}
		// MQTT 5 message expiry: 1 s, queued behind a long move.
		if goalWrites(e.servo) != before {
			t.Fatal("a refused command moved the servo")
		}
		e.pub("activate_hotel", "", "-r") // clear the retained command
	})
}

func TestExpiryWhileQueued(t *testing.T) {
	e := newEnv(t, opts{sim: simAt(10), mut: func(c *agent.Config) { c.Resort.DefaultSpeed = 20 }})
	s := e.replies()
	e.pub("move_to_angle", `{"angle":200,"id":"slow"}`)
	e.waitRetained("state", func(s string) bool { return decodeState(t, s).Moving })
	e.pub("activate_hotel", `{"hotel":"A","id":"v5exp"}`, "-V", "5", "-D", "publish", "message-expiry-interval", "1")
	e.pub("activate_hotel", `{"hotel":"A","id":"ttl","ttl_s":1}`)
	before := goalWrites(e.servo)
	for _, id := range []string{"v5exp", "ttl"} {
		r := waitReply(t, s, "activate_hotel", id, 30*time.Second)
		if r.Error == nil || r.Error.Code != "expired" {
			t.Fatalf("%s: %+v", id, r)
		}
	}
	waitReply(t, s, "move_to_angle", "slow", 30*time.Second)
	if n := goalWrites(e.servo) - before; n > 3 {
		t.Fatalf("expired commands moved the servo (%d goal writes)", n)
	}
}

func TestEmergencyStopDuringLongMove(t *testing.T) {
	brokers(t, func(t *testing.T, mosq bool) {
		e := newEnv(t, opts{mosquitto: mosq, sim: simAt(10), mut: func(c *agent.Config) { c.Resort.DefaultSpeed = 15 }})
		s := e.replies()
		e.pub("move_to_angle", `{"angle":300,"id":"long"}`)
		e.pub("activate_hotel", `{"hotel":"B","id":"queued"}`)
		e.waitRetained("state", func(s string) bool { return decodeState(t, s).Moving })
		var torqueOff time.Time
		e.servo.OnWrite(func(addr uint16, data []byte, at time.Time) {
			if addr == xseries.TorqueEnable.Addr && data[0] == 0 && torqueOff.IsZero() {
				torqueOff = at
			}
		})
		sent := time.Now()
		e.pub("emergency_stop", `{"id":"stop!"}`)
		r := waitReply(t, s, "emergency_stop", "stop!", 5*time.Second)
		if r.Status != "ok" || e.servo.Snapshot().Torque {
			t.Fatalf("e-stop reply %+v, torque %v", r, e.servo.Snapshot().Torque)
		}
		if torqueOff.IsZero() || torqueOff.Sub(sent) > time.Second {
			t.Fatalf("torque-off write %v after publish", torqueOff.Sub(sent))
		}
		if r := waitReply(t, s, "move_to_angle", "long", 5*time.Second); r.Error == nil || r.Error.Code != "estopped" {
			t.Fatalf("interrupted move: %+v", r)
		}
		if r := waitReply(t, s, "activate_hotel", "queued", 5*time.Second); r.Error == nil || r.Error.Code != "estopped" {
			t.Fatalf("queued move: %+v", r)
		}
		// Latched: motion refused until reset.
		e.pub("activate_hotel", `{"hotel":"A","id":"after"}`)
		if r := waitReply(t, s, "activate_hotel", "after", 5*time.Second); r.Error == nil || r.Error.Code != "estop_latched" {
			t.Fatalf("move while latched: %+v", r)
		}
		time.Sleep(300 * time.Millisecond)
		if e.servo.Snapshot().Torque {
			t.Fatal("torque came back on while latched")
		}
		st := decodeState(t, e.waitRetained("state", func(s string) bool { return decodeState(t, s).EStop }))
		if st.Torque {
			t.Fatalf("state %+v", st)
		}
		e.pub("reset", `{"id":"r"}`)
		waitReply(t, s, "reset", "r", 5*time.Second)
		e.pub("activate_hotel", `{"hotel":"A","id":"again"}`)
		if r := waitReply(t, s, "activate_hotel", "again", 30*time.Second); r.Status != "ok" {
			t.Fatalf("after reset: %+v %s", r, r.Result)
		}
	})
}

func TestHostilePayloadsNeverMove(t *testing.T) {
	e := newEnv(t, opts{})
	s := e.replies()
	before := goalWrites(e.servo)
	cases := []struct{ cmd, payload, code, mention string }{
		{"activate_hotel", "Z", "invalid_argument", "not one of"},
		{"activate_hotel", `{"hotel":"A","hotel":"B"}`, "bad_request", "twice"},
		{"activate_hotel", `{"hotel":"A","extra":1}`, "invalid_argument", "unknown field"},
		{"activate_hotel", `{"hotel":["A"]}`, "invalid_argument", "must be a string"},
		{"move_to_angle", "NaN", "bad_request", "not a number"},
		{"move_to_angle", "400", "invalid_argument", "below 360"},
		{"move_to_angle", `{"angle":"90"}`, "invalid_argument", "must be a number"},
		{"set_speed", "-5", "invalid_argument", "minimum"},
		{"set_speed", "1e9", "invalid_argument", "maximum"},
		{"go_home", "{", "bad_request", "JSON"},
		{"go_home", "null", "bad_request", "not a bare value"},
		{"connect", `{"port":"/etc/passwd"}`, "invalid_argument", "not one of"},
		{"fly", "{}", "unknown_command", "fly"},
	}
	for i, c := range cases {
		e.pub(c.cmd, c.payload)
		name := c.cmd
		if c.cmd == "fly" {
			name = "_unknown"
		}
		r := waitReply(t, s, name, "", 5*time.Second)
		_ = i
		if r.Error == nil || r.Error.Code != c.code || !strings.Contains(r.Error.Message, c.mention) {
			t.Fatalf("%s %q: got %+v", c.cmd, c.payload, r.Error)
		}
		s = e.replies() // fresh subscription so the next wait sees only new replies
	}
	// Oversized and non-UTF-8 payloads through files.
	big := strings.Repeat("x", 20000)
	e.pub("activate_hotel", big)
	if r := waitReply(t, s, "activate_hotel", "", 5*time.Second); r.Error == nil || r.Error.Code != "bad_request" || !strings.Contains(r.Error.Message, "at most") {
		t.Fatalf("oversized: %+v", r)
	}
	s = e.replies()
	e.pub("activate_hotel", "\xff\xfeA")
	if r := waitReply(t, s, "activate_hotel", "", 5*time.Second); r.Error == nil || !strings.Contains(r.Error.Message, "UTF-8") {
		t.Fatalf("non-UTF-8: %+v", r)
	}
	if n := goalWrites(e.servo) - before; n != 0 {
		t.Fatalf("hostile payloads caused %d goal writes", n)
	}
	// And the agent is still fine.
	s = e.replies()
	e.pub("get_position", "")
	if r := waitReply(t, s, "get_position", "", 5*time.Second); r.Status != "ok" {
		t.Fatalf("after hostile input: %+v", r)
	}
}

func TestQueueFullCancelAndStop(t *testing.T) {
	e := newEnv(t, opts{sim: simAt(10), mut: func(c *agent.Config) { c.Resort.DefaultSpeed = 15; c.QueueSize = 2 }})
	s := e.replies()
	e.pub("move_to_angle", `{"angle":300,"id":"m0"}`)
	e.waitRetained("state", func(s string) bool { return decodeState(t, s).Moving })
	for i := 1; i <= 3; i++ {
		e.pub("move_to_angle", fmt.Sprintf(`{"angle":%d,"id":"m%d"}`, 20+i, i))
	}
	if r := waitReply(t, s, "move_to_angle", "m3", 5*time.Second); r.Error == nil || r.Error.Code != "queue_full" {
		t.Fatalf("third queued: %+v", r)
	}
	e.pub("cancel", "m1")
	if r := waitReply(t, s, "move_to_angle", "m1", 5*time.Second); r.Error == nil || r.Error.Code != "cancelled" {
		t.Fatalf("cancelled queued: %+v", r)
	}
	e.pub("cancel", `{"command_id":"nope","id":"c2"}`)
	if r := waitReply(t, s, "cancel", "c2", 5*time.Second); r.Error == nil || r.Error.Code != "invalid_argument" {
		t.Fatalf("cancel of unknown id: %+v", r)
	}
	e.pub("stop", `{"id":"halt"}`)
	if r := waitReply(t, s, "move_to_angle", "m0", 5*time.Second); r.Error == nil || r.Error.Code != "cancelled" {
		t.Fatalf("running move after stop: %+v", r)
	}
	if r := waitReply(t, s, "move_to_angle", "m2", 5*time.Second); r.Error == nil || r.Error.Code != "cancelled" {
		t.Fatalf("queued move after stop: %+v", r)
	}
	r := waitReply(t, s, "stop", "halt", 10*time.Second)
	if r.Status != "ok" {
		t.Fatalf("stop: %+v", r)
	}
	time.Sleep(300 * time.Millisecond)
	st := e.servo.Snapshot()
	if !st.Torque || st.Moving {
		t.Fatalf("after stop the carousel must hold with torque on: %+v", st)
	}
	var res struct {
		Interrupted string `json:"interrupted"`
		Dropped     int    `json:"dropped"`
	}
	_ = json.Unmarshal(r.Result, &res)
	if res.Interrupted != "m0" || res.Dropped != 1 {
		t.Fatalf("stop result %s", r.Result)
	}
}
