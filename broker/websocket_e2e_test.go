package broker

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

func nopLog() zerolog.Logger { return zerolog.Nop() }

// A WebSocket client (autopaho over gorilla/websocket, as a browser
// dashboard would connect) subscribes and receives both the retained state
// and a live message published over TCP by mosquitto_pub.
func TestWebSocketSubscribe(t *testing.T) {
	cfg := productionConfig(t)
	cfg.Listeners.WebSocket.Address = "127.0.0.1:0"
	b, _ := startBroker(t, cfg)
	h, p := hostPort(t, b.TCPAddr())
	if out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append([]string{"-h", h, "-p", p, "-r", "-q", "1",
		"-t", "plate-resort/resort-1/state", "-m", "retained-state"}, creds("agent1")...)...); err != nil {
		t.Fatalf("publish: %v %s", err, out)
	}

	got := make(chan string, 10)
	u, _ := url.Parse("ws://" + b.WebSocketAddr() + "/mqtt")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	subscribed := make(chan error, 1)
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls:                    []*url.URL{u},
		KeepAlive:                     30,
		CleanStartOnInitialConnection: true,
		ConnectUsername:               "viewer",
		ConnectPassword:               []byte(testPasswords["viewer"]),
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				_, err := cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "plate-resort/+/state", QoS: 1}}})
				subscribed <- err
			}()
		},
		ClientConfig: paho.ClientConfig{
			ClientID: "ws-dashboard",
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				got <- string(pr.Packet.Payload)
				return true, nil
			}},
		},
	})
	if err != nil {
		t.Fatalf("autopaho: %v", err)
	}
	defer func() { _ = cm.Disconnect(context.Background()) }()
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("subscribe over websocket: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("websocket client never subscribed")
	}
	if out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append([]string{"-h", h, "-p", p, "-q", "1",
		"-t", "plate-resort/resort-1/state", "-m", "live-state"}, creds("agent1")...)...); err != nil {
		t.Fatalf("publish: %v %s", err, out)
	}
	for _, want := range []string{"retained-state", "live-state"} {
		select {
		case m := <-got:
			if m != want {
				t.Errorf("got %q, want %q", m, want)
			}
		case <-ctx.Done():
			t.Fatalf("no %q over websocket", want)
		}
	}
}

// Hostile WebSocket input: text frames and an oversized frame end the
// connection; the broker keeps serving.
func TestWebSocketHostileFrames(t *testing.T) {
	cfg := productionConfig(t)
	cfg.Listeners.WebSocket.Address = "127.0.0.1:0"
	cfg.Limits.MaxPacketSize = 4096
	b, _ := startBroker(t, cfg)
	dial := func() *websocket.Conn {
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}, HandshakeTimeout: 5 * time.Second}
		c, _, err := d.Dial("ws://"+b.WebSocketAddr()+"/", nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		return c
	}
	for name, send := range map[string]func(*websocket.Conn) error{
		"text frame": func(c *websocket.Conn) error { return c.WriteMessage(websocket.TextMessage, []byte("\x10\x00")) },
		"oversized":  func(c *websocket.Conn) error { return c.WriteMessage(websocket.BinaryMessage, make([]byte, 10000)) },
		"garbage": func(c *websocket.Conn) error {
			return c.WriteMessage(websocket.BinaryMessage, []byte{0xff, 0xff, 0xff, 0xff, 0xff})
		},
	} {
		c := dial()
		_ = send(c)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.ReadMessage(); err == nil {
			t.Errorf("%s: the broker answered instead of closing", name)
		} else if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
			t.Errorf("%s: connection left open", name)
		}
		c.Close()
	}
	// Still serving: a normal client connects.
	pahoConnect(t, b.TCPAddr(), "after-hostile", "viewer")
}

func TestHealthEndpoint(t *testing.T) {
	cfg := productionConfig(t)
	cfg.Listeners.Health.Address = "127.0.0.1:0"
	b, _ := startBroker(t, cfg)
	pahoConnect(t, b.TCPAddr(), "health-probe", "viewer")
	res, err := http.Get("http://" + b.HealthAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != 200 || body["status"] != "ok" {
		t.Fatalf("GET /healthz: %d %v %v", res.StatusCode, body, err)
	}
	if n, _ := body["clients_connected"].(float64); n < 1 {
		t.Errorf("clients_connected = %v, want >= 1", body["clients_connected"])
	}
	res2, err := http.Post("http://"+b.HealthAddr()+"/healthz", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if res2.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz: %d, want 405", res2.StatusCode)
	}
}
