package contract

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// get_events and set_log_level refuse every bad input with invalid_argument
// naming the problem, and take the good ones with their defaults.
func TestEventsAndLogLevelParams(t *testing.T) {
	c := testCatalog()
	for _, tc := range []struct{ cmd, payload, mention string }{
		{GetEvents, `{"limit":0}`, "minimum 1"},
		{GetEvents, `{"limit":1001}`, "maximum 1000"},
		{GetEvents, `{"limit":"ten"}`, "must be a number"},
		{GetEvents, `{"limit":2.5}`, "whole number"},
		{GetEvents, `{"type":"explosion"}`, `"explosion" is not one of command_received`},
		{GetEvents, `{"limit":5,"since":"yesterday"}`, `unknown field "since"`},
		{SetLogLevel, `{"level":"verbose"}`, "not one of trace, debug, info, warn, error"},
		{SetLogLevel, `{}`, `missing required field "level"`},
		{SetLogLevel, `{"level":"debug","all":true}`, `unknown field "all"`},
		{SetLogLevel, `panic`, "not one of"},
	} {
		_, err := c.Parse(tc.cmd, []byte(tc.payload), now)
		if err == nil || err.Code != CodeInvalidArg || !strings.Contains(err.Message, tc.mention) {
			t.Errorf("%s %s: got %v, want invalid_argument mentioning %q", tc.cmd, tc.payload, err, tc.mention)
		}
	}
	r, err := c.Parse(GetEvents, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := r.Int("limit"); n != DefaultEventsLimit || r.String("type") != "" {
		t.Errorf("defaults: limit %d type %q", n, r.String("type"))
	}
	r, err = c.Parse(GetEvents, []byte(`{"limit":1000,"type":"ESTOP"}`), now)
	if err != nil || r.String("type") != EventEStop {
		t.Errorf("type is canonicalised: %v %v", r, err)
	}
	r, err = c.Parse(SetLogLevel, []byte("DEBUG"), now)
	if err != nil || r.String("level") != "debug" {
		t.Errorf("bare level: %v %v", r, err)
	}
	spec, _ := c.Lookup(SetLogLevel)
	if spec.Kind == KindRead || len(AdminCommands) != 2 || AdminCommandFilters("p")[0] != "p/+/cmd/set_log_level" ||
		AdminCommandFilters("p")[1] != "p/+/cmd/force_unlock" {
		t.Errorf("set_log_level and force_unlock must act (evented) and be the admin commands: %v %v", spec.Kind, AdminCommandFilters("p"))
	}
}

func TestDecodeEvent(t *testing.T) {
	d := 12.5
	good := Event{Type: EventCommandFinished, At: time.Date(2026, 11, 22, 6, 3, 24, 0, time.UTC), ID: "job-7",
		Command: ActivateHotel, Outcome: "ok", User: "alice", FlowRunID: "f-1", DurationMS: &d}
	raw, _ := json.Marshal(good)
	ev, err := DecodeEvent(raw)
	if err != nil || ev.ID != "job-7" || *ev.DurationMS != 12.5 {
		t.Fatalf("round trip: %+v %v", ev, err)
	}
	for name, p := range map[string]string{
		"empty":     ``,
		"garbage":   `xyz`,
		"array":     `[]`,
		"dup":       `{"type":"estop","type":"reset","at":"2026-11-22T06:00:00Z"}`,
		"unknown":   `{"type":"estop","at":"2026-11-22T06:00:00Z","x":1}`,
		"bad type":  `{"type":"boom","at":"2026-11-22T06:00:00Z"}`,
		"no time":   `{"type":"estop"}`,
		"bad time":  `{"type":"estop","at":"yesterday"}`,
		"trailing":  `{"type":"estop","at":"2026-11-22T06:00:00Z"} {}`,
		"oversized": `{"type":"estop","at":"2026-11-22T06:00:00Z","message":"` + strings.Repeat("x", MaxEvent) + `"}`,
	} {
		if _, err := DecodeEvent([]byte(p)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzDecodeEvent: no bytes may panic the decoder, and whatever it accepts
// is a known type with a time that encodes and decodes to itself.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"type":"estop","at":"2026-11-22T06:00:00Z","id":"x","duration_ms":1.5}`))
	f.Add([]byte(`{"type":"command_finished","at":"2026-11-22T06:00:00.123Z","outcome":"ok","user":"alice"}`))
	f.Add([]byte(`{"type":"fault","at":"2026-11-22T06:00:00Z","message":"\u0000"}`))
	f.Add([]byte("\xff"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := DecodeEvent(raw)
		if err != nil {
			return
		}
		if !IsEventType(ev.Type) || ev.At.IsZero() {
			t.Fatalf("accepted %+v", ev)
		}
		again, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeEvent(again); err != nil && len(again) <= MaxEvent {
			t.Fatalf("re-encoded event refused: %v: %s", err, again)
		}
	})
}
