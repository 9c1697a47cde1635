package bridge

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/internal/mqttconn"
)

// mqttConn is the bridge's broker connection: autopaho owns reconnection;
// on every connection the bridge subscribes again (mqtt.md §4: the session
// may be gone) before it lets a command out, so a reply can never arrive on a
// topic nobody listens to.
type mqttConn struct {
	cm        *autopaho.ConnectionManager
	respTopic string // <prefix>/responses/<client id>

	mu    sync.Mutex
	ready chan struct{} // closed while connected and subscribed
}

// connectMQTT starts the connection; it does not wait for the broker.
func (b *Bridge) connectMQTT(ctx context.Context) (*mqttConn, error) {
	u, tlsCfg, err := mqttconn.Server(b.cfg.MQTT.URL, b.cfg.MQTT.CAFile)
	if err != nil {
		return nil, fmt.Errorf("mqtt.url: %w", err)
	}
	m := &mqttConn{respTopic: b.cfg.Prefix + "/responses/" + b.cfg.ClientID(), ready: make(chan struct{})}
	subs := []paho.SubscribeOptions{{Topic: m.respTopic + "/#", QoS: 1}}
	for _, t := range b.devs.topics() {
		subs = append(subs, paho.SubscribeOptions{Topic: t, QoS: 1})
	}
	cc := autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		TlsCfg:                        tlsCfg,
		KeepAlive:                     uint16(b.cfg.MQTT.KeepAlive / time.Second),
		CleanStartOnInitialConnection: true,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(250*time.Millisecond, 10*time.Second, time.Second, 1.5),
		ConnectTimeout:                10 * time.Second,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go m.subscribe(ctx, cm, subs, b) // must not block (autopaho docs)
		},
		OnConnectionDown: func() bool {
			m.setReady(false)
			b.log.Warn().Str("broker", redactURL(b.cfg.MQTT.URL)).Msg("MQTT connection lost; reconnecting")
			return true
		},
		OnConnectError: func(err error) {
			b.log.Warn().Err(err).Str("broker", redactURL(b.cfg.MQTT.URL)).Msg("MQTT connect failed; retrying")
		},
		ClientConfig: paho.ClientConfig{
			ClientID: b.cfg.ClientID(),
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) { b.onPublish(m, pr.Packet); return true, nil },
			},
			OnClientError: func(err error) { b.log.Warn().Err(err).Msg("MQTT client error") },
		},
	}
	if b.cfg.MQTT.Username != "" {
		cc.ConnectUsername = b.cfg.MQTT.Username
		cc.ConnectPassword = []byte(b.cfg.MQTT.Password)
	}
	cm, err := autopaho.NewConnection(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	m.cm = cm
	return m, nil
}

func (m *mqttConn) subscribe(ctx context.Context, cm *autopaho.ConnectionManager, subs []paho.SubscribeOptions, b *Bridge) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sa, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: subs})
	if err != nil {
		b.log.Error().Err(err).Msg("MQTT subscribe failed; commands wait until the next connection")
		return
	}
	for i, rc := range sa.Reasons {
		if rc >= 0x80 && i < len(subs) {
			b.log.Error().Str("topic", subs[i].Topic).Uint8("reason", rc).
				Msg("broker refused a subscription: give the bridge's MQTT user the bridge role (read access to <prefix>/#)")
			return
		}
	}
	b.log.Info().Str("broker", redactURL(b.cfg.MQTT.URL)).Str("responses", m.respTopic).Msg("MQTT connected")
	m.setReady(true)
}

func (m *mqttConn) setReady(up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	select {
	case <-m.ready:
		if !up {
			m.ready = make(chan struct{})
		}
	default:
		if up {
			close(m.ready)
		}
	}
}

func (m *mqttConn) readyCh() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ready
}

// onPublish runs on paho's read goroutine: route and return at once.
func (b *Bridge) onPublish(m *mqttConn, p *paho.Publish) {
	if strings.HasPrefix(p.Topic, m.respTopic+"/") {
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
	if _, err := m.cm.Publish(ctx, p); err != nil {
		return fmt.Errorf("publish %s: %w", p.Topic, err)
	}
	return nil
}
