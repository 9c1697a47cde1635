package broker

import (
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	good := productionConfig(t)
	cases := []struct {
		name string
		edit func(*Config)
		want string // substring of the error; "" means valid
	}{
		{"production-like", func(*Config) {}, ""},
		{"default", func(c *Config) { *c = DefaultConfig() }, ""},
		{"plain-text password", func(c *Config) { u := c.Users["alice"]; u.Password = "hunter2"; c.Users["alice"] = u }, "users.alice.password: plain-text passwords are refused"},
		{"plain text in hash field", func(c *Config) { u := c.Users["alice"]; u.PasswordHash = "hunter2"; c.Users["alice"] = u }, "users.alice.password_hash: not a bcrypt hash"},
		{"missing hash", func(c *Config) { u := c.Users["alice"]; u.PasswordHash = ""; c.Users["alice"] = u }, "users.alice.password_hash: missing"},
		{"unknown role", func(c *Config) { u := c.Users["alice"]; u.Role = "superuser"; c.Users["alice"] = u }, `users.alice: role "superuser"`},
		{"empty role", func(c *Config) { u := c.Users["alice"]; u.Role = ""; c.Users["alice"] = u }, `users.alice: role ""`},
		{"agent without device", func(c *Config) { u := c.Users["agent1"]; u.Devices = nil; c.Users["agent1"] = u }, "role agent needs at least one device"},
		{"wildcard device", func(c *Config) { u := c.Users["agent1"]; u.Devices = []string{"#"}; c.Users["agent1"] = u }, `device id "#"`},
		{"multi-level device", func(c *Config) { u := c.Users["agent1"]; u.Devices = []string{"a/b"}; c.Users["agent1"] = u }, `device id "a/b"`},
		{"reserved device", func(c *Config) { u := c.Users["agent1"]; u.Devices = []string{"responses"}; c.Users["agent1"] = u }, "reserved"},
		{"viewer with devices", func(c *Config) { u := c.Users["viewer"]; u.Devices = []string{"resort-1"}; c.Users["viewer"] = u }, "takes no devices"},
		{"space in user name", func(c *Config) { c.Users["bad name"] = c.Users["alice"] }, "space or control"},
		{"control char in user name", func(c *Config) { c.Users["bad\x00"] = c.Users["alice"] }, "space or control"},
		{"huge user name", func(c *Config) { c.Users[strings.Repeat("u", 300)] = c.Users["alice"] }, "at most 256"},
		{"nobody can connect", func(c *Config) { c.Users = nil }, "nobody could connect"},
		{"anonymous unknown role", func(c *Config) { c.Anonymous = AnonymousConfig{Enabled: true, Role: "root"} }, `anonymous: role "root"`},
		{"no listener", func(c *Config) { c.Listeners = ListenersConfig{} }, "no MQTT listener"},
		{"bad address", func(c *Config) { c.Listeners.TCP.Address = "1883" }, "listeners.tcp.address"},
		{"port out of range", func(c *Config) { c.Listeners.TCP.Address = "127.0.0.1:70000" }, "listeners.tcp.address"},
		{"duplicate address", func(c *Config) {
			c.Listeners.TCP.Address = "127.0.0.1:1883"
			c.Listeners.WebSocket.Address = "127.0.0.1:1883"
		}, "is also listeners.tcp.address"},
		{"tls without cert", func(c *Config) { c.Listeners.TLS.Address = "127.0.0.1:8883" }, "listeners.tls.cert_file: required"},
		{"wss without cert", func(c *Config) { c.Listeners.WebSocket = WebSocketConfig{Address: "127.0.0.1:0", TLS: true} }, "listeners.tls.key_file: required"},
		{"prefix wildcard", func(c *Config) { c.Prefix = "plate/#" }, "prefix"},
		{"prefix empty", func(c *Config) { c.Prefix = "" }, "prefix: empty"},
		{"prefix $", func(c *Config) { c.Prefix = "$SYS" }, "reserved for the broker"},
		{"prefix empty level", func(c *Config) { c.Prefix = "a//b" }, "empty topic level"},
		{"prefix bad utf8", func(c *Config) { c.Prefix = "\xff" }, "UTF-8"},
		{"max clients", func(c *Config) { c.Limits.MaxClients = 0 }, "limits.max_clients"},
		{"packet size", func(c *Config) { c.Limits.MaxPacketSize = 10 }, "limits.max_packet_size"},
		{"inflight", func(c *Config) { c.Limits.MaxInflight = 0 }, "limits.max_inflight"},
		{"receive maximum", func(c *Config) { c.Limits.ReceiveMaximum = 0 }, "limits.receive_maximum"},
		{"pending writes", func(c *Config) { c.Limits.MaxPendingWrites = -1 }, "limits.max_pending_writes"},
		{"session expiry", func(c *Config) { c.Limits.MaxSessionExpiry = -time.Second }, "limits.max_session_expiry"},
		{"sys interval", func(c *Config) { c.Limits.SysInterval = time.Millisecond }, "limits.sys_interval"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			cfg.Users = map[string]UserConfig{}
			for k, v := range good.Users {
				cfg.Users[k] = v
			}
			c.edit(&cfg)
			err := cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("want valid, got %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("want error containing %q, got %v", c.want, err)
			}
			if c.want != "" {
				if _, nerr := New(cfg, nopLog()); nerr == nil {
					t.Fatal("New accepted a config Validate refuses")
				}
			}
		})
	}
}

// Every problem is reported at once.
func TestValidateReportsAll(t *testing.T) {
	cfg := productionConfig(t)
	cfg.Prefix = ""
	cfg.Limits.MaxClients = 0
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "prefix") || !strings.Contains(err.Error(), "max_clients") {
		t.Fatalf("want both problems, got %v", err)
	}
}
