package mqttconn

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// DefaultURL is mqtt.url when the config names no broker.
const DefaultURL = "mqtt://127.0.0.1:1883"

// DefaultConnectTimeout is mqtt.connect_timeout unless configured.
const DefaultConnectTimeout = 10 * time.Second

// Config is the broker connection, the mqtt: section of the agent's and the
// bridge's config files.
type Config struct {
	// URL of the broker: mqtt://host:1883, tls://host:8883, ws://host:9001/,
	// wss://host:8884/ (tcp://, ssl:// and mqtts:// are accepted aliases).
	URL string `koanf:"url"`
	// URLs lists brokers to fail over between, tried in order on every
	// (re)connect (docs/mqtt.md §4). When set it replaces URL, which must
	// then be left at its default or be the list's first entry.
	URLs     []string `koanf:"urls"`
	ClientID string   `koanf:"client_id"`
	Username string   `koanf:"username"`
	Password string   `koanf:"password"`
	// CAFile for tls:// and wss:// URLs (system roots when empty).
	CAFile    string        `koanf:"ca_file"`
	KeepAlive time.Duration `koanf:"keepalive"`
	// ConnectTimeout bounds one attempt at one broker: TCP, TLS and the
	// CONNACK. A broker that is gone without refusing connections (a
	// pulled cable, a frozen host) costs this much on every reconnect
	// before the next one of URLs is tried, because every round starts at
	// the first (docs/mqtt.md §4). 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
	// AcceptOfflineCommands keeps the MQTT session across disconnects, so
	// messages published while the client was offline are delivered.
	// Off by default: a carousel should not start moving on a command
	// someone sent an hour ago (the agent still refuses expired ones).
	AcceptOfflineCommands bool          `koanf:"accept_offline_commands"`
	SessionExpiry         time.Duration `koanf:"session_expiry"`
}

// Servers is the broker list in the order autopaho tries it: mqtt.urls when
// given, else mqtt.url alone.
func (c Config) Servers() []string {
	if len(c.URLs) > 0 {
		return c.URLs
	}
	return []string{c.URL}
}

// connectTimeout is ConnectTimeout, or its default when unset.
func (c Config) connectTimeout() time.Duration {
	if c.ConnectTimeout == 0 {
		return DefaultConnectTimeout
	}
	return c.ConnectTimeout
}

// Primary is the first broker of Servers: what names this connection where
// one name is needed (the agent's journal file).
func (c Config) Primary() string { return c.Servers()[0] }

// Redacted is Servers fit for a log, comma-separated.
func (c Config) Redacted() string {
	out := make([]string, 0, len(c.Servers()))
	for _, s := range c.Servers() {
		out = append(out, Redact(s))
	}
	return strings.Join(out, ",")
}

// Check reports every invalid value through bad, naming its key under
// mqtt.
func (c Config) Check(bad func(key, format string, a ...any)) {
	if len(c.URLs) == 0 {
		if _, _, err := Server(c.URL, c.CAFile); err != nil {
			// The parse error quotes the URL; never with its password.
			bad("mqtt.url", "%s", redactIn(err.Error(), c.URL))
		}
	} else {
		if c.URL != "" && c.URL != DefaultURL && c.URL != c.URLs[0] {
			bad("mqtt.url", "%s given together with mqtt.urls: list every broker in mqtt.urls (tried in order) and remove mqtt.url", Redact(c.URL))
		}
		seen := map[string]int{}
		for i, raw := range c.URLs {
			key := fmt.Sprintf("mqtt.urls[%d]", i)
			u, _, err := Server(raw, c.CAFile)
			if err != nil {
				bad(key, "%s", redactIn(err.Error(), raw))
				continue
			}
			if j, dup := seen[u.Scheme+"://"+u.Host]; dup {
				bad(key, "%s is the same broker as mqtt.urls[%d]", Redact(raw), j)
			}
			seen[u.Scheme+"://"+u.Host] = i
		}
	}
	if len(c.ClientID) > 128 {
		bad("mqtt.client_id", "longer than 128 characters")
	}
	if c.KeepAlive < time.Second || c.KeepAlive > 18*time.Hour {
		bad("mqtt.keepalive", "%s is outside 1s..18h", c.KeepAlive)
	}
	if c.ConnectTimeout < time.Second || c.ConnectTimeout > 5*time.Minute {
		bad("mqtt.connect_timeout", "%s is outside 1s..5m", c.ConnectTimeout)
	}
	if c.SessionExpiry < 0 || c.SessionExpiry > 24*time.Hour {
		bad("mqtt.session_expiry", "%s is outside 0..24h", c.SessionExpiry)
	}
	if c.Password != "" && c.Username == "" {
		bad("mqtt.password", "given without mqtt.username")
	}
}

// redactIn replaces raw in msg by its redacted form.
func redactIn(msg, raw string) string {
	if raw == "" {
		return msg
	}
	return strings.ReplaceAll(msg, raw, Redact(raw))
}

// Redact returns a broker URL fit for a log: user info replaced, so a
// password in the URL never reaches a log line.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if strings.Contains(s, "@") {
			return "(URL with credentials)"
		}
		return s
	}
	u.User = url.User("redacted")
	return u.String()
}
