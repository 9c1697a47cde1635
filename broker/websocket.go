package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// wsListener serves MQTT over WebSocket (MQTT 5.0 §6: binary frames,
// subprotocol "mqtt"). It replaces mochi's listeners.Websocket, which binds
// only inside Serve: a bind error there is merely logged, and port 0 cannot
// report the port it got. This one binds in Init, so Start fails loudly and
// tests can ask for a free port.
type wsListener struct {
	id, addr string
	tlsCfg   *tls.Config
	ln       net.Listener
	log      *slog.Logger
	// mu orders Serve's creation of srv before Close's shutdown of it:
	// Close may come while Serve is still starting (up stopped at once).
	mu       sync.Mutex
	srv      *http.Server
	closed   bool
	upgrader websocket.Upgrader
	once     sync.Once
	// readLimit bounds one WebSocket message, so a frame cannot be bigger
	// than the largest MQTT packet allowed plus its fixed header.
	readLimit int64
	// panel, when set, answers requests that are not WebSocket upgrades
	// (listeners.websocket.panel); nil keeps every path MQTT-only.
	panel http.Handler
}

var _ listeners.Listener = (*wsListener)(nil)

func newWSListener(id, addr string, tlsCfg *tls.Config, maxPacket uint32) *wsListener {
	return &wsListener{
		id: id, addr: addr, tlsCfg: tlsCfg, readLimit: int64(maxPacket) + 5,
		upgrader: websocket.Upgrader{
			Subprotocols: []string{"mqtt"},
			// Any origin: MQTT authenticates in-band with user name and
			// password in CONNECT, never with cookies, so a foreign page
			// gains nothing a direct TCP client would not have.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
}

func (l *wsListener) ID() string { return l.id }

func (l *wsListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

func (l *wsListener) Protocol() string {
	if l.tlsCfg != nil {
		return "wss"
	}
	return "ws"
}

func (l *wsListener) Init(log *slog.Logger) error {
	l.log = log
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return fmt.Errorf("websocket listener %s: %w", l.addr, err)
	}
	if l.tlsCfg != nil {
		ln = tls.NewListener(ln, l.tlsCfg)
	}
	l.ln = ln
	return nil
}

func (l *wsListener) Serve(establish listeners.EstablishFn) {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// An upgrade on any path is MQTT (clients use / or /mqtt); the
		// panel gets the ordinary page loads (RFC 6455 §4.2.1: an upgrade
		// carries Upgrade: websocket and Connection: Upgrade).
		if l.panel != nil && !websocket.IsWebSocketUpgrade(r) {
			l.panel.ServeHTTP(w, r)
			return
		}
		c, err := l.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return // Upgrade already answered with an HTTP error
		}
		defer c.Close()
		c.SetReadLimit(l.readLimit)
		if err := establish(l.id, &wsConn{Conn: c.NetConn(), ws: c}); err != nil {
			l.log.Warn("", "error", err)
		}
	})
	// ReadHeaderTimeout bounds the HTTP handshake only; after the upgrade
	// MQTT keepalive governs the connection.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.srv = srv
	l.mu.Unlock()
	if err := srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		l.log.Error("websocket listener stopped", "error", err, "listener", l.id)
	}
}

func (l *wsListener) Close(closeClients listeners.CloseFn) {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		srv := l.srv
		l.mu.Unlock()
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		} else if l.ln != nil {
			_ = l.ln.Close()
		}
	})
	closeClients(l.id)
}

// wsConn presents a WebSocket as the byte stream mochi reads MQTT packets
// from. MQTT packets may span WebSocket frames and a frame may hold several
// packets (MQTT 5.0 §6), so Read walks message readers in turn.
type wsConn struct {
	net.Conn // addresses and deadlines of the underlying TCP connection
	ws       *websocket.Conn
	r        io.Reader
	wmu      sync.Mutex
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage {
				return 0, errors.New("websocket: MQTT needs binary frames (MQTT 5.0 §6)")
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if errors.Is(err, io.EOF) {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error { return c.ws.Close() }
