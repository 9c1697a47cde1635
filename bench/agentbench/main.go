// Command agentbench measures the agent as users see it: the agent binary
// runs as its own process against the embedded broker and the simulated
// servo on a pseudo-terminal with wire timing at the configured baud rate.
//
//	go run ./bench/agentbench [-bin bin/plate-resort] [-n 1000] [-estops 30] [-baud 57600]
//
// It prints get_position MQTT round-trip percentiles next to the serial wire
// time of the same transaction, emergency-stop latency (publish -> torque-off
// packet at the servo), the agent's RSS idle and under 100 commands/s, and
// the binary size.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/bus"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/benchstat"
)

func main() {
	bin := flag.String("bin", "bin/plate-resort", "agent binary (make build)")
	n := flag.Int("n", 1000, "get_position requests")
	stops := flag.Int("estops", 30, "emergency stops to time")
	baud := flag.Int("baud", 57600, "simulated baud rate")
	rdt := flag.Int("return-delay-us", 0, "Return Delay Time the agent sets (resort.return_delay_us; the factory value is 500)")
	flag.Parse()
	returnDelay = *rdt
	if err := run(*bin, *n, *stops, *baud); err != nil {
		fmt.Fprintln(os.Stderr, "agentbench:", err)
		os.Exit(1)
	}
}

var returnDelay int

// The agent runs with this prefix and device id (passed as flags), and the
// bench client takes its replies under contract.Responses(prefix, benchWho).
const (
	prefix   = contract.DefaultPrefix
	device   = "resort-1"
	benchWho = "bench"
)

func run(bin string, n, stops, baud int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bcfg := broker.DefaultConfig()
	bcfg.Listeners.TCP.Address = "127.0.0.1:0"
	b, err := broker.New(bcfg, zerolog.Nop())
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	defer b.Close()

	servo := sim.New(sim.Config{Baud: baud, Seed: 1})
	dir, err := os.MkdirTemp("", "agentbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	link := filepath.Join(dir, "servo")
	p, err := sim.ListenPTY(ctx, servo, link)
	if err != nil {
		return err
	}
	defer p.Close()

	var torqueOffMu sync.Mutex
	var torqueOff time.Time
	servo.OnWrite(func(addr uint16, data []byte, at time.Time) {
		if addr == xseries.TorqueEnable.Addr && len(data) == 1 && data[0] == 0 {
			torqueOffMu.Lock()
			if torqueOff.IsZero() {
				torqueOff = at
			}
			torqueOffMu.Unlock()
		}
	})

	cmd := exec.Command(bin, "agent", "--prefix", prefix, "--device", device,
		"--mqtt.url", "mqtt://"+b.TCPAddr(), "--resort.device", link,
		"--resort.baudrate", strconv.Itoa(baud), "--log.level", "warn", "--log.format", "json")
	cmd.Env = append(os.Environ(), "PLATE_RESORT_RESORT__LATENCY_MS=1", "PLATE_RESORT_HOMEASSISTANT__ENABLED=false",
		"PLATE_RESORT_RESORT__RETURN_DELAY_US="+strconv.Itoa(returnDelay))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s (run make build first): %w", bin, err)
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()

	c, err := newClient(ctx, b.TCPAddr(), contract.DeviceTopics(prefix, device))
	if err != nil {
		return err
	}
	topics := contract.DeviceTopics(prefix, device)
	if err := c.waitFor(topics.Availability(), contract.Online, 15*time.Second); err != nil {
		return err
	}
	time.Sleep(time.Second)
	idle := rss(cmd.Process.Pid)

	// 1. get_position round trips.
	readWire := bus.WireTime(14+15, baud) // Read 4 bytes: 14-byte request, 15-byte status
	// The agent's get_position does one 4-byte read.
	for i := 0; i < 20; i++ { // warm-up
		if _, err := c.request(ctx, topics.Command(contract.GetPosition), "{}"); err != nil {
			return err
		}
	}
	lat := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		start := time.Now()
		r, err := c.request(ctx, topics.Command(contract.GetPosition), "{}")
		if err != nil {
			return err
		}
		if r.Status != contract.StatusOK {
			return fmt.Errorf("get_position: status %q: %+v", r.Status, r.Error)
		}
		lat = append(lat, time.Since(start))
	}
	p50, p99 := benchstat.Percentile(lat, 50), benchstat.Percentile(lat, 99)
	fmt.Printf("get_position round trip via MQTT (%d requests, %d baud, return delay %d µs): p50 %s  p99 %s\n", n, baud, returnDelay, ms(p50), ms(p99))
	fmt.Printf("  serial wire time of the same read (29 bytes x 10 / baud): %s -> ratio p50 %.2fx, p99 %.2fx (targets 1.2x / 2x)\n",
		ms(readWire), float64(p50)/float64(readWire), float64(p99)/float64(readWire))

	// 2. Emergency-stop latency during a move.
	txWire := bus.WireTime(13+11, baud) // torque write: 13-byte request, 11-byte status
	var es []time.Duration
	for i := 0; i < stops; i++ {
		if _, err := c.request(ctx, topics.Command(contract.Reset), "{}"); err != nil {
			return err
		}
		if _, err := c.request(ctx, topics.Command(contract.SetSpeed), "20"); err != nil {
			return err
		}
		target := 200.0
		if i%2 == 1 {
			target = 20
		}
		if err := c.publish(ctx, topics.Command(contract.MoveToAngle), fmt.Sprintf(`{"angle":%g,"id":"mv%d"}`, target, i)); err != nil {
			return err
		}
		deadline := time.Now().Add(5 * time.Second)
		for !servo.Snapshot().Moving && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(50+i*7%100) * time.Millisecond) // land anywhere in the poll cycle
		torqueOffMu.Lock()
		torqueOff = time.Time{}
		torqueOffMu.Unlock()
		sent := time.Now()
		if err := c.publish(ctx, topics.Command(contract.EmergencyStop), "{}"); err != nil {
			return err
		}
		for {
			torqueOffMu.Lock()
			at := torqueOff
			torqueOffMu.Unlock()
			if !at.IsZero() {
				es = append(es, at.Sub(sent))
				break
			}
			if time.Since(sent) > 3*time.Second {
				return fmt.Errorf("no torque-off within 3 s of emergency_stop")
			}
			time.Sleep(200 * time.Microsecond)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, _ = c.request(ctx, topics.Command(contract.Reset), "{}")
	e50, e99 := benchstat.Percentile(es, 50), benchstat.Percentile(es, 99)
	txTime := txWire + time.Duration(returnDelay)*time.Microsecond
	fmt.Printf("emergency_stop during a move (%d stops): publish -> torque-off at the servo p50 %s  p99 %s\n", len(es), ms(e50), ms(e99))
	fmt.Printf("  one serial transaction (write 1 byte + status, plus return delay): %s -> p99 = %.2f transactions (target <= 2)\n",
		ms(txTime), float64(e99)/float64(txTime))

	// 3. RSS under 100 commands/s for 5 s.
	var sent atomic.Int64
	stop := time.After(5 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	var peak int64
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-tick.C:
			go func() {
				if _, err := c.request(ctx, topics.Command(contract.GetActiveHotel), "{}"); err == nil {
					sent.Add(1)
				}
			}()
			if r := rss(cmd.Process.Pid); r > peak {
				peak = r
			}
		}
	}
	tick.Stop()
	fmt.Printf("agent RSS: idle %.1f MB, under 100 commands/s peak %.1f MB (%d answered in 5 s; target idle <= 20 MB)\n", float64(idle)/1e6, float64(peak)/1e6, sent.Load())
	if st, err := os.Stat(bin); err == nil {
		fmt.Printf("binary size: %.1f MB (%s; target <= 20 MB)\n", float64(st.Size())/1e6, bin)
	}
	return nil
}

