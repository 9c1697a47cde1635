package mqttconn

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
)

// Server parses a broker URL, normalising the scheme aliases people write
// (tcp -> mqtt, ssl/mqtts -> tls), and returns the TLS config for tls://
// and wss:// URLs: system roots, or the PEM certificates in caFile.
func Server(raw, caFile string) (*url.URL, *tls.Config, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, nil, fmt.Errorf("broker URL %q: want e.g. mqtt://127.0.0.1:1883, tls://host:8883, ws://host:9001", raw)
	}
	switch u.Scheme {
	case "mqtt", "tls", "ws", "wss":
	case "tcp":
		u.Scheme = "mqtt"
	case "ssl", "mqtts":
		u.Scheme = "tls"
	default:
		return nil, nil, fmt.Errorf("broker URL %q: scheme %q, want mqtt, tls, ws or wss", raw, u.Scheme)
	}
	if u.Scheme != "tls" && u.Scheme != "wss" {
		if caFile != "" {
			return nil, nil, fmt.Errorf("ca_file %s given for a plain %s:// broker URL; use tls:// or wss://", caFile, u.Scheme)
		}
		return u, nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: u.Hostname()}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, nil, fmt.Errorf("ca_file %s: no PEM certificate found", caFile)
		}
		cfg.RootCAs = pool
	}
	return u, cfg, nil
}
