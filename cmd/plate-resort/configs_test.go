package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/bridge"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/internal/config"
)

// The example configs must stay true to the code: each loads through the
// same layered loader as its subcommand (unknown keys refused) and
// validates.
func TestExampleConfigsLoadAndValidate(t *testing.T) {
	root := filepath.Join("..", "..", "configs")
	check := func(name string, dst any, validate func() error) {
		t.Run(name, func(t *testing.T) {
			if err := config.Load(config.Source{Path: filepath.Join(root, name), Environ: []string{}}, dst); err != nil {
				t.Fatalf("load: %v", err)
			}
			if validate != nil {
				if err := validate(); err != nil {
					t.Fatalf("validate: %v", err)
				}
			}
		})
	}
	a := agent.Defaults()
	check("agent.yaml", &a, a.Validate)
	if a.Resort.CurrentLimit != 2000 || a.Resort.Hotels[3] != "D" {
		t.Fatalf("agent.yaml loaded %+v", a.Resort)
	}
	u := upDefaults()
	check("up.yaml", &u, func() error { return u.Agent.Validate() })
	b := broker.DefaultConfig()
	check("broker.yaml", &b, b.Validate)
	if _, err := os.Stat(filepath.Join(root, "broker-production.yaml")); err == nil {
		p := broker.DefaultConfig()
		// The production example points at certificate files that do not
		// exist here; loading must still work, validation may name them.
		if err := config.Load(config.Source{Path: filepath.Join(root, "broker-production.yaml"), Environ: []string{}}, &p); err != nil {
			t.Fatalf("broker-production.yaml: %v", err)
		}
		if p.Anonymous.Enabled {
			t.Fatal("production broker config allows anonymous clients")
		}
	}
}

func TestConfigRefusesUnknownAndWrongTypes(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := map[string]string{
		"unknown key":      "devise: x\n",
		"typo nested":      "mqtt:\n  ulr: mqtt://x\n",
		"wrong type":       "queue_size: many\n",
		"not yaml":         "{{{{\n",
		"duration garbage": "health_interval: soon\n",
	}
	for name, body := range cases {
		a := agent.Defaults()
		if err := config.Load(config.Source{Path: write(body), Environ: []string{}}, &a); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	a := agent.Defaults()
	big := write(strings.Repeat("# padding\n", 200000))
	if err := config.Load(config.Source{Path: big, Environ: []string{}}, &a); err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Errorf("oversized config: %v", err)
	}
	a = agent.Defaults()
	if err := config.Load(config.Source{Path: write("queue_size: 0\n"), Environ: []string{}}, &a); err != nil {
		t.Fatal(err)
	}
	if err := a.Validate(); err == nil || !strings.Contains(err.Error(), "queue_size") {
		t.Errorf("queue_size 0: %v", err)
	}
}

// PREFECT_API_URL (and key, auth string) reach the bridge whether or not a
// config file is given: the example files' explicit empty api_url must not
// beat the environment, for `bridge -c configs/bridge.yaml` and for `up`.
func TestPrefectEnvBeatsEmptyFileValues(t *testing.T) {
	env := []string{"PREFECT_API_URL=http://127.0.0.1:4200/api", "PREFECT_API_AUTH_STRING=u:p", "PREFECT_API_KEY=k"}
	root := filepath.Join("..", "..", "configs")
	b := bridge.Defaults()
	if err := config.Load(config.Source{Path: filepath.Join(root, "bridge.yaml"), Environ: []string{}}, &b); err != nil {
		t.Fatal(err)
	}
	b.WithPrefectEnv(env)
	if b.Prefect.APIURL != "http://127.0.0.1:4200/api" || b.Prefect.AuthString != "u:p" || b.Prefect.APIKey != "k" {
		t.Fatalf("bridge.yaml + PREFECT_*: %+v", b.Prefect)
	}
	u := upDefaults()
	if err := config.Load(config.Source{Path: filepath.Join(root, "up.yaml"), Environ: []string{}}, &u); err != nil {
		t.Fatal(err)
	}
	u.Bridge.WithPrefectEnv(env)
	if bridgeNote(u.Bridge) == "" {
		t.Fatal("up.yaml + PREFECT_API_URL: up would start no bridge")
	}
	// A value the file does set wins over the environment.
	b.Prefect.APIURL = "http://prefect.lab:4200/api"
	b.WithPrefectEnv(env)
	if b.Prefect.APIURL != "http://prefect.lab:4200/api" {
		t.Fatalf("file value overridden by the environment: %s", b.Prefect.APIURL)
	}
}

// Metrics are off in the production examples and on in `up`.
func TestMetricsOffInProductionOnInUp(t *testing.T) {
	root := filepath.Join("..", "..", "configs")
	load := func(name string, dst any) {
		t.Helper()
		if err := config.Load(config.Source{Path: filepath.Join(root, name), Environ: []string{}}, dst); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	a := agent.Defaults()
	load("agent.yaml", &a)
	br := bridge.Defaults()
	load("bridge.yaml", &br)
	p := broker.DefaultConfig()
	load("broker-production.yaml", &p)
	if a.HTTP.Metrics || a.HTTP.Address != "" || br.HTTP.Metrics || br.HTTP.Address != "" || p.Listeners.Health.Metrics {
		t.Fatalf("metrics on in a production example: agent %+v bridge %+v broker %+v", a.HTTP, br.HTTP, p.Listeners.Health)
	}
	u := upDefaults()
	load("up.yaml", &u)
	for _, d := range []upConfig{upDefaults(), u} {
		if !d.Agent.HTTP.Metrics || d.Agent.HTTP.Address == "" || !d.Bridge.HTTP.Metrics || d.Bridge.HTTP.Address == "" ||
			!d.Broker.Listeners.Health.Metrics || d.Broker.Listeners.Health.Address == "" {
			t.Fatalf("metrics off in up: agent %+v bridge %+v broker %+v", d.Agent.HTTP, d.Bridge.HTTP, d.Broker.Listeners.Health)
		}
	}
}
