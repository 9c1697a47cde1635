package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/rs/zerolog"
	"go.etcd.io/bbolt"

	"github.com/plate-resort/plate-resort/internal/ops"
	"github.com/plate-resort/plate-resort/panel"
)

// Broker is one embedded mochi-mqtt server with its listeners.
type Broker struct {
	cfg    Config
	log    zerolog.Logger
	srv    *mqtt.Server
	tcp    *listeners.TCP
	tls    *listeners.TCP
	ws     *wsListener
	health *http.Server
	hln    net.Listener

	closeOnce sync.Once
	closeErr  error

	ops     *ops.Server // /health, /ready, /metrics on the health listener (metrics.go)
	met     *brokerMetrics
	serving atomic.Bool
}

// Listener ids, as they appear in logs and in mochi's client records.
const (
	listenerTCP = "tcp"
	listenerTLS = "tls"
	listenerWS  = "ws"
)

// New validates cfg and builds the broker. Nothing listens until Start.
func New(cfg Config, log zerolog.Logger) (*Broker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("broker config: %w", err)
	}
	log = log.With().Str("component", "broker").Logger()
	b := &Broker{cfg: cfg, log: log}

	caps := mqtt.NewDefaultServerCapabilities()
	// 0 = no limit. mochi's default of 24 h also deletes *retained* messages
	// older than that (mochi #444, docs/mqtt.md §5): state, availability, info and
	// HA discovery must stay retained for as long as the device lives.
	// Per-message MQTT 5 expiry (commands with a deadline) is still honoured.
	caps.MaximumMessageExpiryInterval = 0
	caps.MaximumClients = cfg.Limits.MaxClients
	caps.MaximumPacketSize = cfg.Limits.MaxPacketSize
	caps.MaximumInflight = cfg.Limits.MaxInflight
	caps.ReceiveMaximum = cfg.Limits.ReceiveMaximum
	caps.MaximumClientWritesPending = cfg.Limits.MaxPendingWrites
	caps.MaximumSessionExpiryInterval = uint32(cfg.Limits.MaxSessionExpiry / time.Second)
	// Keep the real reason code (0x87 Not authorized) on a refused
	// subscription instead of 0x80, so a user sees why.
	caps.Compatibilities.ObscureNotAuthorized = false
	// An ack must not echo the publish's properties: it would hand the
	// publisher its own user properties back and, with properties present,
	// mochi writes the QoS "granted" code into a PUBACK's reason byte.
	caps.Compatibilities.NoInheritedPropertiesOnAck = true

	b.srv = mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		Logger:                 newSlog(log),
		SysTopicResendInterval: int64(cfg.Limits.SysInterval / time.Second),
		// The inline client lets the embedding process (plate-resort up)
		// publish without a socket; it bypasses ACLs by design.
		InlineClient: true,
	})

	auth, err := newAuthHook(cfg, log)
	if err != nil {
		return nil, err
	}
	auth.srv = b.srv
	b.met = newBrokerMetrics()
	auth.met = b.met
	b.ops = ops.New(cfg.Listeners.Health.Metrics)
	b.registerOps(b.ops, b.met)
	if err := b.srv.AddHook(auth, nil); err != nil {
		return nil, fmt.Errorf("broker: add auth hook: %w", err)
	}
	if cfg.Storage.Path != "" {
		// Why bolt, and one repair of mochi's hook: storage.go. The 2 s
		// timeout turns a second broker on the same file into an error
		// instead of a hang.
		err := b.srv.AddHook(boltStore{new(bolt.Hook)}, &bolt.Options{
			Path:    cfg.Storage.Path,
			Options: &bbolt.Options{Timeout: 2 * time.Second},
		})
		if err != nil {
			return nil, fmt.Errorf("storage.path %s: open bolt database: %w", cfg.Storage.Path, err)
		}
	}

	var tlsCfg *tls.Config
	if cfg.Listeners.TLS.Address != "" || cfg.Listeners.WebSocket.TLS {
		if tlsCfg, err = loadTLS(cfg.Listeners.TLS); err != nil {
			return nil, errors.Join(err, b.srv.Close())
		}
	}
	if a := cfg.Listeners.TCP.Address; a != "" {
		b.tcp = listeners.NewTCP(listeners.Config{ID: listenerTCP, Address: a})
	}
	if a := cfg.Listeners.TLS.Address; a != "" {
		b.tls = listeners.NewTCP(listeners.Config{ID: listenerTLS, Address: a, TLSConfig: tlsCfg})
	}
	if a := cfg.Listeners.WebSocket.Address; a != "" {
		var wsTLS *tls.Config
		if cfg.Listeners.WebSocket.TLS {
			wsTLS = tlsCfg
		}
		b.ws = newWSListener(listenerWS, a, wsTLS, cfg.Limits.MaxPacketSize)
		if cfg.Listeners.WebSocket.Panel {
			b.ws.panel = panel.Handler(panel.Options{Prefix: cfg.Prefix})
		}
	}
	return b, nil
}

