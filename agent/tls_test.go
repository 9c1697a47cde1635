package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// The agent over TLS (tls:// URL with ca_file) to the broker's TLS
// listener, answering a mosquitto_rr that verifies with --cafile.
func TestAgentOverTLS(t *testing.T) {
	testenv.NeedBinary(t, "mosquitto_rr")
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("no /dev/ptmx")
	}
	ca, cert, key := testenv.TLSFiles(t)
	bcfg := broker.DefaultConfig()
	bcfg.Listeners.TCP.Address = ""
	bcfg.Listeners.TLS = broker.TLSConfig{Address: "127.0.0.1:0", CertFile: cert, KeyFile: key}
	b, err := broker.New(bcfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	servo := sim.New(sim.Config{})
	link := filepath.Join(t.TempDir(), "servo")
	p, err := sim.ListenPTY(ctx, servo, link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	cfg := agent.Defaults()
	cfg.MQTT.URL, cfg.MQTT.CAFile = "tls://"+b.TLSAddr(), ca
	cfg.Resort.Device, cfg.Resort.LatencyMS = link, 2
	a, err := agent.New(cfg, zerolog.New(zerolog.NewTestWriter(t)), agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	t.Cleanup(func() { acancel(); <-done })
	host, port, _ := strings.Cut(b.TLSAddr(), ":")
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := testenv.Run(t, 10*time.Second, "mosquitto_rr", "-h", host, "-p", port, "--cafile", ca,
			"-t", "plate-resort/resort-1/cmd/get_position", "-e", "plate-resort/responses/tls/1", "-n", "-W", "3")
		if err == nil && strings.Contains(out, `"status":"ok"`) && strings.Contains(out, "position_deg") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reply over TLS: %q %v", out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
