package agent

import (
	"context"
	"errors"
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
	// conn is the current connection's life: it is cancelled when the
	// connection publishes go out on is lost. A QoS 1 publish waiting for
	// its PUBACK then gives up at once: paho forgets it on the next
	// connection without answering its waiter
	// (paho/session/state/state.go: connectionLost and ConAckReceived call
	// clean, which drops the in-flight map and signals nobody), so it
	// would otherwise hold the outbox or a telemetry loop for the whole
	// timeout after a failover (docs/mqtt.md §4).
	conn atomic.Pointer[connLife]
}

// connLife is one connection's context: done when the connection is lost.
type connLife struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// connected is called when a connection is up: publishes from now on are
// abandoned when it is lost.
func (p *publisher) connected() {
	ctx, cancel := context.WithCancel(context.Background())
	if old := p.conn.Swap(&connLife{ctx: ctx, cancel: cancel}); old != nil {
		old.cancel()
	}
}

// disconnected abandons every publish waiting on the lost connection.
func (p *publisher) disconnected() {
	if old := p.conn.Swap(nil); old != nil {
		old.cancel()
	}
}

// use records the connection manager to publish through.
func (p *publisher) use(cm *autopaho.ConnectionManager) { p.cm.Store(cm) }

// publish sends one message at QoS 1, logging failures: telemetry is
// republished on the next change or connect, so nothing is queued.
// It returns the failure, so a caller that skips unchanged messages knows
// this one did not get out.
func (p *publisher) publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	return p.send(ctx, topic, payload, retain, nil)
}

func (p *publisher) publishProps(ctx context.Context, topic string, payload []byte, retain bool, props *paho.PublishProperties) {
	_ = p.send(ctx, topic, payload, retain, props)
}

func (p *publisher) send(ctx context.Context, topic string, payload []byte, retain bool, props *paho.PublishProperties) error {
	cm := p.cm.Load()
	if cm == nil {
		p.log.Warn().Str("topic", topic).Msg("publish skipped: no MQTT connection yet")
		return errors.New("no MQTT connection yet")
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if c := p.conn.Load(); c != nil {
		// A callback, not a goroutine per publish: a goroutine that
		// starts and is woken again for every reply costs a thread
		// wake-up each time, the larger part of the agent's CPU per
		// command (README, "Known limits").
		stop := context.AfterFunc(c.ctx, cancel)
		defer stop()
	}
	_, err := cm.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: payload, Properties: props})
	if err != nil {
		p.log.Warn().Err(err).Str("topic", topic).Msg("publish failed")
	}
	return err
}
