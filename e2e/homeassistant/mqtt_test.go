package homeassistant

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// watcher is the test's own MQTT client: it sees what the agent and Home
// Assistant publish (the last payload of every topic, and how many
// messages each topic carried) and publishes the test's own messages.
type watcher struct {
	c     *paho.Client
	mu    sync.Mutex
	last  map[string]string
	count map[string]int
}

func newWatcher(t *testing.T, addr string, filters ...string) *watcher {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	w := &watcher{last: map[string]string{}, count: map[string]int{}}
	w.c = paho.NewClient(paho.ClientConfig{
		ClientID: "ha-e2e-watcher",
		Conn:     packets.NewThreadSafeConn(conn),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			w.mu.Lock()
			w.last[pr.Packet.Topic] = string(pr.Packet.Payload)
			w.count[pr.Packet.Topic]++
			w.mu.Unlock()
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := w.c.Connect(ctx, &paho.Connect{ClientID: "ha-e2e-watcher", CleanStart: true, KeepAlive: 30}); err != nil {
		t.Fatalf("watcher connect: %v", err)
	}
	t.Cleanup(func() { _ = w.c.Disconnect(&paho.Disconnect{}) })
	sub := &paho.Subscribe{}
	for _, f := range filters {
		sub.Subscriptions = append(sub.Subscriptions, paho.SubscribeOptions{Topic: f, QoS: 1})
	}
	if _, err := w.c.Subscribe(ctx, sub); err != nil {
		t.Fatalf("watcher subscribe: %v", err)
	}
	return w
}

// get returns the last payload seen on topic.
func (w *watcher) get(topic string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.last[topic]
	return p, ok
}

// messages counts the messages seen on topics starting with prefix.
func (w *watcher) messages(prefix string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for tp, c := range w.count {
		if strings.HasPrefix(tp, prefix) {
			n += c
		}
	}
	return n
}

// publish sends one QoS 1 message.
func (w *watcher) publish(t testing.TB, topic, payload string, retain bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := w.c.Publish(ctx, &paho.Publish{Topic: topic, Payload: []byte(payload), QoS: 1, Retain: retain}); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}
