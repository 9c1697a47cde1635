package agent

import (
	"context"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"
)

// The inbound hand-off never blocks and never drops a command silently:
// an emergency stop never enters the inbox (it acts at once on its own
// goroutine, even with the inbox full); a command that finds the inbox at
// its limit is refused (queue_full) instead of dropped; Home Assistant's
// status never takes a place in the command inbox; order is kept.
func TestInboundHandOff(t *testing.T) {
	cfg := Defaults()
	q := newInbox()
	urgent := make(chan inbound, 1)
	busy := make(chan inbound, 10)
	var ha int
	s := newSession(sessionDeps{
		cfg: cfg, log: zerolog.Nop(), topics: cfg.Topics(), inbox: q,
		urgent: func(in inbound) { urgent <- in }, busy: func(in inbound) { busy <- in }, haOnline: func() { ha++ },
	})
	cmd := func(name string, qos byte) *paho.Publish {
		return &paho.Publish{Topic: cfg.Topics().Command(name), Payload: []byte("{}"), QoS: qos}
	}
	for i := range inboxLimit {
		s.onPublish(cmd("get_position", byte(i%2)))
	}
	s.onPublish(cmd("go_home", 1)) // the inbox is at its limit
	select {
	case in := <-busy:
		if in.topic != cfg.Topics().Command("go_home") {
			t.Fatalf("busy %q", in.topic)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a command beyond the inbox limit was neither queued nor refused")
	}
	s.onPublish(&paho.Publish{Topic: "homeassistant/status", Payload: []byte(" online\n")})
	if ha != 1 || q.len() != inboxLimit {
		t.Fatalf("Home Assistant online %d, inbox %d", ha, q.len())
	}
	s.onPublish(cmd("emergency_stop", 1))
	select {
	case in := <-urgent:
		if in.topic != cfg.Topics().Command("emergency_stop") || in.seq != inboxLimit+3 {
			t.Fatalf("urgent %q seq %d", in.topic, in.seq)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("emergency stop not acted on with the inbox full")
	}
	var last uint64
	for q.len() > 0 {
		in, _ := q.pop(context.Background())
		if in.seq <= last {
			t.Fatalf("out of order: %d after %d", in.seq, last)
		}
		last = in.seq
	}
	if last != inboxLimit {
		t.Fatalf("last seq %d", last)
	}
}
