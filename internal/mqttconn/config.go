package mqttconn

import (
	"net/url"
	"strings"
	"time"
)

// Config is the broker connection, the mqtt: section of the agent's and the
// bridge's config files.
type Config struct {
	// URL of the broker: mqtt://host:1883, tls://host:8883, ws://host:9001/,
	// wss://host:8884/ (tcp://, ssl:// and mqtts:// are accepted aliases).
	URL      string `koanf:"url"`
	ClientID string `koanf:"client_id"`
	Username string `koanf:"username"`
	Password string `koanf:"password"`
	// CAFile for tls:// and wss:// URLs (system roots when empty).
	CAFile    string        `koanf:"ca_file"`
	KeepAlive time.Duration `koanf:"keepalive"`
	// AcceptOfflineCommands keeps the MQTT session across disconnects, so
	// messages published while the client was offline are delivered.
	// Off by default: a carousel should not start moving on a command
	// someone sent an hour ago (the agent still refuses expired ones).
	AcceptOfflineCommands bool          `koanf:"accept_offline_commands"`
	SessionExpiry         time.Duration `koanf:"session_expiry"`
}

// Check reports every invalid value through bad, naming its key under
// mqtt.
func (c Config) Check(bad func(key, format string, a ...any)) {
	if _, _, err := Server(c.URL, c.CAFile); err != nil {
		// The parse error quotes the URL; never with its password.
		bad("mqtt.url", "%s", strings.ReplaceAll(err.Error(), c.URL, Redact(c.URL)))
	}
	if len(c.ClientID) > 128 {
		bad("mqtt.client_id", "longer than 128 characters")
	}
	if c.KeepAlive < time.Second || c.KeepAlive > 18*time.Hour {
		bad("mqtt.keepalive", "%s is outside 1s..18h", c.KeepAlive)
	}
	if c.SessionExpiry < 0 || c.SessionExpiry > 24*time.Hour {
		bad("mqtt.session_expiry", "%s is outside 0..24h", c.SessionExpiry)
	}
	if c.Password != "" && c.Username == "" {
		bad("mqtt.password", "given without mqtt.username")
	}
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
