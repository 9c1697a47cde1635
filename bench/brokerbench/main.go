// Command brokerbench measures the embedded broker (mochi-mqtt, configured
// as plate-resort runs it) side by side with a real mosquitto on the same
// machine, with the same Go MQTT 5 client load, in one run:
//
//   - QoS 0 and QoS 1 throughput, one publisher to one subscriber;
//   - round trip publisher -> broker -> subscriber at QoS 1, p50/p90/p99;
//   - broker RSS idle and with 100 connected, subscribed clients.
//
// Each broker runs as its own process (the embedded one by re-executing
// this binary with -serve-mochi), so RSS is the broker's alone. Everything
// binds 127.0.0.1 on free ports. Topics are the contract's (package
// contract): the load is a device's state stream, the round trip a command
// publish, the idle clients dashboards subscribed to one device each.
//
//	go run ./bench/brokerbench                         # about 15-20 s
//	go run ./bench/brokerbench -rounds 1 -n 5000 -rtt 1000   # a few seconds
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/benchstat"
)

func main() {
	serve := flag.Bool("serve-mochi", false, "internal: run the embedded broker and print its address")
	n := flag.Int("n", 30000, "messages per throughput run")
	rtt := flag.Int("rtt", 5000, "round-trip samples")
	clients := flag.Int("clients", 100, "connected clients for the RSS measurement")
	rounds := flag.Int("rounds", 3, "rounds; brokers alternate within each round so machine noise hits both alike")
	mosq := flag.String("mosquitto", "mosquitto", "mosquitto binary")
	flag.Parse()
	if *serve {
		if err := serveMochi(); err != nil {
			fmt.Fprintln(os.Stderr, "brokerbench:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*n, *rtt, *clients, *rounds, *mosq); err != nil {
		fmt.Fprintln(os.Stderr, "brokerbench:", err)
		os.Exit(1)
	}
}

// serveMochi runs the embedded broker as plate-resort configures it (dev
// defaults, free port) until stdin closes.
func serveMochi() error {
	cfg := broker.DefaultConfig()
	cfg.Listeners.TCP.Address = "127.0.0.1:0"
	b, err := broker.New(cfg, zerolog.New(os.Stderr).Level(zerolog.WarnLevel))
	if err != nil {
		return err
	}
	if err := b.Start(); err != nil {
		return err
	}
	fmt.Println(b.TCPAddr())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // parent closes stdin to stop us
	return b.Close()
}

type brokerProc struct {
	name, addr string
	cmd        *exec.Cmd
	stop       func()
}

func startMochi() (*brokerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-serve-mochi")
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start embedded broker: %w", err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("embedded broker address: %w", err)
	}
	return &brokerProc{name: "mochi (embedded)", addr: strings.TrimSpace(line), cmd: cmd,
		stop: func() { _ = in.Close(); _ = cmd.Wait() }}, nil
}

func startMosquitto(bin string) (*brokerProc, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "brokerbench")
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "mosquitto.conf")
	// Defaults otherwise: what a lab gets from `apt install mosquitto`.
	if err := os.WriteFile(conf, []byte("listener "+port+" 127.0.0.1\nallow_anonymous true\npersistence false\n"), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start mosquitto: %w", err)
	}
	p := &brokerProc{name: "mosquitto", addr: addr, cmd: cmd, stop: func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}}
	for deadline := time.Now().Add(5 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, errors.New("mosquitto did not start listening")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type result struct {
	q0, q1             float64 // messages/s delivered
	q0Got, q1Got       int
	p50, p90, p99      time.Duration
	rssIdle, rssLoaded int64 // KiB
}

func run(n, rttN, clients, rounds int, mosq string) error {
	var procs []*brokerProc
	m, err := startMochi()
	if err != nil {
		return err
	}
	defer m.stop()
	procs = append(procs, m)
	q, err := startMosquitto(mosq)
	if err != nil {
		return err
	}
	defer q.stop()
	procs = append(procs, q)

	results := make([]result, len(procs))
	q0s, q1s := make([][]float64, len(procs)), make([][]float64, len(procs))
	rtts := make([][]time.Duration, len(procs))
	for i, p := range procs {
		results[i].rssIdle = rss(p.cmd.Process.Pid)
	}
	for round := 0; round < rounds; round++ {
		for i, p := range procs {
			r := &results[i]
			var v float64
			if v, r.q0Got, err = throughput(p.addr, 0, n); err != nil {
				return fmt.Errorf("%s QoS 0: %w", p.name, err)
			}
			q0s[i] = append(q0s[i], v)
			if v, r.q1Got, err = throughput(p.addr, 1, n); err != nil {
				return fmt.Errorf("%s QoS 1: %w", p.name, err)
			}
			q1s[i] = append(q1s[i], v)
			s, err := roundTrip(p.addr, rttN)
			if err != nil {
				return fmt.Errorf("%s round trip: %w", p.name, err)
			}
			rtts[i] = append(rtts[i], s...)
		}
	}
	for i, p := range procs {
		r := &results[i]
		r.q0, r.q1 = median(q0s[i]), median(q1s[i])
		r.p50, r.p90, r.p99 = benchstat.Percentile(rtts[i], 50), benchstat.Percentile(rtts[i], 90), benchstat.Percentile(rtts[i], 99)
		closeAll, err := connectMany(p.addr, clients)
		if err != nil {
			return fmt.Errorf("%s %d clients: %w", p.name, clients, err)
		}
		time.Sleep(500 * time.Millisecond)
		r.rssLoaded = rss(p.cmd.Process.Pid)
		closeAll()
	}
	fmt.Printf("brokerbench: %d rounds, brokers alternating; %d msgs x 64 B per throughput run (median shown), %d round-trip samples per round (pooled), %d clients for RSS\n\n", rounds, n, rttN, clients)
	fmt.Printf("%-18s %12s %12s %9s %9s %9s %10s %12s\n", "broker", "QoS0 msg/s", "QoS1 msg/s", "rtt p50", "rtt p90", "rtt p99", "RSS idle", "RSS 100 cl")
	for i, p := range procs {
		r := results[i]
		fmt.Printf("%-18s %12.0f %12.0f %9s %9s %9s %7d KiB %9d KiB\n", p.name, r.q0, r.q1,
			r.p50.Round(time.Microsecond), r.p90.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.rssIdle, r.rssLoaded)
		if r.q0Got < n || r.q1Got < n {
			fmt.Printf("  (delivered QoS0 %d/%d, QoS1 %d/%d)\n", r.q0Got, n, r.q1Got, n)
		}
	}
	a, b := results[0], results[1]
	fmt.Printf("\nembedded / mosquitto: round trip p50 %.2fx, p99 %.2fx (target <= 1.2x); QoS1 throughput %.2fx (target >= 0.8x); QoS0 %.2fx\n",
		float64(a.p50)/float64(b.p50), float64(a.p99)/float64(b.p99), a.q1/b.q1, a.q0/b.q0)
	return nil
}

// client connects one MQTT 5 client; onMsg (may be nil) sees every publish.
func client(addr, id string, onMsg func(*paho.Publish)) (*paho.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	cfg := paho.ClientConfig{ClientID: id, Conn: packets.NewThreadSafeConn(conn)}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			onMsg(pr.Packet)
			return true, nil
		}}
	}
	c := paho.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: id, CleanStart: true, KeepAlive: 60}); err != nil {
		return nil, err
	}
	return c, nil
}

