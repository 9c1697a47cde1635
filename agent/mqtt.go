package agent

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/mqttconn"
)

// publisher is the seam between the agent and its MQTT client.
type publisher interface {
	Publish(ctx context.Context, p *paho.Publish) (*paho.PublishResponse, error)
}

// destination is where one request's reply goes besides <base>/reply/<cmd>.
type destination struct {
	responseTopic string // MQTT 5 Response Topic
	correlation   []byte // MQTT 5 Correlation Data, echoed
	replyTo       string // reply_to from the JSON body (MQTT 3.1.1 callers)
}

// inbound is a received command, copied out of the paho packet so the read
// loop can return at once.
type inbound struct {
	topic    string
	payload  []byte
	retain   bool
	dest     destination
	expiry   *uint32 // remaining MQTT 5 message expiry, seconds
	received time.Time
}

// connect starts autopaho. autopaho owns reconnection; on every connection
// the agent re-subscribes and republishes its birth messages (as the
// autopaho README recommends; docs/mqtt.md §4).
func (a *Agent) connect(ctx context.Context) (*autopaho.ConnectionManager, error) {
	u, tlsCfg, err := mqttconn.Server(a.cfg.MQTT.URL, a.cfg.MQTT.CAFile)
	if err != nil {
		return nil, fmt.Errorf("mqtt.url: %w", err)
	}
	var sessionExpiry uint32
	if a.cfg.MQTT.AcceptOfflineCommands {
		sessionExpiry = uint32(a.cfg.MQTT.SessionExpiry / time.Second)
	}
	cc := autopaho.ClientConfig{
		ServerUrls: []*url.URL{u},
		TlsCfg:     tlsCfg,
		KeepAlive:  uint16(a.cfg.MQTT.KeepAlive / time.Second),
		// A clean start with no session expiry drops whatever was queued for
		// the agent while it was away: commands published while it was
		// offline are not executed (unless accept_offline_commands).
		CleanStartOnInitialConnection: !a.cfg.MQTT.AcceptOfflineCommands,
		SessionExpiryInterval:         sessionExpiry,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(250*time.Millisecond, 10*time.Second, time.Second, 1.5),
		ConnectTimeout:                10 * time.Second,
		WillMessage:                   &paho.WillMessage{Retain: true, QoS: 1, Topic: a.topics.Availability(), Payload: []byte(contract.Offline)},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			// Must not block (autopaho docs): the birth sequence runs apart.
			go a.onConnectionUp(ctx, cm)
		},
		OnConnectError: func(err error) {
			a.log.Warn().Err(err).Str("broker", a.cfg.MQTT.URL).Msg("MQTT connect failed; retrying")
		},
		ClientConfig: paho.ClientConfig{
			ClientID: a.cfg.ClientID(),
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) { a.onPublish(pr.Packet); return true, nil },
			},
			OnClientError: func(err error) { a.log.Warn().Err(err).Msg("MQTT client error") },
			OnServerDisconnect: func(d *paho.Disconnect) {
				a.log.Warn().Uint8("reason", d.ReasonCode).Msg("broker closed the connection")
			},
		},
	}
	if a.cfg.MQTT.Username != "" {
		cc.ConnectUsername = a.cfg.MQTT.Username
		cc.ConnectPassword = []byte(a.cfg.MQTT.Password)
	}
	return autopaho.NewConnection(ctx, cc)
}

// onPublish runs on paho's read goroutine: copy and hand off, never block
// (docs/mqtt.md §4: a slow handler stalls keepalives and drops the connection).
func (a *Agent) onPublish(p *paho.Publish) {
	in := inbound{topic: p.Topic, payload: append([]byte(nil), p.Payload...), retain: p.Retain, received: time.Now()}
	if p.Properties != nil {
		in.dest.responseTopic = p.Properties.ResponseTopic
		in.dest.correlation = append([]byte(nil), p.Properties.CorrelationData...)
		if p.Properties.MessageExpiry != nil {
			v := *p.Properties.MessageExpiry
			in.expiry = &v
		}
	}
	select {
	case a.inbox <- in:
	default:
		if in.topic == a.topics.Command(contract.EmergencyStop) && !in.retain {
			// Never drop an emergency stop, not even in a flood.
			go a.emergencyStop(context.Background(), in)
			return
		}
		a.dropped.Add(1)
		a.log.Error().Str("topic", p.Topic).Msg("inbox full; message dropped")
	}
}

// onConnectionUp re-subscribes and republishes availability, info, state,
// health and discovery on every (re)connect.
func (a *Agent) onConnectionUp(ctx context.Context, cm *autopaho.ConnectionManager) {
	a.birthMu.Lock()
	defer a.birthMu.Unlock()
	if a.closing.Load() {
		return
	}
	// The connection can come up before NewConnection has returned to Run,
	// so record the manager here too; otherwise the birth messages below
	// would find no client and be silently skipped.
	a.cmMu.Lock()
	a.cm = cm
	a.cmMu.Unlock()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	subs := []paho.SubscribeOptions{
		// RetainAsPublished keeps the retain flag on live deliveries too, so
		// a command published with -r is recognised and refused even while
		// the agent is connected (MQTT 5 §3.8.3.1).
		{Topic: a.topics.CommandFilter(), QoS: 1, RetainAsPublished: true},
	}
	if a.cfg.HomeAssistant.Enabled {
		subs = append(subs, paho.SubscribeOptions{Topic: contract.HAStatus(a.cfg.HomeAssistant.Prefix), QoS: 1})
	}
	if _, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: subs}); err != nil {
		a.log.Error().Err(err).Msg("subscribe failed; the connection will be retried")
		return
	}
	a.log.Info().Str("broker", a.cfg.MQTT.URL).Str("commands", a.topics.CommandFilter()).Msg("MQTT connected")
	a.publish(sctx, a.topics.Availability(), []byte(contract.Online), true)
	a.publishInfo(sctx)
	a.forceState.Store(true)
	a.kick(a.stateKick)
	a.kick(a.healthKick)
	if a.cfg.HomeAssistant.Enabled {
		a.publishDiscovery(sctx)
	}
}

// publish sends one message at QoS 1, logging failures: telemetry is
// republished on the next change or connect, so nothing is queued.
func (a *Agent) publish(ctx context.Context, topic string, payload []byte, retain bool) {
	a.publishProps(ctx, topic, payload, retain, nil)
}

func (a *Agent) publishProps(ctx context.Context, topic string, payload []byte, retain bool, props *paho.PublishProperties) {
	c := a.client()
	if c == nil {
		a.log.Warn().Str("topic", topic).Msg("publish skipped: no MQTT connection yet")
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: payload, Properties: props}); err != nil {
		a.log.Warn().Err(err).Str("topic", topic).Msg("publish failed")
	}
}

func (a *Agent) client() publisher {
	a.cmMu.Lock()
	defer a.cmMu.Unlock()
	if a.cm == nil {
		return nil
	}
	return a.cm
}
