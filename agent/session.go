package agent

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/mqttconn"
)

// sessionDeps are what the MQTT session is given: where inbound messages go
// and what telemetry adds to the birth sequence. It decides nothing about
// commands or telemetry itself.
type sessionDeps struct {
	cfg    Config
	log    zerolog.Logger
	topics contract.Topics
	pub    *publisher
	out    *outbox // drained before the final offline

	inbox    *inbox                    // the command service's inbox
	urgent   func(inbound)             // an emergency stop: acts at once
	busy     func(inbound)             // a command that found the inbox full: refused with queue_full
	birth    func(ctx context.Context) // telemetry's retained messages, after online
	haOnline func()                    // Home Assistant restarted; returns at once
	event    func(contract.Event)      // events.go: mqtt_reconnect
}

// session is the agent's MQTT session: one autopaho connection built by
// internal/mqttconn, its subscriptions, the birth messages on every
// (re)connect, the inbound hand-off and the orderly goodbye.
type session struct {
	sessionDeps

	cm *autopaho.ConnectionManager // set by connect, used by close (both on Run's goroutine)

	// birthMu orders the birth sequence (online, info, ...) against the
	// shutdown's offline: a birth that lost the race must not leave a
	// retained "online" behind a stopped agent.
	birthMu sync.Mutex
	closing atomic.Bool

	seq atomic.Uint64 // arrival order of inbound messages
	ups atomic.Uint64 // connections made; every one after the first is a reconnect
	up  atomic.Bool   // connected and subscribed (readiness, metrics)
}

func newSession(d sessionDeps) *session { return &session{sessionDeps: d} }

// connect starts autopaho without waiting for the broker. autopaho owns
// reconnection; on every connection the session re-subscribes and
// republishes its birth messages (as the autopaho README recommends;
// docs/mqtt.md §4).
func (s *session) connect(ctx context.Context) error {
	c := s.cfg.MQTT
	c.ClientID = s.cfg.ClientID()
	// mqttconn starts clean with no session expiry unless
	// accept_offline_commands: whatever was queued for the agent while it
	// was away is dropped, so commands published while it was offline are
	// not executed.
	cm, err := mqttconn.Connect(ctx, c, mqttconn.Options{
		Log: s.log,
		// The broker publishes the retained offline for an agent that
		// vanished without saying goodbye.
		Will:         &paho.WillMessage{Retain: true, QoS: 1, Topic: s.topics.Availability(), Payload: []byte(contract.Offline)},
		OnUpAt:       func(cm *autopaho.ConnectionManager, broker string) { s.onUp(ctx, cm, broker) },
		OnDown:       func() { s.up.Store(false); s.pub.disconnected() },
		OnPublishVia: s.onPublishVia,
	})
	if err != nil {
		return err
	}
	s.cm = cm
	s.pub.use(cm)
	return nil
}

// close says goodbye: replies still queued go out first, then the retained
// offline, then the disconnect. No birth runs after it.
func (s *session) close(ctx context.Context) {
	s.out.drain(ctx)
	s.closing.Store(true)
	s.birthMu.Lock()
	defer s.birthMu.Unlock()
	s.pub.publish(ctx, s.topics.Availability(), []byte(contract.Offline), true)
	_ = s.cm.Disconnect(ctx)
}
