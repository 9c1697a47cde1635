package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/bridge"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/internal/ops"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// registeredNames are the plate_resort_ metric names the three processes
// register, with the series names of histograms (_bucket, _sum, _count).
func registeredNames(t *testing.T) []string {
	t.Helper()
	ac := agent.Defaults()
	ac.Resort.Device = filepath.Join(t.TempDir(), "none")
	ac.HTTP = ops.Config{Address: "127.0.0.1:0", Metrics: true}
	a, err := agent.New(ac, zerolog.Nop(), agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bc := bridge.Defaults()
	bc.Prefect.APIURL = "http://127.0.0.1:1/api"
	bc.HTTP = ops.Config{Address: "127.0.0.1:0", Metrics: true}
	b, err := bridge.New(bc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	kc := broker.DefaultConfig()
	kc.Listeners.Health = broker.HealthConfig{Address: "127.0.0.1:0", Metrics: true}
	k, err := broker.New(kc, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range slices.Concat(a.MetricNames(), b.MetricNames(), k.MetricNames()) {
		out = append(out, n, n+"_bucket", n+"_sum", n+"_count")
	}
	return out
}

var metricRe = regexp.MustCompile(`plate_resort_[a-z0-9_]+`)

// The shipped Grafana dashboard and alert rules use only metrics the code
// registers, so neither can silently rot when a metric is renamed.
func TestDashboardAndRulesUseRealMetrics(t *testing.T) {
	names := registeredNames(t)
	if len(names) < 4*30 {
		t.Fatalf("only %d names registered", len(names)/4)
	}
	root := filepath.Join("..", "..", "configs")
	for _, f := range []string{"grafana/plate-resort.json", "prometheus/alerts.yml", "prometheus/alerts_test.yml"} {
		raw, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") {
			var d map[string]any
			if err := json.Unmarshal(raw, &d); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
		used := metricRe.FindAllString(string(raw), -1)
		if len(used) == 0 {
			t.Fatalf("%s uses no plate_resort_ metric", f)
		}
		for _, u := range used {
			if !slices.Contains(names, u) {
				t.Errorf("%s uses %s, which no process registers", f, u)
			}
		}
	}
}

// promtool accepts the rules and their unit tests, and the example scrape
// config.
func TestPromtoolChecksRules(t *testing.T) {
	promtool := testenv.NeedBinary(t, "promtool")
	dir := filepath.Join("..", "..", "configs", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
		{"check", "config", "prometheus.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
