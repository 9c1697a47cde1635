package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/internal/testenv"
	"github.com/plate-resort/plate-resort/internal/testenv/brokertest"
)

// The agent over TLS (tls:// URL with ca_file) to the broker's TLS
// listener, answering a mosquitto_rr that verifies with --cafile.
func TestAgentOverTLS(t *testing.T) {
	testenv.NeedBinary(t, "mosquitto_rr")
	pki := testenv.NewPKI(t)
	ca, cert, key := pki.CA, pki.Cert, pki.Key
	bcfg := broker.DefaultConfig()
	bcfg.Listeners.TCP.Address = ""
	bcfg.Listeners.TLS = broker.TLSConfig{Address: "127.0.0.1:0", CertFile: cert, KeyFile: key}
	b := brokertest.Start(t, bcfg)
	agentOnBroker(t, func(cfg *agent.Config) { cfg.MQTT.URL, cfg.MQTT.CAFile = "tls://"+b.TLSAddr(), ca })
	host, port, _ := strings.Cut(b.TLSAddr(), ":")
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := testenv.Run(t, 10*time.Second, "mosquitto_rr", "-h", host, "-p", port, "--cafile", ca,
			"-t", "plate-resort/resort-1/cmd/get_position", "-e", "plate-resort/responses/tls/resort-1", "-n", "-W", "3")
		if err == nil && strings.Contains(out, `"status":"ok"`) && strings.Contains(out, "position_deg") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reply over TLS: %q %v", out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
