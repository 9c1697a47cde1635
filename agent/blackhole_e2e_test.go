package agent_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/mqttconn"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// TestFailoverBlackholedBroker: broker A vanishes without closing a single
// TCP connection (a pulled cable, a frozen VM), which the other failover
// tests do not cover: there the kernel ends the connections at once. Agent
// and client reach A through their own testenv.Proxy, switched to a
// blackhole under the get_position load with a move in flight; nothing
// but MQTT keepalive can notice (MQTT 5.0 §3.1.2.10: a client that gets no
// PINGRESP within a reasonable time closes the connection; paho's pinger,
// docs/mqtt.md §4). Each reconnect round then tries A first, which takes
// the connection and never answers: mqtt.connect_timeout passes before B
// is tried. Measured and logged (lines BLACKHOLE): blackhole -> each
// party's retry (its new connection to the proxy), -> the agent's online
// on B, -> the first good reply through B. Asserted: commands work again
// through B within a generous bound; B holds the agent's retained
// messages; a move sent into the blackhole, sent again with its id through
// B, runs once; when A comes back (everything held reaches it, the stale
// command too) and B then stops, the agent fails back to A without running
// anything twice.
func TestFailoverBlackholedBroker(t *testing.T) {
	for _, c := range []struct{ keepAlive, connectTimeout time.Duration }{
		{2 * time.Second, 2 * time.Second},
		{2 * time.Second, mqttconn.DefaultConnectTimeout},
		{5 * time.Second, 5 * time.Second},
	} {
		t.Run(fmt.Sprintf("keepalive=%s,connect_timeout=%s", c.keepAlive, c.connectTimeout), func(t *testing.T) {
			t.Parallel()
			testBlackhole(t, c.keepAlive, c.connectTimeout)
		})
	}
}

