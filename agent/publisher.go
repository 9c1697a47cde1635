package agent

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"
)

// publisher publishes on the session's current connection: the one way out
// to the broker, for replies (through the outbox) and for telemetry.
type publisher struct {
	log zerolog.Logger
	cm  atomic.Pointer[autopaho.ConnectionManager]
}

// use records the connection manager to publish through.
func (p *publisher) use(cm *autopaho.ConnectionManager) { p.cm.Store(cm) }

// publish sends one message at QoS 1, logging failures: telemetry is
// republished on the next change or connect, so nothing is queued.
func (p *publisher) publish(ctx context.Context, topic string, payload []byte, retain bool) {
	p.publishProps(ctx, topic, payload, retain, nil)
}

func (p *publisher) publishProps(ctx context.Context, topic string, payload []byte, retain bool, props *paho.PublishProperties) {
	cm := p.cm.Load()
	if cm == nil {
		p.log.Warn().Str("topic", topic).Msg("publish skipped: no MQTT connection yet")
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := cm.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: payload, Properties: props}); err != nil {
		p.log.Warn().Err(err).Str("topic", topic).Msg("publish failed")
	}
}