// Start binds every listener and serves in the background (mochi's Serve is
// non-blocking). A bind error closes whatever was already opened.
func (b *Broker) Start() error {
	for _, l := range []listeners.Listener{b.tcp, b.tls, b.ws} {
		if isNil(l) {
			continue
		}
		if err := b.srv.AddListener(connectDeadline{Listener: l, d: b.cfg.Limits.ConnectTimeout}); err != nil {
			return errors.Join(fmt.Errorf("broker: listener %s on %s: %w", l.ID(), l.Address(), err), b.Close())
		}
	}
	if a := b.cfg.Listeners.Health.Address; a != "" {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			return errors.Join(fmt.Errorf("broker: health listener on %s: %w", a, err), b.Close())
		}
		b.hln = ln
		mux := healthHandler(b.srv)
		b.ops.Mount(mux) // /health, /ready and, with metrics on, /metrics
		b.health = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := b.health.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				b.log.Error().Err(err).Msg("health listener stopped")
			}
		}()
	}
	if err := b.srv.Serve(); err != nil {
		return errors.Join(fmt.Errorf("broker: serve: %w", err), b.Close())
	}
	b.serving.Store(true)
	b.log.Info().Str("tcp", b.TCPAddr()).Str("tls", b.TLSAddr()).Str("websocket", b.WebSocketAddr()).
		Str("health", b.HealthAddr()).Str("storage", b.cfg.Storage.Path).Int("users", len(b.cfg.Users)).
		Bool("anonymous", b.cfg.Anonymous.Enabled).Msg("broker listening")
	return nil
}

// Close stops the listeners, disconnects clients and closes the storage
// file. It is safe to call more than once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.serving.Store(false)
		var errs []error
		if b.health != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			errs = append(errs, b.health.Shutdown(ctx))
			cancel()
		}
		errs = append(errs, b.srv.Close())
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

// Server is the underlying mochi server, for the inline client
// (Publish/Subscribe without a socket) of the embedding process.
func (b *Broker) Server() *mqtt.Server { return b.srv }

// TCPAddr is the bound address of the plain TCP listener ("" when off), so
// a config with port 0 learns the port it got.
func (b *Broker) TCPAddr() string { return addrOf(b.tcp) }

// TLSAddr is the bound address of the TLS listener ("" when off).
func (b *Broker) TLSAddr() string { return addrOf(b.tls) }

// WebSocketAddr is the bound address of the WebSocket listener ("" when off).
func (b *Broker) WebSocketAddr() string {
	if b.ws == nil {
		return ""
	}
	return b.ws.Address()
}

// HealthAddr is the bound address of the HTTP health endpoint ("" when off).
func (b *Broker) HealthAddr() string {
	if b.hln == nil {
		return ""
	}
	return b.hln.Addr().String()
}

func addrOf(l *listeners.TCP) string {
	if l == nil {
		return ""
	}
	return l.Address()
}

// isNil sees through an interface holding a nil pointer.
func isNil(l listeners.Listener) bool {
	switch v := l.(type) {
	case *listeners.TCP:
		return v == nil
	case *wsListener:
		return v == nil
	}
	return l == nil
}
