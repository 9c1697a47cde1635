package agent_test

import (
	"context"
	"net/url"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/sim"
)

// BenchmarkGetPosition is one sequential get_position round trip through
// the embedded broker, an in-process agent and the simulated servo on a
// pty without wire timing. It exists to profile the agent's command path:
//
//	go test -run '^$' -bench GetPosition -benchtime 3000x -cpuprofile cpu.out ./agent
//	go tool pprof -top -focus 'plate-resort/agent' cpu.out
//
// (the profile holds the broker and this client too; -focus keeps the
// agent's share). The fleet's per-command CPU is measured on agent
// processes by bench/fleetbench.
func BenchmarkGetPosition(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr := startEmbeddedB(b)
	servo := sim.New(sim.Config{Baud: 0})
	link := filepath.Join(b.TempDir(), "servo")
	p, err := sim.ListenPTY(ctx, servo, link)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	cfg := agent.Defaults()
	cfg.JournalFile = filepath.Join(b.TempDir(), "journal.db")
	cfg.MQTT.URL = "mqtt://" + addr
	cfg.Resort.Device = link
	cfg.Resort.LatencyMS = 1
	cfg.HomeAssistant.Enabled = false
	a, err := agent.New(cfg, zerolog.Nop(), agent.Options{})
	if err != nil {
		b.Fatal(err)
	}
	actx, acancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	defer func() { acancel(); <-done }()

	replies := make(chan *paho.Publish, 1)
	online := make(chan struct{}, 1)
	topics := cfg.Topics()
	u, _ := url.Parse("mqtt://" + addr)
	cm, err := autopaho.NewConnection(ctx, autopaho.ClientConfig{
		ServerUrls: []*url.URL{u}, KeepAlive: 30, CleanStartOnInitialConnection: true,
		OnConnectionUp: func(cm *autopaho.ConnectionManager, _ *paho.Connack) {
			go func() {
				_, _ = cm.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{
					{Topic: contract.ResponsesFilter(cfg.Prefix, "bench"), QoS: 0}, {Topic: topics.Availability(), QoS: 0}}})
			}()
		},
		ClientConfig: paho.ClientConfig{ClientID: "bench-getposition",
			OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
				if pr.Packet.Topic == topics.Availability() {
					if string(pr.Packet.Payload) == contract.Online {
						select {
						case online <- struct{}{}:
						default:
						}
					}
				} else {
					replies <- pr.Packet
				}
				return true, nil
			}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-online:
	case <-time.After(20 * time.Second):
		b.Fatal("agent not online")
	}
	time.Sleep(500 * time.Millisecond) // connect_on_start
	rt := contract.ResponseTopic(cfg.Prefix, "bench", cfg.Device)
	i := 0
	req := func() {
		i++
		id := strconv.Itoa(i)
		if _, err := cm.Publish(ctx, &paho.Publish{Topic: topics.Command(contract.GetPosition), Payload: []byte("{}"),
			Properties: &paho.PublishProperties{ResponseTopic: rt, CorrelationData: []byte(id)}}); err != nil {
			b.Fatal(err)
		}
		select {
		case r := <-replies:
			if string(r.Properties.CorrelationData) != id {
				b.Fatalf("reply for %q, want %q", r.Properties.CorrelationData, id)
			}
		case <-time.After(5 * time.Second):
			b.Fatal("no reply")
		}
	}
	for range 50 {
		req()
	}
	for b.Loop() {
		req()
	}
}

func startEmbeddedB(b *testing.B) string {
	b.Helper()
	cfg := broker.DefaultConfig()
	cfg.Listeners.TCP.Address = "127.0.0.1:0"
	br, err := broker.New(cfg, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = br.Close() })
	return br.TCPAddr()
}
