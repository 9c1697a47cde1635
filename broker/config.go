package broker

import (
	"time"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/logging"
)

// Config is everything in configs/broker.yaml. The zero value of a listener
// address means "listener off".
type Config struct {
	// Prefix is the first topic level of the contract (topics.md): the ACLs
	// are written over "<prefix>/<device>/...".
	Prefix    string          `koanf:"prefix"`
	Listeners ListenersConfig `koanf:"listeners"`
	Anonymous AnonymousConfig `koanf:"anonymous"`
	// Users maps a user name to its role and bcrypt password hash.
	Users   map[string]UserConfig `koanf:"users"`
	Storage StorageConfig         `koanf:"storage"`
	Limits  LimitsConfig          `koanf:"limits"`
	// Log is read by the standalone `plate-resort broker` subcommand only;
	// the broker itself logs through the zerolog.Logger given to New.
	Log logging.Options `koanf:"log"`
}

// ListenersConfig holds one entry per listener kind.
type ListenersConfig struct {
	TCP       TCPConfig       `koanf:"tcp"`
	TLS       TLSConfig       `koanf:"tls"`
	WebSocket WebSocketConfig `koanf:"websocket"`
	Health    HealthConfig    `koanf:"health"`
}

// TCPConfig is the plain MQTT listener.
type TCPConfig struct {
	Address string `koanf:"address"` // host:port; empty turns it off
}

// TLSConfig is the MQTT-over-TLS listener (8883 by convention).
type TLSConfig struct {
	Address  string `koanf:"address"`   // host:port; empty turns it off
	CertFile string `koanf:"cert_file"` // PEM server certificate (chain)
	KeyFile  string `koanf:"key_file"`  // PEM private key
	// ClientCAFile, when set, makes the listener require a client
	// certificate signed by one of these CAs (mutual TLS), on top of the
	// user name and password.
	ClientCAFile string `koanf:"client_ca_file"`
}

// WebSocketConfig is MQTT over WebSocket for browser dashboards.
type WebSocketConfig struct {
	Address string `koanf:"address"` // host:port; empty turns it off
	// TLS serves wss:// with the certificate of listeners.tls.
	TLS bool `koanf:"tls"`
	// Panel serves the web panel (package panel) on plain GET requests to
	// this listener; WebSocket upgrades on any path stay MQTT.
	Panel bool `koanf:"panel"`
}

// HealthConfig is the HTTP health endpoint (GET /healthz).
type HealthConfig struct {
	Address string `koanf:"address"` // host:port; empty turns it off
	// Metrics serves /metrics (Prometheus) on the same listener, next to
	// /healthz, /health and /ready (internal/ops).
	Metrics bool `koanf:"metrics"`
}

// AnonymousConfig says whether clients without a user name may connect, and
// with what rights.
type AnonymousConfig struct {
	Enabled bool `koanf:"enabled"`
	// Role and Devices give anonymous clients the rights of a user.
	Role    string   `koanf:"role"`
	Devices []string `koanf:"devices"`
	// LoopbackOnly refuses anonymous clients whose remote address is not a
	// loopback address, so a dev config that binds 0.0.0.0 by mistake does
	// not open the broker to the lab network.
	LoopbackOnly bool `koanf:"loopback_only"`
}

// UserConfig is one user. Only PasswordHash is used; Password exists so a
// plain-text password in the file is refused by name instead of ignored.
type UserConfig struct {
	PasswordHash string `koanf:"password_hash"` // bcrypt, from `plate-resort passwd`
	Password     string `koanf:"password"`      // always refused
	Role         string `koanf:"role"`
	// Devices lists the device ids an agent may act for (required for
	// agent), or restricts an operator/bridge to these devices (optional).
	Devices []string `koanf:"devices"`
}

// StorageConfig selects persistence of retained messages and sessions.
type StorageConfig struct {
	// Path of the bolt database file; empty keeps everything in memory.
	Path string `koanf:"path"`
}

// LimitsConfig bounds what one client and all clients together may cost.
type LimitsConfig struct {
	MaxClients int64 `koanf:"max_clients"`
	// MaxPacketSize in bytes. HA discovery and the info document with JSON
	// schemas are the largest payloads of the contract (a few KiB).
	MaxPacketSize uint32 `koanf:"max_packet_size"`
	// MaxInflight is the number of QoS 1/2 messages held per client.
	MaxInflight uint16 `koanf:"max_inflight"`
	// ReceiveMaximum is the MQTT 5 receive window granted to each client.
	ReceiveMaximum uint16 `koanf:"receive_maximum"`
	// MaxPendingWrites is the per-client outbound queue; a client that falls
	// further behind loses messages instead of growing the broker's memory.
	MaxPendingWrites int32 `koanf:"max_pending_writes"`
	// MaxSessionExpiry caps how long a disconnected persistent session (and
	// its queued messages) is kept.
	MaxSessionExpiry time.Duration `koanf:"max_session_expiry"`
	// SysInterval is how often $SYS topics are republished.
	SysInterval time.Duration `koanf:"sys_interval"`
	// ConnectTimeout is how long a new connection may take to send its
	// CONNECT; a socket that never does is closed, so idle sockets cannot
	// pile up.
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
	// MaxConnectionsPerUser caps the open connections of one user name (and
	// of anonymous clients together), so one user cannot use up max_clients
	// and lock the agent and operators out.
	MaxConnectionsPerUser int `koanf:"max_connections_per_user"`
}

// Role names.
const (
	RoleAgent    = "agent"
	RoleOperator = "operator"
	RoleBridge   = "bridge"
	RoleViewer   = "viewer"
	RoleAdmin    = "admin"
)

// DefaultPrefix is the contract's default topic prefix.
const DefaultPrefix = contract.DefaultPrefix

// DefaultConfig is the loopback development setup: plain TCP on
// 127.0.0.1:1883, anonymous clients allowed (from loopback only) as admin, no
// persistence.
func DefaultConfig() Config {
	return Config{
		Prefix: DefaultPrefix,
		Listeners: ListenersConfig{
			TCP: TCPConfig{Address: "127.0.0.1:1883"},
		},
		Anonymous: AnonymousConfig{Enabled: true, Role: RoleAdmin, LoopbackOnly: true},
		Users:     map[string]UserConfig{},
		Limits: LimitsConfig{
			MaxClients:       1000,
			MaxPacketSize:    1 << 20,
			MaxInflight:      1024,
			ReceiveMaximum:   1024,
			MaxPendingWrites: 8192,
			MaxSessionExpiry: 7 * 24 * time.Hour,
			SysInterval:      30 * time.Second,
			ConnectTimeout:   10 * time.Second,
			// Enough for a fleet's agents sharing one anonymous dev login.
			MaxConnectionsPerUser: 500,
		},
		Log: logging.Options{Level: "info", Format: "auto"},
	}
}
