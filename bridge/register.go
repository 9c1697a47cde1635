package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
)

// PoolType is the work pool type the bridge creates: a custom type keeps a
// Python `prefect worker start --pool` from silently joining (docs/prefect.md §14.8).
const PoolType = "plate-resort-mqtt"

// register creates or updates the pool, the flows and every deployment. It
// is idempotent: flows and deployments are upserts (docs/prefect.md §8).
func (b *Bridge) register(ctx context.Context) error {
	pool, err := b.pc.EnsureWorkPool(ctx, b.cfg.WorkPool, PoolType,
		"plate-resort carousels over MQTT: runs are executed by the plate-resort bridge, not by a Python worker")
	if err != nil {
		return fmt.Errorf("work pool %s: %w", b.cfg.WorkPool, err)
	}
	if pool.Type != PoolType {
		b.log.Warn().Str("pool", pool.Name).Str("type", pool.Type).
			Msg("work pool exists with another type; if Python workers poll it they will try to run the bridge's deployments")
	}
	b.mu.Lock()
	b.poolID = pool.ID
	b.mu.Unlock()
	for _, dev := range b.devs.names() {
		if err := b.registerOrFallback(ctx, dev); err != nil {
			return err
		}
	}
	return nil
}

// registerOrFallback registers dev's deployments from its agent's
// catalogue and, when Prefect refuses a schema taken from the agent's
// retained info (422), from the built-in one rather than not at all.
func (b *Bridge) registerOrFallback(ctx context.Context, dev string) error {
	err := b.registerDevice(ctx, dev, dev == b.cfg.primary(), true)
	if prefect.StatusOf(err) == 422 {
		b.log.Warn().Err(err).Str("device", dev).Msg("Prefect refused the agent's command schemas; using the built-in catalogue")
		st, _ := b.devs.get(dev)
		b.mu.Lock()
		b.regSeq[dev] = st.InfoSeq // do not retry the same refused info
		b.mu.Unlock()
		err = b.registerDevice(ctx, dev, dev == b.cfg.primary(), false)
	}
	return err
}

// DeviceQueue is the work queue of device's motion deployments, with
// concurrency limit 1: Prefect hands a worker at most one Pending or
// Running run of the queue at a time (docs/prefect.md §12).
func DeviceQueue(device string) string { return "device-" + device }

// DefaultQueue is the queue every work pool is created with (docs/prefect.md §1).
const DefaultQueue = "default"

// queueFor is the work queue of a deployment: motion commands of a device
// share its queue, so two never run at once on one carousel and the second
// waits in Prefect, visibly Scheduled/Late in that queue. Reads and
// control commands (emergency stop, ...) go to the pool's default queue:
// the agent answers reads at once even during a move, and an emergency
// stop must never wait behind one.
func queueFor(dev string, kind contract.Kind) string {
	if kind == contract.KindMotion {
		return DeviceQueue(dev)
	}
	return DefaultQueue
}

func (b *Bridge) registerDevice(ctx context.Context, dev string, first, fromInfo bool) error {
	specs, seq := b.devs.catalog(dev, fromInfo)
	source := "config (no retained info from the agent yet)"
	switch {
	case seq > 0:
		source = "the agent's retained info"
	case seq < 0:
		source = "config (the agent's retained info was refused)"
		seq = -seq // remember it as handled, so the same info is not retried
	}
	q, restored, err := b.pc.EnsureWorkQueue(ctx, b.cfg.WorkPool, DeviceQueue(dev),
		fmt.Sprintf("Motion commands of carousel %s, one at a time (concurrency limit 1): a run waits here, Scheduled or Late, while another drives the carousel.", dev), 1)
	if err != nil {
		return err
	}
	if restored {
		b.log.Warn().Str("device", dev).Str("queue", q.Name).Msg("the device's work queue had another concurrency limit; set back to 1 so two runs never drive one carousel")
	}
	if q.IsPaused {
		b.log.Warn().Str("device", dev).Str("queue", q.Name).Msg("the device's work queue is paused in Prefect: its motion runs wait until it is resumed")
	}
	n := 0
	for i := range flowDefs {
		def := &flowDefs[i]
		spec, ok := specs[def.Command]
		if !ok {
			ev := b.log.Warn()
			if def.Newer {
				ev = b.log.Debug()
			}
			ev.Str("device", dev).Str("command", def.Command).Msg("the agent does not offer this command; deployment not registered")
			continue
		}
		flow, err := b.upsertFlow(ctx, def.Flow)
		if err != nil {
			return err
		}
		dc := b.cfg.Deployments[def.Flow]
		name := deploymentName(def, dev, first)
		d, err := b.pc.UpsertDeployment(ctx, prefect.DeploymentSpec{
			Name: name, FlowID: flow, WorkPoolName: b.cfg.WorkPool, WorkQueueName: queueFor(dev, spec.Kind),
			Description: fmt.Sprintf("%s Device %s, MQTT command %s (%s).", deploymentDescription(def, spec), dev, def.Command, spec.Kind),
			Tags:        []string{"plate-resort", dev, string(spec.Kind)},
			Entrypoint:  "mqtt://" + contract.DeviceTopics(b.cfg.Prefix, dev).Command(def.Command),
			Parameters:  map[string]any{}, ParameterSchema: buildSchema(def, spec), EnforceParameterSchema: true,
			Schedules: schedules(dc.Schedules), Paused: dc.Paused,
		})
		if err != nil {
			return fmt.Errorf("deployment %s/%s: %w", def.Flow, name, err)
		}
		b.mu.Lock()
		b.deps[d.ID] = &deployment{ID: d.ID, Name: name, Device: dev, Def: def, Cfg: dc, Queue: queueFor(dev, spec.Kind)}
		b.mu.Unlock()
		n++
	}
	b.mu.Lock()
	b.regSeq[dev] = seq
	b.mu.Unlock()
	b.log.Info().Str("device", dev).Int("deployments", n).Str("schemas_from", source).Str("pool", b.cfg.WorkPool).Msg("deployments registered")
	return nil
}

