package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/mqttconn"
)

// mqttConn is the bridge's broker connection: autopaho owns reconnection;
// on every connection the bridge subscribes again (docs/mqtt.md §4: the session
// may be gone) before it lets a command out, so a reply can never arrive on a
// topic nobody listens to.
type mqttConn struct {
	cfg    mqttconn.Config // ClientID filled in: it names the response topics
	prefix string
	log    zerolog.Logger

	mu    sync.Mutex
	cm    *autopaho.ConnectionManager // set on the first subscribed connection
	ready chan struct{}               // closed while connected and subscribed
	// next is closed by the next subscribed connection, then replaced: a
	// run waiting for a reply re-sends its command then (attempt.go).
	next chan struct{}

	will  *paho.WillMessage                                  // retained offline (availability.go)
	birth func(context.Context, *autopaho.ConnectionManager) // after each subscribe: online, discovery
}

func newMQTTConn(cfg Config, log zerolog.Logger) *mqttConn {
	mc := cfg.MQTT
	mc.ClientID = cfg.ClientID()
	return &mqttConn{cfg: mc, prefix: cfg.Prefix, log: log, ready: make(chan struct{}), next: make(chan struct{})}
}

// responseTopic is where the agent answers a command sent to dev:
// <prefix>/responses/<client id>/<dev>.
func (m *mqttConn) responseTopic(dev string) string {
	return contract.ResponseTopic(m.prefix, m.cfg.ClientID, dev)
}

// isResponse reports whether topic is one of the bridge's response topics.
func (m *mqttConn) isResponse(topic string) bool {
	return contract.IsResponseTopic(m.prefix, m.cfg.ClientID, topic)
}

// connect starts the connection; it does not wait for the broker. Every
// (re)connection subscribes to the response topics and to topics; every
// message goes to onPublish, on paho's read goroutine.
func (m *mqttConn) connect(ctx context.Context, topics []string, onPublish func(*paho.Publish)) (*autopaho.ConnectionManager, error) {
	subs := []paho.SubscribeOptions{{Topic: contract.ResponsesFilter(m.prefix, m.cfg.ClientID), QoS: 1}}
	for _, t := range topics {
		subs = append(subs, paho.SubscribeOptions{Topic: t, QoS: 1})
	}
	// The config refuses accept_offline_commands, so this is a clean start
	// with no session expiry, as the bridge has always connected.
	return mqttconn.Connect(ctx, m.cfg, mqttconn.Options{
		Log:       m.log,
		Will:      m.will,
		OnUpAt:    func(cm *autopaho.ConnectionManager, broker string) { m.subscribe(ctx, cm, subs, broker) },
		OnDown:    func() { m.setReady(nil) },
		OnPublish: onPublish,
	})
}

func (m *mqttConn) subscribe(ctx context.Context, cm *autopaho.ConnectionManager, subs []paho.SubscribeOptions, broker string) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sa, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: subs})
	if err != nil {
		m.log.Error().Err(err).Msg("MQTT subscribe failed; commands wait until the next connection")
		return
	}
	for i, rc := range sa.Reasons {
		if rc >= 0x80 && i < len(subs) {
			m.log.Error().Str("topic", subs[i].Topic).Uint8("reason", rc).
				Msg("broker refused a subscription: give the bridge's MQTT user the bridge role (read access to <prefix>/#)")
			return
		}
	}
	m.log.Info().Str("broker", broker).Str("responses", contract.Responses(m.prefix, m.cfg.ClientID)).Msg("MQTT connected")
	m.setReady(cm)
	m.mu.Lock()
	close(m.next)
	m.next = make(chan struct{})
	m.mu.Unlock()
	if m.birth != nil {
		m.birth(ctx, cm)
	}
}

// connected says whether the connection is up and subscribed.
func (m *mqttConn) connected() bool {
	select {
	case <-m.readyCh():
		return true
	default:
		return false
	}
}

// setReady marks the connection subscribed and usable (cm) or down (nil).
func (m *mqttConn) setReady(cm *autopaho.ConnectionManager) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cm != nil {
		m.cm = cm
	}
	select {
	case <-m.ready:
		if cm == nil {
			m.ready = make(chan struct{})
		}
	default:
		if cm != nil {
			close(m.ready)
		}
	}
}

func (m *mqttConn) readyCh() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ready
}

// nextUp is closed when the next connection is up and subscribed: after a
// reconnect, or a failover to another broker of mqtt.urls.
func (m *mqttConn) nextUp() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.next
}

func (m *mqttConn) conn() *autopaho.ConnectionManager {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cm
}

// onPublish runs on paho's read goroutine: route and return at once.
func (b *Bridge) onPublish(p *paho.Publish) {
	if b.mq.isResponse(p.Topic) {
		var corr []byte
		if p.Properties != nil {
			corr = p.Properties.CorrelationData
		}
		payload := append([]byte(nil), p.Payload...)
		if !b.corr.deliver(corr, payload) {
			b.log.Debug().Str("topic", p.Topic).Msg("reply for no waiting run (late, duplicate or foreign); ignored")
		}
		return
	}
	b.devs.handle(p.Topic, p.Payload, time.Now())
}

// errNotConnected: the broker could not be reached in time.
var errNotConnected = errors.New("not connected to the MQTT broker")

// publish sends one QoS 1 message once the connection is up and subscribed.
func (m *mqttConn) publish(ctx context.Context, p *paho.Publish) error {
	select {
	case <-m.readyCh():
	case <-ctx.Done():
		return fmt.Errorf("%w: %v", errNotConnected, context.Cause(ctx))
	}
	p.QoS = 1
	if _, err := m.conn().Publish(ctx, p); err != nil {
		return fmt.Errorf("publish %s: %w", p.Topic, err)
	}
	return nil
}
