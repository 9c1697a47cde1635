package mqttconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"
)

// Options are what differs between the agent's and the bridge's clients.
type Options struct {
	Log zerolog.Logger
	// Will is the Last Will (retained availability "offline").
	Will *paho.WillMessage
	// OnUp runs on every (re)connection, on its own goroutine: autopaho's
	// callback must not block, and subscribing waits for the broker.
	OnUp func(cm *autopaho.ConnectionManager)
	// OnUpAt is OnUp told which broker this connection went to (redacted
	// URL): with mqtt.urls it can be any of them. Used instead of OnUp when
	// set.
	OnUpAt func(cm *autopaho.ConnectionManager, broker string)
	// OnDown runs when the connection is lost.
	OnDown func()
	// OnPublish receives every message on paho's routing goroutine: copy
	// and hand off, never block (a slow handler stalls the connection).
	// paho acknowledges a QoS 1 message (PUBACK) when it returns.
	OnPublish func(p *paho.Publish)
	// OnPublishVia is OnPublish told the client of the connection the
	// message came in on (paho.PublishReceived.Client), so that an answer
	// can go out on that same connection. Used instead of OnPublish when
	// set.
	OnPublishVia func(p *paho.Publish, via *paho.Client)
}

// Connect starts an autopaho connection manager; it does not wait for the
// broker. autopaho owns reconnection and failover between the brokers of
// Servers, with backoff between rounds over the list (none before the first
// round after a drop, then up to 1 s growing by 1.5 to 10 s); every failure
// is logged with the URL redacted.
func Connect(ctx context.Context, c Config, o Options) (*autopaho.ConnectionManager, error) {
	urls, tlsCfg, err := servers(c)
	if err != nil {
		return nil, err
	}
	// autopaho names the URL it failed on in its errors (u.String(), with
	// any user info): replace each by its redacted form before logging.
	var redactions []string
	for i, u := range urls {
		redactions = append(redactions, u.String(), Redact(u.String()), c.Servers()[i], Redact(c.Servers()[i]))
	}
	redact := strings.NewReplacer(redactions...)
	// The broker being tried, then the one connected to: autopaho builds the
	// CONNECT packet for each URL it tries, in order (autopaho/net.go
	// establishServerConnection), so the last one built before
	// OnConnectionUp is the one that answered.
	var current atomic.Value
	current.Store(c.Redacted())
	broker := func() string { return current.Load().(string) }
	var sessionExpiry uint32
	if c.AcceptOfflineCommands {
		sessionExpiry = uint32(c.SessionExpiry / time.Second)
	}
	cc := autopaho.ClientConfig{
		// Every (re)connect tries the list from its first entry (docs/mqtt.md §4).
		ServerUrls: urls,
		TlsCfg:     tlsCfg,
		KeepAlive:  uint16(c.KeepAlive / time.Second),
		// A clean start with no session expiry drops whatever was queued for
		// the client while it was away (docs/mqtt.md).
		CleanStartOnInitialConnection: !c.AcceptOfflineCommands,
		SessionExpiryInterval:         sessionExpiry,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(250*time.Millisecond, 10*time.Second, time.Second, 1.5),
		// One try per broker of the list; a silent one holds each round
		// this long (docs/mqtt.md §4).
		ConnectTimeout: c.connectTimeout(),
		// The will is part of every CONNECT autopaho sends, so each broker
		// of the list holds it while the client is connected there
		// (autopaho/auto.go buildConnectPacket; MQTT 5 §3.1.2.5).
		WillMessage: o.Will,
		ConnectPacketBuilder: func(cp *paho.Connect, u *url.URL) (*paho.Connect, error) {
			current.Store(Redact(u.String()))
			return cp, nil
		},
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			switch {
			case o.OnUpAt != nil:
				go o.OnUpAt(cm, broker())
			case o.OnUp != nil:
				go o.OnUp(cm)
			}
		},
		OnConnectionDown: func() bool {
			o.Log.Warn().Str("broker", broker()).Msg("MQTT connection lost; reconnecting")
			if o.OnDown != nil {
				o.OnDown()
			}
			return true
		},
		OnConnectError: func(err error) {
			o.Log.Warn().Str("error", redact.Replace(err.Error())).Str("broker", broker()).Msg("MQTT connect failed; retrying")
		},
		ClientConfig: paho.ClientConfig{
			ClientID: c.ClientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					switch {
					case o.OnPublishVia != nil:
						o.OnPublishVia(pr.Packet, pr.Client)
					case o.OnPublish != nil:
						o.OnPublish(pr.Packet)
					}
					return true, nil
				},
			},
			OnClientError: func(err error) { o.Log.Warn().Err(err).Msg("MQTT client error") },
			OnServerDisconnect: func(d *paho.Disconnect) {
				o.Log.Warn().Uint8("reason", d.ReasonCode).Str("broker", broker()).Msg("broker closed the connection")
			},
		},
	}
	if c.Username != "" {
		cc.ConnectUsername = c.Username
		cc.ConnectPassword = []byte(c.Password)
	}
	cm, err := autopaho.NewConnection(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	return cm, nil
}

// servers parses every broker URL of c, in order, with one TLS config for
// them all (autopaho takes one, ClientConfig.TlsCfg). Its ServerName is the
// brokers' host name when they share one; otherwise it is left empty, so
// crypto/tls (tls.Dialer) and gorilla/websocket take each host name from
// the address being dialled.
func servers(c Config) ([]*url.URL, *tls.Config, error) {
	key := "mqtt.url"
	var out []*url.URL
	var tlsCfg *tls.Config
	hosts := map[string]bool{}
	for i, raw := range c.Servers() {
		if len(c.URLs) > 0 {
			key = fmt.Sprintf("mqtt.urls[%d]", i)
		}
		u, t, err := Server(raw, c.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %s", key, redactIn(err.Error(), raw))
		}
		out = append(out, u)
		if t != nil {
			tlsCfg = t
			hosts[u.Hostname()] = true
		}
	}
	if tlsCfg != nil && len(hosts) > 1 {
		tlsCfg.ServerName = ""
	}
	return out, tlsCfg, nil
}