func testBlackhole(t *testing.T, keepAlive, connectTimeout time.Duration) {
	bp := newEmbeddedPair(t)
	agentProxy := testenv.StartProxy(t, bp.addrs[0])
	clientProxy := testenv.StartProxy(t, bp.addrs[0])
	viaProxy := func(p *testenv.Proxy) []string { return []string{"mqtt://" + p.Addr(), bp.url(1)} }
	rig := newFailoverRig(t, viaProxy(agentProxy), viaProxy(clientProxy), keepAlive, connectTimeout)
	onlineOnB := firstMessage(t, bp.url(1), rig.topics.Availability(), contract.Online)
	load := startLoad(rig.ping)
	testenv.Eventually(t, 10*time.Second, "the load answered through A", func() bool {
		r, ok := load.firstGoodAfter(time.Now().Add(-time.Second))
		return ok && r.broker == mqttconn.Redact("mqtt://"+clientProxy.Addr())
	})

	moveBody, moveReply, afterMove := rig.startMove(t, "bh-move", 200)

	blackholed := time.Now()
	agentProxy.Blackhole()
	clientProxy.Blackhole()

	// A move sent into the blackhole: the client still believes it is
	// connected, so the publish goes out and nothing comes back.
	lostBody := `{"id":"bh-lost","angle":90,"precise":false}`
	lostReply := make(chan *contract.Reply, 1)
	go func() {
		rctx, rcancel := context.WithTimeout(rig.ctx, 2*keepAlive)
		defer rcancel()
		r, _, _ := rig.cl.request(rctx, rig.topics, contract.MoveToAngle, "bh-lost", lostBody)
		lostReply <- r
	}()

	// Generous: the pinger gives up within two keepalives, and one
	// connect timeout on A follows; one as long as keepalive is inside the
	// bound, a longer one adds what it has beyond.
	bound := 4*keepAlive + 5*time.Second + max(0, connectTimeout-keepAlive)
	var first loadResult
	testenv.Eventually(t, bound+30*time.Second, "a good reply through B", func() bool {
		var ok bool
		first, ok = load.firstGoodAfter(blackholed)
		return ok
	})
	if first.broker != mqttconn.Redact(bp.url(1)) {
		t.Fatalf("the first reply after the blackhole came through %q, want %s", first.broker, bp.url(1))
	}
	failover := first.got.Sub(blackholed)
	since := func(ts []time.Time) string {
		if len(ts) == 0 {
			return "none"
		}
		return ts[0].Sub(blackholed).Round(time.Millisecond).String()
	}
	t.Logf("BLACKHOLE keepalive %s connect_timeout %s: blackhole -> agent retries A %s, client retries A %s, agent online on B %s, first good reply through B %s (bound %s)",
		keepAlive, connectTimeout, since(agentProxy.Held()), since(clientProxy.Held()), since(onlineOnB()), failover.Round(time.Millisecond), bound)
	if failover > bound {
		t.Fatalf("failover after a blackhole took %s, more than %s", failover, bound)
	}

	// The move in flight: its reply went into the blackhole or is still
	// coming; sent again through B it is answered and not run again.
	if r := rig.cl.resend(t, rig.ctx, rig.topics, contract.MoveToAngle, "bh-move", moveBody, moveReply); r.Status != contract.StatusOK {
		t.Fatalf("move bh-move: %+v", r)
	}
	if got := rig.goalWrites.Load(); got != afterMove {
		t.Fatalf("bh-move wrote its goal again after the failover: %d goal writes, %d before", got, afterMove)
	}
	// The move sent into the blackhole never reached the agent; sent again
	// through B it runs, once.
	if r := <-lostReply; r != nil {
		t.Fatalf("a reply to bh-lost came out of the blackhole: %+v", r)
	}
	r := rig.cl.resend(t, rig.ctx, rig.topics, contract.MoveToAngle, "bh-lost", lostBody, nil)
	if r.Status != contract.StatusOK || r.Duplicate {
		t.Fatalf("bh-lost through B: %+v, want it run now", r)
	}
	afterLost := rig.goalWrites.Load()
	if afterLost == afterMove {
		t.Fatal("bh-lost answered without writing its goal")
	}
	if r := rig.cl.resend(t, rig.ctx, rig.topics, contract.MoveToAngle, "bh-lost", lostBody, nil); r.Status != contract.StatusOK || !r.Duplicate {
		t.Fatalf("bh-lost again: %+v, want the stored reply", r)
	}
	wantRetainedOn(t, bp.url(1), rig.cfg, "after the blackhole")

	// A comes back: what the blackhole held reaches it (the client's stale
	// PUBLISH of bh-lost, the agent's unanswered PINGREQ), then the ends
	// of the abandoned connections. The agent stays on B.
	agentProxy.Restore()
	clientProxy.Restore()
	time.Sleep(2 * keepAlive)
	if got := rig.goalWrites.Load(); got != afterLost {
		t.Fatalf("%d goal writes after A came back, %d before", got, afterLost)
	}
	// B stops: both fail back to A, which the list names first.
	stopped := time.Now()
	bp.stop(1)
	testenv.Eventually(t, bound+30*time.Second, "a good reply through A again", func() bool {
		r, ok := load.firstGoodAfter(stopped)
		return ok && r.broker == mqttconn.Redact("mqtt://"+clientProxy.Addr())
	})
	t.Logf("B stopped (connections closed): first good reply through A again after %s", time.Since(stopped).Round(time.Millisecond))
	if r := rig.cl.resend(t, rig.ctx, rig.topics, contract.MoveToAngle, "bh-lost", lostBody, nil); r.Status != contract.StatusOK || !r.Duplicate {
		t.Fatalf("bh-lost through A after the failback: %+v, want the stored reply", r)
	}
	if got := rig.goalWrites.Load(); got != afterLost {
		t.Fatalf("%d goal writes after the failback, %d before", got, afterLost)
	}
	wantRetainedOn(t, bp.url(0), rig.cfg, "after the failback")
	if n, good := load.stop(); good == 0 {
		t.Fatalf("none of %d get_position answered", n)
	}
}

// firstMessage subscribes to topic on the broker at url alone and returns
// a function that tells when payload first arrived there (nil before).
func firstMessage(t *testing.T, url, topic, payload string) func() []time.Time {
	t.Helper()
	var mu sync.Mutex
	var at []time.Time
	cm, _ := testClient(t, mqttconn.Config{URL: url, ClientID: "watch-" + strconv.Itoa(testenv.FreePort(t))}, mqttconn.Options{
		OnUp: func(cm *autopaho.ConnectionManager) { _ = subscribe(cm, paho.SubscribeOptions{Topic: topic, QoS: 1}) },
		OnPublish: func(p *paho.Publish) {
			if string(p.Payload) == payload {
				mu.Lock()
				if at == nil {
					at = []time.Time{time.Now()}
				}
				mu.Unlock()
			}
		},
	})
	testenv.Eventually(t, 10*time.Second, fmt.Sprintf("a watcher on %s", url), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return cm.AwaitConnection(ctx) == nil
	})
	return func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Time(nil), at...)
	}
}
