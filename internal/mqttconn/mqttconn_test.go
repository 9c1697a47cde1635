package mqttconn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServer(t *testing.T) {
	for raw, scheme := range map[string]string{
		"mqtt://127.0.0.1:1883": "mqtt", "tcp://h:1883": "mqtt", "ssl://h:8883": "tls",
		"mqtts://h:8883": "tls", "ws://h:9001/": "ws", "wss://h:8884": "wss",
	} {
		u, tlsCfg, err := Server(raw, "")
		if err != nil || u.Scheme != scheme {
			t.Fatalf("%s: %v %v", raw, u, err)
		}
		if (tlsCfg != nil) != (scheme == "tls" || scheme == "wss") {
			t.Fatalf("%s: tls %v", raw, tlsCfg)
		}
	}
	for _, raw := range []string{"", "127.0.0.1:1883", "http://h", "mqtt://", "::::"} {
		if _, _, err := Server(raw, ""); err == nil {
			t.Fatalf("%q accepted", raw)
		}
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "ca.pem")
	_ = os.WriteFile(bad, []byte("not a certificate"), 0o600)
	if _, _, err := Server("tls://h:8883", bad); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Fatalf("garbage CA: %v", err)
	}
	if _, _, err := Server("tls://h:8883", filepath.Join(dir, "missing.pem")); err == nil {
		t.Fatal("missing CA accepted")
	}
	if _, _, err := Server("mqtt://h:1883", bad); err == nil {
		t.Fatal("CA with a plain URL accepted")
	}
}
