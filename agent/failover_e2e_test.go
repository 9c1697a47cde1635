package agent_test

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/mqttconn"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// brokerPair is two independent brokers on fixed ports, each stoppable and
// restartable: with no bridging between them, a client on one never sees
// what is published on the other, so every party must fail over.
type brokerPair interface {
	url(i int) string
	stop(i int) // a crash or shutdown of broker i
	start(i int)
}

// embeddedPair: two embedded (mochi) brokers; stop is Close, which ends
// every client connection.
type embeddedPair struct {
	t     *testing.T
	addrs [2]string
	bs    [2]*broker.Broker
}

func newEmbeddedPair(t *testing.T) *embeddedPair {
	p := &embeddedPair{t: t}
	for i := range p.addrs {
		p.addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
		p.start(i)
	}
	t.Cleanup(func() {
		for i := range p.bs {
			p.stop(i)
		}
	})
	return p
}

func (p *embeddedPair) url(i int) string { return "mqtt://" + p.addrs[i] }

func (p *embeddedPair) start(i int) {
	cfg := broker.DefaultConfig()
	cfg.Listeners.TCP.Address = p.addrs[i]
	b, err := broker.New(cfg, zerolog.Nop())
	if err != nil {
		p.t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.bs[i] = b
}

func (p *embeddedPair) stop(i int) {
	if p.bs[i] != nil {
		_ = p.bs[i].Close()
		p.bs[i] = nil
	}
}

// mosquittoPair: two mosquitto processes; stop is SIGKILL (a crash: no
// DISCONNECT, the kernel resets the connections).
type mosquittoPair struct{ ms [2]*testenv.Mosquitto }

func newMosquittoPair(t *testing.T) *mosquittoPair {
	return &mosquittoPair{ms: [2]*testenv.Mosquitto{testenv.StartMosquitto(t), testenv.StartMosquitto(t)}}
}

func (p *mosquittoPair) url(i int) string { return "mqtt://" + p.ms[i].Addr }
func (p *mosquittoPair) stop(i int)       { p.ms[i].Kill() }
func (p *mosquittoPair) start(i int)      { p.ms[i].Start() }

// failoverClient sends commands as MQTT 5 requests through mqttconn with the
// same broker list as the agent, so it fails over too.
type failoverClient struct {
	cm      *autopaho.ConnectionManager
	resp    string
	broker  atomic.Value // redacted URL of the current connection
	mu      sync.Mutex
	waiting map[string]chan []byte // correlation data -> reply
}

func newFailoverClient(t *testing.T, urls []string) *failoverClient {
	t.Helper()
	c := &failoverClient{resp: "test/failover/" + strconv.Itoa(testenv.FreePort(t)), waiting: map[string]chan []byte{}}
	c.broker.Store("")
	ctx, cancel := context.WithCancel(context.Background())
	cm, err := mqttconn.Connect(ctx, mqttconn.Config{URLs: urls, ClientID: "failover-client", KeepAlive: 5 * time.Second}, mqttconn.Options{
		Log: zerolog.Nop(),
		OnUpAt: func(cm *autopaho.ConnectionManager, broker string) {
			sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
			defer scancel()
			if _, err := cm.Subscribe(sctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: c.resp, QoS: 1}}}); err == nil {
				c.broker.Store(broker)
			}
		},
		OnDown: func() { c.broker.Store("") },
		OnPublish: func(p *paho.Publish) {
			if p.Properties == nil {
				return
			}
			c.mu.Lock()
			ch := c.waiting[string(p.Properties.CorrelationData)]
			c.mu.Unlock()
			if ch != nil {
				select {
				case ch <- append([]byte(nil), p.Payload...):
				default:
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer dcancel()
		_ = cm.Disconnect(dctx)
		cancel()
	})
	c.cm = cm
	return c
}

// request publishes cmd with id (also the correlation data) and waits for
// the reply. An error when the client is between brokers.
func (c *failoverClient) request(ctx context.Context, topics contract.Topics, cmd, id, body string) (*contract.Reply, string, error) {
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.waiting[id] = ch
	c.mu.Unlock()
	defer func() { c.mu.Lock(); delete(c.waiting, id); c.mu.Unlock() }()
	broker := c.broker.Load().(string)
	if broker == "" {
		return nil, "", fmt.Errorf("not connected")
	}
	expiry := uint32(10)
	if _, err := c.cm.Publish(ctx, &paho.Publish{Topic: topics.Command(cmd), QoS: 1, Payload: []byte(body), Properties: &paho.PublishProperties{
		ResponseTopic: c.resp, CorrelationData: []byte(id), MessageExpiry: &expiry}}); err != nil {
		return nil, broker, err
	}
	select {
	case p := <-ch:
		r, err := contract.DecodeReply(p, id, cmd)
		return r, c.broker.Load().(string), err
	case <-ctx.Done():
		return nil, broker, ctx.Err()
	}
}

// retainedOn connects to one broker only and returns the retained messages
// on topics (its own connection: proof the broker itself holds them).
func retainedOn(t *testing.T, url string, topics ...string) map[string]string {
	t.Helper()
	var mu sync.Mutex
	got := map[string]string{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var subs []paho.SubscribeOptions
	for _, tp := range topics {
		// Retain As Published: a retained message the agent publishes
		// after this subscription (health comes from its own loop, after
		// a serial read) keeps its retain flag and counts too (MQTT 5.0
		// §3.8.3.1); without it the check raced that publish.
		subs = append(subs, paho.SubscribeOptions{Topic: tp, QoS: 1, RetainAsPublished: true})
	}
	cm, err := mqttconn.Connect(ctx, mqttconn.Config{URL: url, ClientID: "retained-" + strconv.Itoa(testenv.FreePort(t)), KeepAlive: 5 * time.Second}, mqttconn.Options{
		Log: zerolog.Nop(),
		OnUp: func(cm *autopaho.ConnectionManager) {
			_, _ = cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: subs})
		},
		OnPublish: func(p *paho.Publish) {
			if p.Retain {
				mu.Lock()
				got[p.Topic] = string(p.Payload)
				mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer dcancel()
		_ = cm.Disconnect(dctx)
	}()
	// Retained messages arrive right after the SUBACK; give them a moment.
	start := time.Now()
	deadline := start.Add(15 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		missing := 0
		for _, tp := range topics {
			if !strings.Contains(tp, "+") && got[tp] == "" {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			t.Logf("retained messages on %s complete after %s", url, time.Since(start).Round(time.Millisecond))
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	out := map[string]string{}
	for k, v := range got {
		out[k] = v
	}
	return out
}

// TestFailoverEmbeddedBrokers and TestFailoverMosquittoKilled: an agent and
// a client with the same two-broker list, get_position at QoS 1 every
// 20 ms and a move in progress; the active broker is stopped. Commands must
// work again through the other broker, which must then hold the agent's
// retained availability, info, state, health and discovery; the move must
// not be executed twice when its id is sent again there. The failover time
// (stop -> first good reply to a command sent after the stop) is measured
// over several repetitions, alternating the broker that dies, and reported.
func TestFailoverEmbeddedBrokers(t *testing.T) { testFailover(t, newEmbeddedPair(t), "embedded") }

func TestFailoverMosquittoKilled(t *testing.T) {
	testenv.NeedBinary(t, "mosquitto")
	testFailover(t, newMosquittoPair(t), "mosquitto")
}

func testFailover(t *testing.T, bp brokerPair, kind string) {
	urls := []string{bp.url(0), bp.url(1)}
	var cfg agent.Config
	servo := agentOnBroker(t, func(c *agent.Config) {
		c.MQTT.URLs = urls
		c.HealthInterval = 500 * time.Millisecond
		cfg = *c
	})
	var goalWrites atomic.Int64
	servo.OnWrite(func(addr uint16, data []byte, _ time.Time) {
		if addr == xseries.GoalPosition.Addr {
			goalWrites.Add(1)
		}
	})
	topics := cfg.Topics()
	ha := "homeassistant/+/" + cfg.Device + "/+/config"
	retainedTopics := []string{topics.Availability(), topics.Info(), topics.State(), topics.Health()}
	cl := newFailoverClient(t, urls)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	ping := func(timeout time.Duration, id string) (*contract.Reply, string, error) {
		rctx, rcancel := context.WithTimeout(ctx, timeout)
		defer rcancel()
		return cl.request(rctx, topics, contract.GetPosition, id, `{"id":"`+id+`"}`)
	}
	testenv.Eventually(t, 15*time.Second, "the agent to answer on the first broker", func() bool {
		r, _, err := ping(time.Second, fmt.Sprintf("warm-%d", time.Now().UnixNano()))
		return err == nil && r.Status == contract.StatusOK
	})

	// The load: a get_position every 20 ms, each with a fresh id.
	type result struct {
		sent, got time.Time
		broker    string
		ok        bool
	}
	var mu sync.Mutex
	var results []result
	var seq atomic.Int64
	var wg sync.WaitGroup
	loadDone, loadStopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(loadStopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-loadDone:
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sent := time.Now()
				r, b, err := ping(2*time.Second, fmt.Sprintf("load-%d", seq.Add(1)))
				mu.Lock()
				results = append(results, result{sent: sent, got: time.Now(), broker: b, ok: err == nil && r.Status == contract.StatusOK})
				mu.Unlock()
			}()
		}
	}()

	const reps = 6
	var times []time.Duration
	active := 0 // autopaho tries the list in order: the first broker first
	for rep := 0; rep < reps; rep++ {
		other := 1 - active
		// A move in flight when the broker dies.
		moveID := fmt.Sprintf("move-%s-%d", kind, rep)
		angle := 60 + 40*rep
		moveBody := fmt.Sprintf(`{"id":"%s","angle":%d,"precise":false}`, moveID, angle)
		before := goalWrites.Load()
		moveReply := make(chan *contract.Reply, 1)
		go func() {
			mctx, mcancel := context.WithTimeout(ctx, 20*time.Second)
			defer mcancel()
			r, _, _ := cl.request(mctx, topics, contract.MoveToAngle, moveID, moveBody)
			moveReply <- r
		}()
		testenv.Eventually(t, 10*time.Second, "the move to write its goal", func() bool { return goalWrites.Load() > before })
		afterFirst := goalWrites.Load()

		stopped := time.Now()
		bp.stop(active)
		var failover time.Duration
		testenv.Eventually(t, 30*time.Second, "a good reply through the other broker", func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range results {
				if r.ok && r.sent.After(stopped) {
					if r.broker != mqttconn.Redact(bp.url(other)) {
						t.Fatalf("rep %d: a reply after the stop came through %q, want %s", rep, r.broker, bp.url(other))
					}
					failover = r.got.Sub(stopped)
					return true
				}
			}
			return false
		})
		times = append(times, failover)
		t.Logf("%s rep %d: broker %s stopped, first good reply through %s after %s", kind, rep, bp.url(active), bp.url(other), failover.Round(time.Millisecond))

		// The move's reply was on its way through the dead broker (or never
		// left it): send the same id again, as the bridge does after a
		// reconnect. The agent answers from its dedupe memory or joins the
		// running move; it never writes that goal again.
		var r *contract.Reply
		testenv.Eventually(t, 30*time.Second, "the re-sent move to be answered", func() bool {
			select {
			case r = <-moveReply:
				if r != nil {
					return true
				}
			default:
			}
			mctx, mcancel := context.WithTimeout(ctx, 15*time.Second)
			defer mcancel()
			var err error
			r, _, err = cl.request(mctx, topics, contract.MoveToAngle, moveID, moveBody)
			return err == nil
		})
		if r.Status != contract.StatusOK {
			t.Fatalf("rep %d: move %s: %+v", rep, moveID, r)
		}
		if got := goalWrites.Load(); got != afterFirst {
			t.Fatalf("rep %d: move %s wrote the goal again after the failover: %d goal writes, %d before", rep, moveID, got, afterFirst)
		}

		// The new broker holds everything retained, on its own.
		ret := retainedOn(t, bp.url(other), append(retainedTopics, ha)...)
		if ret[topics.Availability()] != contract.Online {
			t.Fatalf("rep %d: availability on %s: %q", rep, bp.url(other), ret[topics.Availability()])
		}
		for _, tp := range retainedTopics[1:] {
			if ret[tp] == "" {
				t.Fatalf("rep %d: no retained %s on %s (got %v)", rep, tp, bp.url(other), keys(ret))
			}
		}
		if len(ret) <= len(retainedTopics) {
			t.Fatalf("rep %d: no retained Home Assistant discovery on %s (got %v)", rep, bp.url(other), keys(ret))
		}

		// Bring the dead broker back (empty: the embedded one keeps nothing,
		// the killed mosquitto saved nothing) for the next repetition, in
		// which the other one dies.
		bp.start(active)
		active = other
	}
	close(loadDone)
	<-loadStopped // no wg.Add after this: Add racing Wait is a data race
	wg.Wait()
	mu.Lock()
	n, good := len(results), 0
	for _, r := range results {
		if r.ok {
			good++
		}
	}
	mu.Unlock()
	sorted := append([]time.Duration(nil), times...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	p50, worst := sorted[len(sorted)/2], sorted[len(sorted)-1]
	t.Logf("FAILOVER %s: %d repetitions, stop -> first good reply p50 %s max %s; %d of %d get_position answered",
		kind, reps, p50.Round(time.Millisecond), worst.Round(time.Millisecond), good, n)
	// Generous: autopaho retries the list at once after a drop; seconds
	// would mean it waited out a backoff or a keepalive.
	if worst > 15*time.Second {
		t.Fatalf("failover took %s", worst)
	}
	// How much of the background load was answered within its 2 s is a
	// figure of the machine's load as much as of the failover (pings in
	// flight when a broker dies are lost with it): reported above, not
	// asserted. That commands work again after every stop is asserted per
	// repetition (the first good reply through the other broker).
	if good == 0 {
		t.Fatalf("none of %d get_position answered", n)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