func subscribe(c *paho.Client, topic string, qos byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: qos}}})
	return err
}

// throughput sends n messages from one publisher (QoS 1: 16 concurrent
// in-flight publishes) to one subscriber and returns delivered messages/s.
func throughput(addr string, qos byte, n int) (float64, int, error) {
	var got atomic.Int64
	done := make(chan struct{})
	sub, err := client(addr, fmt.Sprintf("bench-sub-q%d", qos), func(*paho.Publish) {
		if got.Add(1) == int64(n) {
			close(done)
		}
	})
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = sub.Disconnect(&paho.Disconnect{}) }()
	topic := contract.DeviceTopics(contract.DefaultPrefix, fmt.Sprintf("bench-q%d", qos)).State()
	if err := subscribe(sub, topic, qos); err != nil {
		return 0, 0, err
	}
	pub, err := client(addr, fmt.Sprintf("bench-pub-q%d", qos), nil)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = pub.Disconnect(&paho.Disconnect{}) }()
	payload := make([]byte, 64)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	workers := 1
	if qos > 0 {
		workers = 16
	}
	var wg sync.WaitGroup
	var pubErr atomic.Value
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if _, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: qos, Payload: payload}); err != nil {
					pubErr.Store(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if err, _ := pubErr.Load().(error); err != nil {
		return 0, 0, err
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second): // QoS 0 may drop under overload: report what arrived
	}
	el := time.Since(start)
	g := int(got.Load())
	return float64(g) / el.Seconds(), g, nil
}

// roundTrip times publisher -> broker -> subscriber at QoS 1, one message
// at a time.
func roundTrip(addr string, n int) ([]time.Duration, error) {
	recv := make(chan time.Time, 1)
	sub, err := client(addr, "bench-rtt-sub", func(*paho.Publish) { recv <- time.Now() })
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Disconnect(&paho.Disconnect{}) }()
	topic := contract.DeviceTopics(contract.DefaultPrefix, "bench-rtt").Command(contract.GetPosition)
	if err := subscribe(sub, topic, 1); err != nil {
		return nil, err
	}
	pub, err := client(addr, "bench-rtt-pub", nil)
	if err != nil {
		return nil, err
	}
	defer func() { _ = pub.Disconnect(&paho.Disconnect{}) }()
	samples := make([]time.Duration, 0, n)
	for i := 0; i < n+100; i++ { // the first 100 warm up
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		if _, err := pub.Publish(ctx, &paho.Publish{Topic: topic, QoS: 1, Payload: []byte("{}")}); err != nil {
			cancel()
			return nil, err
		}
		cancel()
		select {
		case at := <-recv:
			if i >= 100 {
				samples = append(samples, at.Sub(start))
			}
		case <-time.After(5 * time.Second):
			return nil, errors.New("message lost")
		}
	}
	return samples, nil
}

// connectMany connects n clients, each with one subscription, as a lab's
// dashboards and tools would.
func connectMany(addr string, n int) (func(), error) {
	cs := make([]*paho.Client, 0, n)
	closeAll := func() {
		for _, c := range cs {
			_ = c.Disconnect(&paho.Disconnect{})
		}
	}
	for i := 0; i < n; i++ {
		c, err := client(addr, "bench-idle-"+strconv.Itoa(i), func(*paho.Publish) {})
		if err != nil {
			closeAll()
			return nil, err
		}
		cs = append(cs, c)
		if err := subscribe(c, contract.DeviceTopics(contract.DefaultPrefix, "resort-"+strconv.Itoa(i%10)).All(), 1); err != nil {
			closeAll()
			return nil, err
		}
	}
	return closeAll, nil
}

// rss reads VmRSS (KiB) of a process, -1 when it cannot be read.
func rss(pid int) int64 {
	v, err := benchstat.RSSKiB(pid)
	if err != nil {
		return -1
	}
	return v
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