// client is a small MQTT 5 requester with its own correlator.
type client struct {
	cm      *autopaho.ConnectionManager
	mu      sync.Mutex
	waiting map[string]chan string
	retain  map[string]string
	seq     atomic.Int64
}

func newClient(ctx context.Context, addr string, topics contract.Topics) (*client, error) {
	u, _ := url.Parse("mqtt://" + addr)
	c := &client{waiting: map[string]chan string{}, retain: map[string]string{}}
	ready := make(chan struct{})
	var once sync.Once
	cfg := autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, CleanStartOnInitialConnection: true,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				_, _ = cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
					{Topic: contract.ResponsesFilter(prefix, benchWho), QoS: 1}, {Topic: topics.Availability(), QoS: 1}}})
				once.Do(func() { close(ready) })
			}()
		},
		ClientConfig: paho.ClientConfig{
			ClientID: "agentbench",
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				p := pr.Packet
				c.mu.Lock()
				defer c.mu.Unlock()
				if p.Properties != nil && len(p.Properties.CorrelationData) > 0 {
					if ch, ok := c.waiting[string(p.Properties.CorrelationData)]; ok {
						ch <- string(p.Payload)
						delete(c.waiting, string(p.Properties.CorrelationData))
					}
					return true, nil
				}
				c.retain[p.Topic] = string(p.Payload)
				return true, nil
			}},
		},
	}
	cm, err := autopaho.NewConnection(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c.cm = cm
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("bench client did not connect")
	}
	return c, nil
}

func (c *client) waitFor(topic, val string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		v := c.retain[topic]
		c.mu.Unlock()
		if v == val {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s never became %q", topic, val)
}

func (c *client) publish(ctx context.Context, topic, payload string) error {
	_, err := c.cm.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
	return err
}

// request publishes a command with an MQTT 5 Response Topic and
// Correlation Data and returns the decoded reply.
func (c *client) request(ctx context.Context, topic, payload string) (*contract.Reply, error) {
	id := strconv.FormatInt(c.seq.Add(1), 10)
	ch := make(chan string, 1)
	c.mu.Lock()
	c.waiting[id] = ch
	c.mu.Unlock()
	_, err := c.cm.Publish(ctx, &paho.Publish{Topic: topic, QoS: 0, Payload: []byte(payload),
		Properties: &paho.PublishProperties{ResponseTopic: contract.ResponseTopic(prefix, benchWho, device), CorrelationData: []byte(id)}})
	if err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		var reply contract.Reply
		if err := json.Unmarshal([]byte(r), &reply); err != nil {
			return nil, fmt.Errorf("reply %s: %w", contract.Snippet([]byte(r)), err)
		}
		return &reply, nil
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("no reply to %s", topic)
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

// rss is VmRSS scaled as the README reports it (KiB x 1000, printed as MB).
func rss(pid int) int64 {
	kib, _ := benchstat.RSSKiB(pid)
	return kib * 1000
}