func (b *Bridge) upsertFlow(ctx context.Context, name string) (string, error) {
	b.mu.Lock()
	id, ok := b.flows[name]
	b.mu.Unlock()
	if ok {
		return id, nil
	}
	f, err := b.pc.UpsertFlow(ctx, name, []string{"plate-resort"})
	if err != nil {
		return "", fmt.Errorf("flow %s: %w", name, err)
	}
	b.mu.Lock()
	b.flows[name] = f.ID
	b.mu.Unlock()
	return f.ID, nil
}

func schedules(in []ScheduleConfig) []prefect.Schedule {
	var out []prefect.Schedule
	for _, s := range in {
		out = append(out, prefect.Schedule{Interval: s.Interval, Cron: s.Cron, Timezone: s.Timezone})
	}
	return out
}

// reregisterOnInfo registers the deployments of a device that appeared
// (discovery) and updates a device's deployments when its agent publishes a
// different command catalogue (new hotels, ports, speed limit, commands),
// so the Prefect form always matches what the agent accepts. A device whose
// registration failed is tried again every reregisterRetry.
func (b *Bridge) reregisterOnInfo(ctx context.Context) {
	t := time.NewTicker(reregisterRetry)
	defer t.Stop()
	type failure struct {
		at  time.Time
		seq int
	}
	failed := map[string]failure{}
	for {
		_, ch := b.devs.get("")
		for _, dev := range b.devs.names() {
			st, _ := b.devs.get(dev)
			b.mu.Lock()
			old, seen := b.regSeq[dev]
			b.mu.Unlock()
			if seen && st.InfoSeq == old {
				continue
			}
			if f, ok := failed[dev]; ok && f.seq == st.InfoSeq && time.Since(f.at) < reregisterRetry {
				continue // state messages wake this loop at 5 Hz: no retry storm
			}
			if err := b.registerOrFallback(ctx, dev); err != nil {
				failed[dev] = failure{time.Now(), st.InfoSeq}
				if ctx.Err() == nil {
					b.log.Warn().Err(err).Str("device", dev).Msg("could not register the device's deployments; will retry")
				}
				continue
			}
			delete(failed, dev)
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-t.C:
		}
	}
}

// reregisterRetry is how often a failed registration is tried again.
const reregisterRetry = 15 * time.Second

// heartbeatLoop keeps the worker ONLINE and the pool READY (docs/prefect.md §2).
func (b *Bridge) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(b.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		hctx, cancel := context.WithTimeout(ctx, b.cfg.HeartbeatInterval)
		err := b.pc.WorkerHeartbeat(hctx, b.cfg.WorkPool, b.cfg.WorkerName, b.cfg.HeartbeatInterval)
		if err == nil {
			// Listed at once after the heartbeat, so the join delay
			// (peers.go) starts now.
			err = b.refreshPeers(hctx)
		}
		cancel()
		if err == nil {
			b.metrics.heartbeat.Touch() // liveness (metrics.go)
		}
		if err != nil && ctx.Err() == nil {
			b.log.Warn().Err(err).Msg("worker heartbeat failed")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshPeers reads who else serves this pool, which decides which runs
// are ours to claim (peers.go).
func (b *Bridge) refreshPeers(ctx context.Context) error {
	sent := time.Now()
	ws, err := b.pc.FilterWorkers(ctx, b.cfg.WorkPool)
	if err == nil {
		b.runDeps.peers.update(ws, sent)
	}
	return err
}

// peersLoop keeps the worker list fresh between heartbeats: a bridge
// counts itself alone in the pool only on a list younger than peersMaxAge,
// and a bridge that joins waits on the others seeing it (peers.go).
func (b *Bridge) peersLoop(ctx context.Context) {
	t := time.NewTicker(peersRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, peersMaxAge)
		if err := b.refreshPeers(rctx); err != nil && ctx.Err() == nil {
			b.log.Debug().Err(err).Msg("reading the pool's workers failed")
		}
		cancel()
	}
}

// leavePool deletes this bridge's worker record on a clean stop, after its
// last claim: the pool's other bridges then share every run among
// themselves at once, instead of leaving this one's share waiting for the
// takeover (peers.go) until Prefect marks it OFFLINE.
func (b *Bridge) leavePool() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := b.pc.DeleteWorker(ctx, b.cfg.WorkPool, b.cfg.WorkerName); err != nil {
		b.log.Warn().Err(err).Msg("could not remove this bridge from the pool's workers; the others take over its runs when Prefect marks it OFFLINE")
	}
}
