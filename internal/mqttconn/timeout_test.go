package mqttconn

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// mqtt.connect_timeout is checked like every other key, and a broker that
// accepts the TCP connection and never answers the CONNECT (a frozen
// host's kernel completing the handshake from its backlog) is given up
// after it, not after autopaho's own 10 s: with mqtt.urls that is what a
// silent first broker costs every reconnect round (docs/mqtt.md §4).
func TestConnectTimeout(t *testing.T) {
	for _, d := range []time.Duration{0, 500 * time.Millisecond, 6 * time.Minute} {
		c := valid()
		c.ConnectTimeout = d
		if errs := checkErrs(c); len(errs) != 1 || !strings.HasPrefix(errs[0], "mqtt.connect_timeout: ") {
			t.Errorf("connect_timeout %s: %v", d, errs)
		}
	}
	if (Config{}).connectTimeout() != DefaultConnectTimeout {
		t.Fatal("unset connect timeout is not the default")
	}

	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var mu sync.Mutex
	var held []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			_ = c.Close()
		}
	}()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	failed := make(chan time.Time, 16)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	c := Config{URL: "mqtt://" + silent.Addr().String(), ClientID: "timeout-test", KeepAlive: 30 * time.Second, ConnectTimeout: time.Second}
	// Connect logs every failed attempt ("MQTT connect failed; retrying").
	log := zerolog.New(writerFunc(func(p []byte) {
		if strings.Contains(string(p), "connect failed") {
			select {
			case failed <- time.Now():
			default:
			}
		}
	}))
	if _, err := Connect(ctx, c, Options{Log: log}); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-failed:
		if d := at.Sub(start); d < 900*time.Millisecond || d > 5*time.Second {
			t.Fatalf("the silent broker was given up after %s, want about 1 s", d)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("the silent broker was not given up within 8 s")
	}
}

type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
