package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// tryConnect opens an MQTT 5 connection as user and returns the CONNACK
// reason code (0 on success) without failing the test.
func tryConnect(t *testing.T, addr, clientID, user string, keepAlive uint16) (*paho.Client, byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := paho.NewClient(paho.ClientConfig{ClientID: clientID, Conn: packets.NewThreadSafeConn(conn)})
	cp := &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: keepAlive}
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
		cp.Password, cp.PasswordFlag = []byte(testPasswords[user]), true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		if ca != nil {
			return nil, ca.ReasonCode
		}
		return nil, 0xFF
	}
	t.Cleanup(func() { _ = c.Disconnect(&paho.Disconnect{}) })
	return c, 0
}

// Sockets that never send CONNECT are closed after limits.connect_timeout;
// a client that did connect, with keepalive 0 (no keepalive deadline), is
// not.
func TestConnectDeadline(t *testing.T) {
	cfg := productionConfig(t)
	cfg.Limits.ConnectTimeout = time.Second
	b, _ := startBroker(t, cfg)
	idle, code := tryConnect(t, b.TCPAddr(), "no-keepalive", "viewer", 0)
	if code != 0 {
		t.Fatalf("connect: reason %#x", code)
	}
	const n = 200
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := net.Dial("tcp", b.TCPAddr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		t.Cleanup(func() { _ = c.Close() })
	}
	start := time.Now()
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := c.Read(make([]byte, 1))
		if !errors.Is(err, io.EOF) && !strings.Contains(fmt.Sprint(err), "reset") {
			t.Fatalf("socket %d: want the broker to close it, got %v", i, err)
		}
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("idle sockets closed after %v, want about 1s", el)
	}
	time.Sleep(1500 * time.Millisecond)
	if _, err := idle.Publish(ctx5s(t), &paho.Publish{Topic: "x", QoS: 0}); err != nil {
		t.Errorf("a connected client with keepalive 0 was dropped by the CONNECT deadline: %v", err)
	}
}

// One user cannot use up max_clients: its connections beyond the per-user
// cap get CONNACK 0x97 (quota exceeded), and other users still connect.
func TestPerUserConnectionCap(t *testing.T) {
	cfg := productionConfig(t)
	cfg.Limits.MaxConnectionsPerUser = 3
	cfg.Limits.MaxClients = 5
	b, logs := startBroker(t, cfg)
	for i := range 3 {
		if _, code := tryConnect(t, b.TCPAddr(), fmt.Sprintf("viewer-%d", i), "viewer", 30); code != 0 {
			t.Fatalf("viewer connection %d refused: %#x", i, code)
		}
	}
	if _, code := tryConnect(t, b.TCPAddr(), "viewer-4", "viewer", 30); code != 0x97 {
		t.Fatalf("4th viewer connection: reason %#x, want 0x97 quota exceeded", code)
	}
	if !strings.Contains(logs.String(), "max_connections_per_user") {
		t.Errorf("refusal not logged with its reason:\n%s", logs.String())
	}
	if _, code := tryConnect(t, b.TCPAddr(), "plate-resort-agent-resort-1", "agent1", 30); code != 0 {
		t.Fatalf("agent locked out by a viewer: %#x", code)
	}
	if _, code := tryConnect(t, b.TCPAddr(), "op", "alice", 30); code != 0 {
		t.Fatalf("operator locked out by a viewer: %#x", code)
	}
}

// An agent's client id is its agent user's, online or not: with the agent
// offline, a viewer (mosquitto_sub -i ...) is refused with "client
// identifier not valid" rather than a misleading password error, and the
// agent then connects. An id an agent user has used stays bound to it.
func TestAgentClientIDReserved(t *testing.T) {
	b, logs := startBroker(t, productionConfig(t))
	h, p := hostPort(t, b.TCPAddr())
	out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_sub", append([]string{"-h", h, "-p", p, "-V", "mqttv5",
		"-i", "plate-resort-agent-resort-1", "-t", "x", "-W", "1"}, creds("viewer")...)...)
	if err == nil || !strings.Contains(strings.ToLower(out), "client identifier not valid") {
		t.Fatalf("viewer holding the agent's id: err=%v out=%q; want 'Client identifier not valid'", err, out)
	}
	if !strings.Contains(logs.String(), "reserved for the agent of device resort-1") {
		t.Errorf("refusal reason not logged:\n%s", logs.String())
	}
	if _, code := tryConnect(t, b.TCPAddr(), "plate-resort-agent-resort-1", "agent2", 30); code != 0x85 {
		t.Errorf("agent of resort-2 took resort-1's id: reason %#x", code)
	}
	c, code := tryConnect(t, b.TCPAddr(), "plate-resort-agent-resort-1", "agent1", 30)
	if code != 0 {
		t.Fatalf("agent refused its own id: %#x", code)
	}
	// A custom agent id, used once, stays the agent user's after it left.
	c2, code := tryConnect(t, b.TCPAddr(), "my-carousel", "agent1", 30)
	if code != 0 {
		t.Fatalf("agent custom id: %#x", code)
	}
	_ = c2.Disconnect(&paho.Disconnect{})
	_ = c.Disconnect(&paho.Disconnect{})
	time.Sleep(100 * time.Millisecond)
	if _, code := tryConnect(t, b.TCPAddr(), "my-carousel", "alice", 30); code != 0x85 {
		t.Errorf("operator took the offline agent's custom id: reason %#x, want 0x85", code)
	}
}

