package broker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testPKI writes a throwaway CA, a server certificate for 127.0.0.1 and a
// client certificate into dir, and returns their paths.
type testPKI struct{ ca, cert, key, clientCert, clientKey string }

func newTestPKI(t testing.TB) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "plate-resort test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, _ := x509.MarshalECPrivateKey(key)
		return writePEM(t, dir, name+".crt", "CERTIFICATE", der), writePEM(t, dir, name+".key", "EC PRIVATE KEY", keyDER)
	}
	p := testPKI{ca: writePEM(t, dir, "ca.crt", "CERTIFICATE", caDER)}
	p.cert, p.key = issue("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestTLSListener(t *testing.T) {
	pki := newTestPKI(t)
	cfg := productionConfig(t)
	cfg.Listeners.TLS = TLSConfig{Address: "127.0.0.1:0", CertFile: pki.cert, KeyFile: pki.key}
	b, _ := startBroker(t, cfg)
	h, p := hostPort(t, b.TLSAddr())

	wait := startSub(t, b, "tls-viewer", append([]string{"-h", h, "-p", p, "--cafile", pki.ca, "-C", "1", "-W", "10",
		"-t", "plate-resort/resort-1/state"}, creds("viewer")...)...)
	if out, err := run(t, "mosquitto_pub", append([]string{"-h", h, "-p", p, "--cafile", pki.ca,
		"-t", "plate-resort/resort-1/state", "-m", "over-tls"}, creds("agent1")...)...); err != nil {
		t.Fatalf("publish over TLS: %v %s", err, out)
	}
	if out, err := wait(); err != nil || strings.TrimSpace(out) != "over-tls" {
		t.Fatalf("subscribe over TLS: err=%v out=%q", err, out)
	}
	// Plain MQTT on the TLS port: the handshake fails, nothing is accepted.
	if out, err := run(t, "mosquitto_pub", append([]string{"-h", h, "-p", p,
		"-t", "plate-resort/resort-1/state", "-m", "plaintext"}, creds("agent1")...)...); err == nil {
		t.Fatalf("plaintext client on the TLS port succeeded: %q", out)
	}
	// A client that does not trust the CA refuses the server.
	if out, err := run(t, "mosquitto_pub", append([]string{"-h", h, "-p", p, "--cafile", pki.cert,
		"-t", "plate-resort/resort-1/state", "-m", "x"}, creds("agent1")...)...); err == nil {
		t.Fatalf("client without the CA succeeded: %q", out)
	}
}

func TestMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	cfg := productionConfig(t)
	cfg.Listeners.TLS = TLSConfig{Address: "127.0.0.1:0", CertFile: pki.cert, KeyFile: pki.key, ClientCAFile: pki.ca}
	b, _ := startBroker(t, cfg)
	h, p := hostPort(t, b.TLSAddr())
	base := append([]string{"-h", h, "-p", p, "--cafile", pki.ca, "-t", "plate-resort/resort-1/state", "-m", "x"}, creds("agent1")...)
	if out, err := run(t, "mosquitto_pub", base...); err == nil {
		t.Fatalf("no client certificate, yet accepted: %q", out)
	}
	if out, err := run(t, "mosquitto_pub", append(base, "--cert", pki.clientCert, "--key", pki.clientKey)...); err != nil {
		t.Fatalf("with client certificate: %v %s", err, out)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	pki := newTestPKI(t)
	cfg := productionConfig(t)
	cfg.Listeners.TLS = TLSConfig{Address: "127.0.0.1:0", CertFile: pki.cert, KeyFile: filepath.Join(t.TempDir(), "missing.key")}
	if _, err := New(cfg, nopLog()); err == nil || !strings.Contains(err.Error(), "key_file") {
		t.Errorf("missing key: want an error naming key_file, got %v", err)
	}
	cfg.Listeners.TLS = TLSConfig{Address: "127.0.0.1:0", CertFile: pki.cert, KeyFile: pki.key, ClientCAFile: pki.key}
	if _, err := New(cfg, nopLog()); err == nil || !strings.Contains(err.Error(), "client_ca_file") {
		t.Errorf("CA file without certificates: want an error naming client_ca_file, got %v", err)
	}
}
