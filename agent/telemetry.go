package agent

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/internal/ops"
)

// commandStatus is what telemetry reads from the command service.
type commandStatus interface {
	busy() (running *job, queued int)
	catalog() *contract.Catalog
	lockState() *contract.LockState
}

// telemetryDeps are what telemetry is given: the driver to read, the
// service's status, and the session's publish for its retained topics.
type telemetryDeps struct {
	cfg     Config
	log     zerolog.Logger
	topics  contract.Topics
	resort  *resort.Resort
	publish func(ctx context.Context, topic string, payload []byte, retain bool) error
	status  commandStatus
	live    *live
	health  func(context.Context) (contract.Health, error)
	event   func(contract.Event) // events.go: fault and warning transitions
	// healthStamp records each completed health round (liveness).
	healthStamp *ops.Stamp
}

// telemetry publishes the device's retained topics: state, health, info and
// Home Assistant discovery. It never runs commands.
type telemetry struct {
	telemetryDeps
	haOnline chan struct{} // Home Assistant restarted
}

func newTelemetry(d telemetryDeps) *telemetry {
	return &telemetry{telemetryDeps: d, haOnline: make(chan struct{}, 1)}
}

// announce is telemetry's part of the birth sequence, after online: info,
// a forced state and health, and discovery. The session runs it under its
// birth lock, so none of it can follow the final offline.
func (t *telemetry) announce(ctx context.Context) {
	t.publishInfo(ctx)
	t.live.republish()
	if t.cfg.HomeAssistant.Enabled {
		t.publishDiscovery(ctx)
	}
}

// homeAssistantOnline asks for discovery and state again; it returns at
// once (the session calls it on paho's read goroutine).
func (t *telemetry) homeAssistantOnline() { kick(t.haOnline) }

// announceLoop republishes the retained descriptions when they go stale:
// info and discovery after the servo was (re)identified, discovery and
// state when Home Assistant comes back.
func (t *telemetry) announceLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.live.identity:
			t.publishInfo(ctx)
			if t.cfg.HomeAssistant.Enabled {
				t.publishDiscovery(ctx)
			}
		case <-t.haOnline:
			t.publishDiscovery(ctx)
			t.live.republish()
		}
	}
}