// Replies are private: under <prefix>/responses/<user>/ only <user> reads,
// whatever filter another user subscribes with; an agent writes only under
// its own device's level there, so it cannot forge another device's reply.
func TestResponsesArePrivate(t *testing.T) {
	b, _ := startBroker(t, productionConfig(t))
	alice, aliceGot := pahoConnect(t, b.TCPAddr(), "alice-1", "alice")
	viewer, viewerGot := pahoConnect(t, b.TCPAddr(), "viewer-1", "viewer")
	agent, _ := pahoConnect(t, b.TCPAddr(), "agent-1", "agent1")
	for _, c := range []*paho.Client{alice, viewer} {
		if _, err := c.Subscribe(ctx5s(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
			{Topic: "plate-resort/#", QoS: 1}, {Topic: "plate-resort/responses/+/+/#", QoS: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	toViewer := contract.Responses("plate-resort", "viewer") + "/resort-1/7"
	if _, err := agent.Publish(ctx5s(t), &paho.Publish{Topic: toViewer, QoS: 1, Payload: []byte("for viewer")}); err != nil {
		t.Fatalf("agent reply to its own device's level: %v", err)
	}
	forged := contract.Responses("plate-resort", "alice") + "/resort-2/1"
	pr, err := agent.Publish(ctx5s(t), &paho.Publish{Topic: forged, QoS: 1, Payload: []byte("forged")})
	if err == nil && (pr == nil || pr.ReasonCode != reasonNotAuthorized) {
		t.Errorf("agent of resort-1 published a reply as resort-2: %+v", pr)
	}
	deadline := time.After(2 * time.Second)
	for {
		select {
		case p := <-viewerGot:
			if p.Topic != toViewer {
				t.Errorf("viewer got %s", p.Topic)
			}
		case p := <-aliceGot:
			t.Errorf("alice read %s (%q): another user's or a forged reply", p.Topic, p.Payload)
		case <-deadline:
			return
		}
	}
}

// The broker stamps the authenticated user on every command and drops a
// forged stamp.
func TestCommandsStampedWithUser(t *testing.T) {
	b, _ := startBroker(t, productionConfig(t))
	agent, got := pahoConnect(t, b.TCPAddr(), "plate-resort-agent-resort-1", "agent1")
	if _, err := agent.Subscribe(ctx5s(t), &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "plate-resort/resort-1/cmd/#", QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	alice, _ := pahoConnect(t, b.TCPAddr(), "alice-1", "alice")
	props := &paho.PublishProperties{User: paho.UserProperties{{Key: contract.UserProperty, Value: "admin"}, {Key: "other", Value: "kept"}}}
	if _, err := alice.Publish(ctx5s(t), &paho.Publish{Topic: "plate-resort/resort-1/cmd/get_position", QoS: 1, Properties: props}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		var stamps []string
		other := ""
		for _, u := range p.Properties.User {
			if u.Key == contract.UserProperty {
				stamps = append(stamps, u.Value)
			}
			if u.Key == "other" {
				other = u.Value
			}
		}
		if len(stamps) != 1 || stamps[0] != "alice" {
			t.Errorf("user stamps %v, want exactly [alice]", stamps)
		}
		if other != "kept" {
			t.Errorf("the client's own user properties were dropped: %v", p.Properties.User)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("command not delivered")
	}
}

// A fresh bolt database starts without an error in the log.
func TestFreshStorageLogsNoError(t *testing.T) {
	cfg := productionConfig(t)
	cfg.Storage.Path = filepath.Join(t.TempDir(), "broker.db")
	b, logs := startBroker(t, cfg)
	_ = b.Close()
	if _, err := os.Stat(cfg.Storage.Path); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), `"level":"error"`) {
		t.Errorf("error logged at start on a fresh database:\n%s", logs.String())
	}
}
