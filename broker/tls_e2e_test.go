package broker

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

func TestTLSListener(t *testing.T) {
	pki := testenv.NewPKI(t)
	cfg := productionConfig(t)
	cfg.Listeners.TLS = TLSConfig{Address: "127.0.0.1:0", CertFile: pki.Cert, KeyFile: pki.Key}
	b, _ := startBroker(t, cfg)
	h, p := hostPort(t, b.TLSAddr())

	wait := startSub(t, b, "tls-viewer", append([]string{"-h", h, "-p", p, "--cafile", pki.CA, "-C", "1", "-W", "10",
		"-t", "plate-resort/resort-1/state"}, creds("viewer")...)...)
	if out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append([]string{"-h", h, "-p", p, "--cafile", pki.CA,
		"-t", "plate-resort/resort-1/state", "-m", "over-tls"}, creds("agent1")...)...); err != nil {
		t.Fatalf("publish over TLS: %v %s", err, out)
	}
	if out, err := wait(); err != nil || strings.TrimSpace(out) != "over-tls" {
		t.Fatalf("subscribe over TLS: err=%v out=%q", err, out)
	}
	// Plain MQTT on the TLS port: the handshake fails, nothing is accepted.
	if out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append([]string{"-h", h, "-p", p,
		"-t", "plate-resort/resort-1/state", "-m", "plaintext"}, creds("agent1")...)...); err == nil {
		t.Fatalf("plaintext client on the TLS port succeeded: %q", out)
	}
	// A client that does not trust the CA refuses the server.
	if out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append([]string{"-h", h, "-p", p, "--cafile", pki.Cert,
		"-t", "plate-resort/resort-1/state", "-m", "x"}, creds("agent1")...)...); err == nil {
		t.Fatalf("client without the CA succeeded: %q", out)
	}
}

func TestMutualTLS(t *testing.T) {
	pki := testenv.NewPKI(t)
	cfg := productionConfig(t)
	cfg.Listeners.TLS = TLSConfig{Address: "127.0.0.1:0", CertFile: pki.Cert, KeyFile: pki.Key, ClientCAFile: pki.CA}
	b, _ := startBroker(t, cfg)
	h, p := hostPort(t, b.TLSAddr())
	base := append([]string{"-h", h, "-p", p, "--cafile", pki.CA, "-t", "plate-resort/resort-1/state", "-m", "x"}, creds("agent1")...)
	if out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_pub", base...); err == nil {
		t.Fatalf("no client certificate, yet accepted: %q", out)
	}
	if out, err := testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append(base, "--cert", pki.ClientCert, "--key", pki.ClientKey)...); err != nil {
		t.Fatalf("with client certificate: %v %s", err, out)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	pki := testenv.NewPKI(t)
	cfg := productionConfig(t)
	cfg.Listeners.TLS = TLSConfig{Address: "127.0.0.1:0", CertFile: pki.Cert, KeyFile: filepath.Join(t.TempDir(), "missing.key")}
	if _, err := New(cfg, nopLog()); err == nil || !strings.Contains(err.Error(), "key_file") {
		t.Errorf("missing key: want an error naming key_file, got %v", err)
	}
	cfg.Listeners.TLS = TLSConfig{Address: "127.0.0.1:0", CertFile: pki.Cert, KeyFile: pki.Key, ClientCAFile: pki.Key}
	if _, err := New(cfg, nopLog()); err == nil || !strings.Contains(err.Error(), "client_ca_file") {
		t.Errorf("CA file without certificates: want an error naming client_ca_file, got %v", err)
	}
}
