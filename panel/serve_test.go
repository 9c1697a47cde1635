package panel_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/internal/testenv/brokertest"
)

func wsBroker(t *testing.T, panelOn bool) string {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.Listeners.TCP.Address = ""
	cfg.Listeners.WebSocket = broker.WebSocketConfig{Address: "127.0.0.1:0", Panel: panelOn}
	return brokertest.Start(t, cfg).WebSocketAddr()
}

// TestServing: with the panel on, a plain GET gets the page and an upgrade
// on / or /mqtt is still MQTT; with it off (the default), no page at all.
func TestServing(t *testing.T) {
	on := wsBroker(t, true)
	for path, want := range map[string]string{"/": "<title>plate-resort panel</title>", "/config.json": `{"prefix":"plate-resort"}`, "/vendor/mqtt.esm.js": "export default"} {
		resp, err := http.Get("http://" + on + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d, body without %q", path, resp.StatusCode, want)
		}
	}
	if resp, err := http.Post("http://"+on+"/", "text/plain", strings.NewReader("x")); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %v %v", resp, err)
	}
	for _, path := range []string{"/", "/mqtt"} {
		d := websocket.Dialer{Subprotocols: []string{"mqtt"}}
		c, resp, err := d.Dial("ws://"+on+path, nil)
		if err != nil {
			t.Fatalf("upgrade on %s: %v", path, err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || c.Subprotocol() != "mqtt" {
			t.Errorf("upgrade on %s: %d %q", path, resp.StatusCode, c.Subprotocol())
		}
		// MQTT 3.1.1 CONNECT, clean session, client id "p": the broker
		// answers CONNACK (0x20) accepted (anonymous from loopback).
		connect := []byte{0x10, 13, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 30, 0, 1, 'p'}
		if err := c.WriteMessage(websocket.BinaryMessage, connect); err != nil {
			t.Fatal(err)
		}
		_, msg, err := c.ReadMessage()
		if err != nil || len(msg) < 4 || msg[0] != 0x20 || msg[3] != 0 {
			t.Errorf("CONNACK on %s: % x %v", path, msg, err)
		}
		c.Close()
	}

	off := wsBroker(t, false)
	resp, err := http.Get("http://" + off + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode == 200 || strings.Contains(string(b), "<html") {
		t.Fatalf("panel off, GET / answered %d %q", resp.StatusCode, b)
	}
}
