package agent

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"
)

// The inbound hand-off never blocks paho's read goroutine: with the inbox
// full, an emergency stop still goes through (on its own goroutine), any
// other message is dropped and counted, and Home Assistant's status never
// takes a place in the command inbox.
func TestInboundHandOffWithFullInbox(t *testing.T) {
	cfg := Defaults()
	inbox := make(chan inbound, 1)
	urgent := make(chan inbound, 1)
	var dropped, ha int
	s := newSession(sessionDeps{
		cfg: cfg, log: zerolog.Nop(), topics: cfg.Topics(), inbox: inbox,
		urgent: func(in inbound) { urgent <- in }, dropped: func() { dropped++ }, haOnline: func() { ha++ },
	})
	cmd := func(name string, retain bool) *paho.Publish {
		return &paho.Publish{Topic: cfg.Topics().Command(name), Payload: []byte("{}"), Retain: retain}
	}
	s.onPublish(cmd("go_home", false)) // fills the inbox
	s.onPublish(&paho.Publish{Topic: "homeassistant/status", Payload: []byte(" online\n")})
	if len(inbox) != 1 || ha != 1 {
		t.Fatalf("inbox %d, Home Assistant online %d", len(inbox), ha)
	}

	s.onPublish(cmd("go_home", false))
	if dropped != 1 {
		t.Fatalf("dropped %d, want 1", dropped)
	}
	s.onPublish(cmd("emergency_stop", true)) // retained: refused in dispatch, so it may be dropped
	if dropped != 2 {
		t.Fatalf("retained e-stop: dropped %d, want 2", dropped)
	}
	s.onPublish(cmd("emergency_stop", false))
	select {
	case in := <-urgent:
		if in.topic != cfg.Topics().Command("emergency_stop") {
			t.Fatalf("urgent %q", in.topic)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("emergency stop dropped with the inbox full")
	}
	if dropped != 2 {
		t.Fatalf("the emergency stop was counted as dropped")
	}
}
