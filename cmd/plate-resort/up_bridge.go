package main

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent"
)

// bridgeSection is the bridge part of configs/up.yaml. It stays empty until
// the bridge lands; `up` then starts it when a Prefect API URL is set.
type bridgeSection struct{}

func bridgeDefaults() bridgeSection { return bridgeSection{} }

func bridgeNote(bridgeSection) string { return "" }

func startBridge(ctx context.Context, _ bridgeSection, _ string, _ agent.Config, _ zerolog.Logger) (<-chan error, context.CancelFunc, error) {
	return nil, nil, nil
}
