package mqttconn

import (
	"context"
	"fmt"
	"net/url"
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
	// OnDown runs when the connection is lost.
	OnDown func()
	// OnPublish receives every message on paho's routing goroutine: copy
	// and hand off, never block (a slow handler stalls the connection).
	// paho acknowledges a QoS 1 message (PUBACK) when it returns.
	OnPublish func(p *paho.Publish)
}

// Connect starts an autopaho connection manager; it does not wait for the
// broker. autopaho owns reconnection with backoff (250 ms doubling by 1.5
// to 10 s); every failure is logged with the URL redacted.
func Connect(ctx context.Context, c Config, o Options) (*autopaho.ConnectionManager, error) {
	u, tlsCfg, err := Server(c.URL, c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("mqtt.url: %w", err)
	}
	broker := Redact(c.URL)
	var sessionExpiry uint32
	if c.AcceptOfflineCommands {
		sessionExpiry = uint32(c.SessionExpiry / time.Second)
	}
	cc := autopaho.ClientConfig{
		ServerUrls: []*url.URL{u},
		TlsCfg:     tlsCfg,
		KeepAlive:  uint16(c.KeepAlive / time.Second),
		// A clean start with no session expiry drops whatever was queued for
		// the client while it was away (docs/mqtt.md).
		CleanStartOnInitialConnection: !c.AcceptOfflineCommands,
		SessionExpiryInterval:         sessionExpiry,
		ReconnectBackoff:              autopaho.NewExponentialBackoff(250*time.Millisecond, 10*time.Second, time.Second, 1.5),
		ConnectTimeout:                10 * time.Second,
		WillMessage:                   o.Will,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			if o.OnUp != nil {
				go o.OnUp(cm)
			}
		},
		OnConnectionDown: func() bool {
			o.Log.Warn().Str("broker", broker).Msg("MQTT connection lost; reconnecting")
			if o.OnDown != nil {
				o.OnDown()
			}
			return true
		},
		OnConnectError: func(err error) {
			o.Log.Warn().Err(err).Str("broker", broker).Msg("MQTT connect failed; retrying")
		},
		ClientConfig: paho.ClientConfig{
			ClientID: c.ClientID,
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){
				func(pr paho.PublishReceived) (bool, error) {
					if o.OnPublish != nil {
						o.OnPublish(pr.Packet)
					}
					return true, nil
				},
			},
			OnClientError: func(err error) { o.Log.Warn().Err(err).Msg("MQTT client error") },
			OnServerDisconnect: func(d *paho.Disconnect) {
				o.Log.Warn().Uint8("reason", d.ReasonCode).Str("broker", broker).Msg("broker closed the connection")
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
