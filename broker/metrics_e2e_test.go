package broker

import (
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

func value(t *testing.T, body, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0 // absent: a labelled counter that never counted
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The broker's health listener keeps /healthz and adds /health, /ready and
// /metrics, where refused logins (by CONNACK reason) and ACL denials
// count what real mosquitto clients were refused.
func TestBrokerMetricsAndHealth(t *testing.T) {
	testenv.NeedBinary(t, "mosquitto_pub")
	cfg := productionConfig(t)
	cfg.Listeners.Health.Address = "127.0.0.1:0"
	cfg.Listeners.Health.Metrics = true
	b, _ := startBroker(t, cfg)
	base := "http://" + b.HealthAddr()
	for _, p := range []string{"/healthz", "/health", "/ready"} {
		if code, body := testenv.HTTPGet(t, base+p); code != 200 || !strings.Contains(body, `"status":"ok"`) {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
	h, p := hostPort(t, b.TCPAddr())
	pub := func(args ...string) {
		_, _ = testenv.RunCombined(t, toolTimeout, "mosquitto_pub", append([]string{"-h", h, "-p", p, "-V", "mqttv5", "-q", "1"}, args...)...)
	}
	pub("-u", "alice", "-P", "wrong", "-t", "plate-resort/resort-1/cmd/stop", "-n")
	pub("-u", "nobody", "-P", "x", "-t", "plate-resort/resort-1/cmd/stop", "-n")
	pub(append(creds("viewer"), "-t", "plate-resort/resort-1/cmd/stop", "-n")...)
	pub(append(creds("alice"), "-t", "plate-resort/resort-1/cmd/stop", "-n", "-r")...)
	pub(append(creds("alice"), "-t", "plate-resort/resort-1/cmd/stop", "-n")...)

	_, body := testenv.HTTPGet(t, base+"/metrics")
	for series, want := range map[string]float64{
		`plate_resort_broker_logins_refused_total{reason="bad_credentials"}`: 2,
		`plate_resort_broker_acl_denials_total{kind="publish"}`:              1,
		`plate_resort_broker_acl_denials_total{kind="retained_command"}`:     1,
	} {
		if got := value(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if v := value(t, body, "plate_resort_broker_messages_received_total"); v < 1 {
		t.Errorf("messages received %v, want the operator's command", v)
	}
	if v := value(t, body, "plate_resort_broker_received_bytes_total"); v < 50 {
		t.Errorf("bytes received %v", v)
	}
	if !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "plate_resort_broker_clients_connected") {
		t.Errorf("missing the standard collectors or the clients gauge:\n%.600s", body)
	}
	_ = b.Close()
}

func TestBrokerMetricsOffByDefault(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Listeners.TCP.Address = "127.0.0.1:0"
	cfg.Listeners.Health.Address = "127.0.0.1:0"
	b, _ := startBroker(t, cfg)
	if code, _ := testenv.HTTPGet(t, "http://"+b.HealthAddr()+"/metrics"); code != 404 {
		t.Fatalf("/metrics without listeners.health.metrics: %d, want 404", code)
	}
	cfg.Listeners.Health = HealthConfig{Metrics: true}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "listeners.health.metrics") {
		t.Fatalf("metrics without a health address: %v", err)
	}
	cfg.Listeners.Health = HealthConfig{Address: "localhost:http"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "listeners.health.address") {
		t.Fatalf("bad health address: %v", err)
	}
}
