package agent_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

type health struct {
	Warnings []string `json:"warnings"`
	Serial   struct {
		Connected bool `json:"connected"`
		Stats     struct {
			Reconnects uint64 `json:"reconnects"`
		} `json:"stats"`
	} `json:"serial"`
	TemperatureC *float64 `json:"temperature_c"`
	ReadAt       string   `json:"read_at"`
}

func decodeHealth(t *testing.T, s string) health {
	var h health
	if err := json.Unmarshal([]byte(s), &h); err != nil {
		t.Fatalf("health %q: %v", s, err)
	}
	return h
}

func TestSerialUnplugAndReplug(t *testing.T) {
	e := newEnv(t, opts{})
	s := e.replies()
	e.waitRetained("health", func(s string) bool { h := decodeHealth(t, s); return h.Serial.Connected && h.TemperatureC != nil })
	if err := e.pty.Unplug(); err != nil {
		t.Fatal(err)
	}
	unplugged := time.Now()
	// A command notices at once and fails fast.
	e.pub("get_position", `{"id":"u1"}`)
	r := waitReply(t, s, "get_position", "u1", 5*time.Second)
	if r.Error == nil || r.Error.Code != "not_connected" {
		t.Fatalf("while unplugged: %+v", r)
	}
	// Health says so within one interval (500 ms here) of the failure.
	e.waitRetained("health", func(s string) bool {
		h := decodeHealth(t, s)
		return !h.Serial.Connected && len(h.Warnings) > 0 && strings.Contains(strings.Join(h.Warnings, ";"), "serial link down")
	})
	if d := time.Since(unplugged); d > 3*time.Second {
		t.Fatalf("health took %s to show the unplug", d)
	}
	e.waitRetained("state", func(s string) bool { return !decodeState(t, s).Connected })
	e.pub("activate_hotel", `{"hotel":"B","id":"u2"}`)
	if r := waitReply(t, s, "activate_hotel", "u2", 5*time.Second); r.Error == nil || r.Error.Code != "not_connected" {
		t.Fatalf("move while unplugged: %+v", r)
	}
	if err := e.pty.Replug(); err != nil {
		t.Fatal(err)
	}
	e.waitRetained("health", func(s string) bool {
		h := decodeHealth(t, s)
		return h.Serial.Connected && h.Serial.Stats.Reconnects >= 1
	})
	e.pub("activate_hotel", `{"hotel":"B","id":"u3"}`)
	if r := waitReply(t, s, "activate_hotel", "u3", 20*time.Second); r.Status != "ok" {
		t.Fatalf("after replug: %+v %s", r, r.Result)
	}
}

func TestBrokerRestartAgentReturnsWithRightState(t *testing.T) {
	e := newEnv(t, opts{mosquitto: true})
	s := e.replies()
	e.pub("activate_hotel", `{"hotel":"D","id":"b1"}`)
	if r := waitReply(t, s, "activate_hotel", "b1", 20*time.Second); r.Status != "ok" {
		t.Fatalf("%+v", r)
	}
	e.mosq.Stop()
	time.Sleep(500 * time.Millisecond)
	// Move the carousel while the broker is down (by hand, torque stays):
	// after the restart the retained state must tell the truth, not replay
	// what the broker persisted.
	e.mosq.Start()
	e.waitRetained("availability", func(s string) bool { return s == "online" })
	st := decodeState(t, e.waitRetained("state", func(s string) bool {
		st := decodeState(t, s)
		return st.ActiveHotel != nil && *st.ActiveHotel == "D"
	}))
	if !st.Connected || st.Busy != nil {
		t.Fatalf("state after broker restart %+v", st)
	}
	s2 := e.replies()
	e.pub("activate_hotel", `{"hotel":"A","id":"b2"}`)
	if r := waitReply(t, s2, "activate_hotel", "b2", 20*time.Second); r.Status != "ok" {
		t.Fatalf("after broker restart: %+v", r)
	}
	e.waitRetained("state", func(s string) bool {
		st := decodeState(t, s)
		return st.ActiveHotel != nil && *st.ActiveHotel == "A"
	})
}

func TestCommandsPublishedWhileOfflineAreNotExecuted(t *testing.T) {
	e := newEnv(t, opts{mosquitto: true})
	e.stop()
	e.waitRetained("availability", func(s string) bool { return s == "offline" })
	e.pub("activate_hotel", `{"hotel":"C","id":"while-away"}`)
	e.start() // its connect writes Goal Position = present once (hold)
	before := goalWrites(e.servo)
	time.Sleep(1 * time.Second)
	if n := goalWrites(e.servo) - before; n != 0 {
		t.Fatalf("a command published while the agent was offline moved the servo (%d goal writes)", n)
	}
	if p := e.servo.Snapshot().Position; p > 5 && p < 355 {
		t.Fatalf("servo moved to %.1f°", p)
	}
}

func TestShutdownPublishesOfflineAndWillCoversCrash(t *testing.T) {
	e := newEnv(t, opts{})
	sub := testenv.StartSub(t, append(e.conn(), "-t", e.cfg.Topics().Availability())...)
	sub.Wait(t, 5*time.Second, func(l string) bool { return l == "online" })
	e.stop()
	sub.Wait(t, 5*time.Second, func(l string) bool { return l == "offline" })
}
