package mqttconn_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/internal/mqttconn"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// A broker blackholed while the client is writing more than the socket
// buffers hold: the client's write blocks, and the connection must still
// be given up by the keepalive (paho's pinger writes its PINGREQ from its
// own goroutine and judges by the missing PINGRESP alone; closing the
// connection unblocks the write; docs/mqtt.md §4).
func TestBlackholeWithBlockedWrite(t *testing.T) {
	testenv.NeedBinary(t, "mosquitto")
	m := testenv.StartMosquitto(t)
	proxy := testenv.StartProxy(t, m.Addr)
	const keepAlive = 2 * time.Second
	up, down := make(chan struct{}, 1), make(chan time.Time, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cm, err := mqttconn.Connect(ctx, mqttconn.Config{URL: "mqtt://" + proxy.Addr(), ClientID: "blocked-writer", KeepAlive: keepAlive, ConnectTimeout: keepAlive}, mqttconn.Options{
		Log:    zerolog.Nop(),
		OnUp:   func(*autopaho.ConnectionManager) { up <- struct{}{} },
		OnDown: func() { down <- time.Now() },
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-up:
	case <-time.After(10 * time.Second):
		t.Fatal("no connection through the proxy")
	}

	// paho pings at once on connecting: let that PINGRESP through first.
	time.Sleep(keepAlive / 2)
	blackholed := time.Now()
	proxy.Blackhole()
	// QoS 0 publishes of 1 MiB go straight to the socket: the buffers fill
	// within a few and the next write blocks.
	payload := make([]byte, 1<<20)
	var sent atomic.Int64                // MiB gone into the buffers
	failed := make(chan [2]time.Time, 1) // start and end of the first write that failed
	go func() {
		for ctx.Err() == nil {
			start := time.Now()
			if _, err := cm.Publish(ctx, &paho.Publish{Topic: "blackhole/bulk", QoS: 0, Payload: payload}); err != nil {
				select {
				case failed <- [2]time.Time{start, time.Now()}:
				default:
				}
				if errors.Is(err, context.Canceled) {
					return
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			sent.Add(1)
		}
	}()
	bound := 4*keepAlive + 5*time.Second
	var at time.Time
	select {
	case at = <-down:
	case <-time.After(bound):
		t.Fatalf("connection not given up within %s of the blackhole (%d MiB written)", bound, sent.Load())
	}
	select {
	case w := <-failed:
		blocked := w[1].Sub(w[0])
		t.Logf("blocked writer: connection given up %s after the blackhole (keepalive %s); %d MiB went into the buffers, then one write was blocked for %s until the connection closed",
			at.Sub(blackholed).Round(time.Millisecond), keepAlive, sent.Load(), blocked.Round(time.Millisecond))
		if blocked < keepAlive {
			t.Fatalf("the failed write was blocked only %s: the test did not fill the buffers", blocked)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the blocked write did not return within 5 s of the connection being given up (%d MiB written)", sent.Load())
	}
}
