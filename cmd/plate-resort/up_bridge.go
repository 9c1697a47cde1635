package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/bridge"
	"github.com/plate-resort/plate-resort/internal/ops"
)

// bridgeSection is the bridge part of configs/up.yaml; `up` starts the
// bridge when bridge.prefect.api_url (or PREFECT_API_URL) is set.
type bridgeSection = bridge.Config

func bridgeDefaults() bridgeSection { return bridge.Defaults() }

func bridgeNote(c bridgeSection) string {
	if c.Prefect.APIURL == "" {
		return ""
	}
	return ", Prefect bridge on " + c.Prefect.APIURL
}

// opsNote is the banner's health and metrics lines (internal/ops).
func opsNote(brokerHealth string, brokerMetrics bool, a ops.Config, b bridgeSection) string {
	var lines []string
	add := func(part, addr string, metrics bool) {
		if addr == "" {
			return
		}
		l := fmt.Sprintf("  %-7s http://%s/health  /ready", part, addr)
		if metrics {
			l += "  /metrics"
		}
		lines = append(lines, l)
	}
	add("broker", brokerHealth, brokerMetrics)
	add("agent", a.Address, a.Metrics)
	if b.Prefect.APIURL != "" {
		add("bridge", b.HTTP.Address, b.HTTP.Metrics)
	}
	if len(lines) == 0 {
		return ""
	}
	return "Health and metrics:\n" + strings.Join(lines, "\n") + "\n"
}

// startBridge runs the bridge against the embedded broker for every
// device of `up`, when a Prefect API is configured.
func startBridge(ctx context.Context, c bridgeSection, brokerURL string, a agent.Config, devices []string, log zerolog.Logger) (<-chan error, context.CancelFunc, error) {
	if c.Prefect.APIURL == "" {
		return nil, nil, nil
	}
	c.MQTT.URL = brokerURL
	c.Prefix = a.Prefix
	c.Devices = devices
	c.Hotels = a.Resort.Hotels
	b, err := bridge.New(c, log.With().Str("part", "bridge").Logger())
	if err != nil {
		return nil, nil, err
	}
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- b.Run(bctx) }()
	return done, cancel, nil
}
