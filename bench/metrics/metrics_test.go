// Package metrics_test is the end-to-end check of the Prometheus endpoints
// (README "Metrics and health"): the binary's broker, simulated servo,
// agent and bridge as separate processes against a real Prefect server,
// scraped by a real Prometheus server (Debian's prometheus package). It
// lives under bench/ for the process stack of bench/internal/stack.
package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bench/internal/stack"
	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// one returns the single sample of q, or false when there is none.
func one(t *testing.T, p *testenv.Prometheus, q string) (float64, bool) {
	t.Helper()
	s, err := p.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) > 1 {
		t.Fatalf("%s: %d series, want one: %+v", q, len(s), s)
	}
	if len(s) == 0 {
		return 0, false
	}
	return s[0].Value, true
}

func TestPrometheusScrapesTheStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Prefect server (about 20 s)")
	}
	testenv.NeedBinary(t, "prometheus")
	promtool := testenv.NeedBinary(t, "promtool")
	prefectBin, _, err := stack.FindPrefect("")
	if err != nil {
		if testenv.RequireE2E() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	bin := testenv.PlateResort(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := stack.New(dir, "metrics")
	defer func() {
		s.StopAll()
		if t.Failed() {
			s.DumpLogs(os.Stderr, 40)
		}
	}()
	free := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }

	prefectPort := testenv.FreePort(t)
	prefectChild, apiURL, err := s.StartPrefect(ctx, prefectBin, filepath.Join(dir, "prefect"), prefectPort, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	brokerAddr, brokerHTTP, agentHTTP, bridgeHTTP := free(), free(), free(), free()
	bconf := filepath.Join(dir, "broker.yaml")
	if err := os.WriteFile(bconf, []byte(fmt.Sprintf("listeners:\n  health:\n    address: %s\n    metrics: true\nanonymous:\n  enabled: true\n  role: admin\n  loopback_only: true\n", brokerHTTP)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartBroker(ctx, bin, brokerAddr, "-c", bconf); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "servo")
	if _, err := s.StartSim(ctx, bin, link); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StartAgent(bin, "plate-resort", "resort-1", brokerAddr, link,
		"PLATE_RESORT_HTTP__ADDRESS="+agentHTTP, "PLATE_RESORT_HTTP__METRICS=true", "PLATE_RESORT_RESORT__DEFAULT_SPEED=300"); err != nil {
		t.Fatal(err)
	}
	worker := "metrics-bridge"
	bridgeChild, err := s.StartBridge(bin, "plate-resort", "resort-1", brokerAddr, apiURL, "metrics-pool", worker,
		"PLATE_RESORT_HTTP__ADDRESS="+bridgeHTTP, "PLATE_RESORT_HTTP__METRICS=true",
		"PLATE_RESORT_POLL_INTERVAL=500ms", "PLATE_RESORT_HEARTBEAT_INTERVAL=1s", "PLATE_RESORT_STALL_AFTER=4s")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{brokerHTTP, agentHTTP, bridgeHTTP} {
		testenv.Eventually(t, 60*time.Second, a+"/ready 200", func() bool { c, _ := get(t, "http://"+a+"/ready"); return c == 200 })
		if c, body := get(t, "http://"+a+"/health"); c != 200 {
			t.Fatalf("%s/health: %d %s", a, c, body)
		}
	}
	if err := stack.WaitRetained(ctx, brokerAddr, "metrics-avail", contract.BridgeAvailability("plate-resort", worker), contract.Online, 10*time.Second); err != nil {
		t.Fatalf("bridge availability: %v", err)
	}

	// promtool's linter (metric names, units, help, types) on every body.
	for _, a := range []string{brokerHTTP, agentHTTP, bridgeHTTP} {
		_, body := get(t, "http://"+a+"/metrics")
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics on %s: %v\n%s", a, err, out)
		}
	}

	prom := testenv.StartPrometheus(t, time.Second,
		testenv.ScrapeJob{Job: "plate-resort-broker", Targets: []string{brokerHTTP}},
		testenv.ScrapeJob{Job: "plate-resort-agent", Targets: []string{agentHTTP}},
		testenv.ScrapeJob{Job: "plate-resort-bridge", Targets: []string{bridgeHTTP}})
	testenv.Eventually(t, 30*time.Second, "three targets up", func() bool {
		ts, err := prom.Targets()
		if err != nil || len(ts) != 3 {
			return false
		}
		for _, tg := range ts {
			if tg.Health != "up" {
				return false
			}
		}
		return true
	})
	const okMoves = `plate_resort_agent_commands_total{job="plate-resort-agent",command="activate_hotel",outcome="ok"}`
	before, _ := one(t, prom, okMoves) // absent before the first move: 0

	// One move through Prefect: bridge -> MQTT -> agent -> simulated servo.
	pc, err := prefect.New(prefect.Config{APIURL: apiURL})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := stack.WaitDeployment(ctx, pc, "activate-hotel", "activate-hotel", 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := stack.CreateRun(ctx, pc, dep.ID, map[string]any{"hotel": "B"}, "metrics-move-1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if fr, err = stack.WaitFinal(ctx, pc, fr.ID, 90*time.Second); err != nil || fr.State.Type != prefect.StateCompleted {
		msg := ""
		if fr != nil && fr.State != nil {
			msg = fr.State.Message
		}
		t.Fatalf("move run: %v, state %q", err, msg)
	}
	var after float64
	testenv.Eventually(t, 15*time.Second, "the move in Prometheus", func() bool {
		after, _ = one(t, prom, okMoves)
		return after > before
	})
	if after-before != 1 {
		t.Fatalf("activate_hotel ok went from %v to %v, want exactly +1", before, after)
	}
	testenv.Eventually(t, 15*time.Second, "the run in the bridge's metrics", func() bool {
		v, _ := one(t, prom, `plate_resort_bridge_flow_runs_total{deployment="activate-hotel/activate-hotel",state="COMPLETED"}`)
		n, _ := one(t, prom, `plate_resort_bridge_flow_run_created_to_completed_seconds_count{deployment="activate-hotel/activate-hotel"}`)
		return v == 1 && n == 1
	})
	for q, ok := range map[string]func(float64) bool{
		`plate_resort_agent_move_final_error_degrees_count`:                            func(v float64) bool { return v == 1 },
		`plate_resort_agent_serial_connected`:                                          func(v float64) bool { return v == 1 },
		`plate_resort_bridge_devices_online`:                                           func(v float64) bool { return v == 1 },
		`plate_resort_broker_clients_connected`:                                        func(v float64) bool { return v >= 2 },
		`sum(plate_resort_bridge_prefect_requests_total{code="200"})`:                  func(v float64) bool { return v > 5 },
		`sum(rate(plate_resort_agent_serial_transactions_total{result="ok"}[1m])) > 0`: func(v float64) bool { return v > 0 },
		`plate_resort_bridge_last_poll_age_seconds < 5`:                                func(v float64) bool { return v >= 0 },
	} {
		if v, found := one(t, prom, q); !found || !ok(v) {
			t.Errorf("%s = %v (found %v)", q, v, found)
		}
	}
	// What a scrape of each process costs, and the agent's idle memory
	// (README "Metrics and health" reports these).
	time.Sleep(3 * time.Second)
	for _, job := range []string{"plate-resort-broker", "plate-resort-agent", "plate-resort-bridge"} {
		med, _ := one(t, prom, fmt.Sprintf(`quantile_over_time(0.5, scrape_duration_seconds{job=%q}[30s])`, job))
		d, _ := one(t, prom, fmt.Sprintf(`max_over_time(scrape_duration_seconds{job=%q}[30s])`, job))
		rss, _ := one(t, prom, fmt.Sprintf(`process_resident_memory_bytes{job=%q}`, job))
		n, _ := one(t, prom, fmt.Sprintf(`scrape_samples_scraped{job=%q}`, job))
		t.Logf("%s: scrape_duration_seconds p50 %.2f ms, max %.2f ms (last 30 s), %v samples, RSS %.1f MB", job, med*1000, d*1000, n, rss/1e6)
		if job == "plate-resort-agent" && rss > 20e6 {
			t.Errorf("agent RSS %.1f MB with metrics on, target <= 20 MB", rss/1e6)
		}
	}

	// Prefect goes away: the bridge is not ready at once, and not live once
	// polling has stalled past stall_after (4 s here), naming the stall.
	prefectChild.Stop()
	var body string
	testenv.Eventually(t, 30*time.Second, "bridge /health 503 after Prefect stopped", func() bool {
		var c int
		c, body = get(t, "http://"+bridgeHTTP+"/health")
		return c == 503 && strings.Contains(body, "polling Prefect for scheduled runs stalled")
	})
	if !strings.Contains(body, `"failing":["poll"`) {
		t.Fatalf("bridge /health while Prefect is down does not name the poll: %s", body)
	}
	if c, rbody := get(t, "http://"+bridgeHTTP+"/ready"); c != 503 || !strings.Contains(rbody, `"prefect"`) {
		t.Fatalf("bridge /ready while Prefect is down: %d %s", c, rbody)
	}
	// The bridge vanishes: the broker publishes its Last Will.
	bridgeChild.Kill()
	if err := stack.WaitRetained(ctx, brokerAddr, "metrics-avail-2", contract.BridgeAvailability("plate-resort", worker), contract.Offline, 10*time.Second); err != nil {
		t.Fatalf("bridge Last Will: %v", err)
	}
}
