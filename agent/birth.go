package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/contract"
)

// onUp re-subscribes and republishes availability, then telemetry's info,
// state, health and discovery, on every (re)connect: after a failover to
// another broker of mqtt.urls that broker holds none of them yet. mqttconn runs it on
// its own goroutine: subscribing waits for the broker.
func (s *session) onUp(ctx context.Context, cm *autopaho.ConnectionManager, broker string) {
	s.birthMu.Lock()
	defer s.birthMu.Unlock()
	if s.closing.Load() {
		return
	}
	// The connection can come up before mqttconn.Connect has returned to
	// connect, so record the manager here too; otherwise the birth messages
	// below would find no client and be silently skipped.
	s.pub.use(cm)
	s.pub.connected()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	subs := []paho.SubscribeOptions{
		// RetainAsPublished keeps the retain flag on live deliveries too, so
		// a command published with -r is recognised and refused even while
		// the agent is connected (MQTT 5 §3.8.3.1).
		{Topic: s.topics.CommandFilter(), QoS: 1, RetainAsPublished: true},
	}
	for _, c := range contract.FleetCommands {
		// The fleet's emergency stop and reset, and nothing else on _fleet.
		subs = append(subs, paho.SubscribeOptions{Topic: contract.FleetCommand(s.topics.Prefix, c), QoS: 1, RetainAsPublished: true})
	}
	if s.cfg.HomeAssistant.Enabled {
		subs = append(subs, paho.SubscribeOptions{Topic: contract.HAStatus(s.cfg.HomeAssistant.Prefix), QoS: 1})
	}
	if _, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
		s.log.Error().Err(err).Msg("subscribe failed; the connection will be retried")
		return
	}
	s.up.Store(true)
	s.log.Info().Str("broker", broker).Str("commands", s.topics.CommandFilter()).Msg("MQTT connected")
	s.pub.publish(sctx, s.topics.Availability(), []byte(contract.Online), true)
	s.birth(sctx)
	if n := s.ups.Add(1); n > 1 {
		s.event(contract.Event{Type: contract.EventMQTTReconnect, Message: fmt.Sprintf("connected again to %s (connection %d)", broker, n)})
	}
}
