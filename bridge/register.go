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
	for i, dev := range b.cfg.Devices {
		err := b.registerDevice(ctx, dev, i == 0, true)
		if prefect.StatusOf(err) == 422 {
			// Prefect refused a schema taken from the agent's retained
			// info: register with the built-in catalogue rather than not
			// at all.
			b.log.Warn().Err(err).Str("device", dev).Msg("Prefect refused the agent's command schemas; using the built-in catalogue")
			err = b.registerDevice(ctx, dev, i == 0, false)
		}
		if err != nil {
			return err
		}
	}
	return nil
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
	n := 0
	for i := range flowDefs {
		def := &flowDefs[i]
		spec, ok := specs[def.Command]
		if !ok {
			b.log.Warn().Str("device", dev).Str("command", def.Command).Msg("the agent does not offer this command; deployment not registered")
			continue
		}
		flow, err := b.upsertFlow(ctx, def.Flow)
		if err != nil {
			return err
		}
		dc := b.cfg.Deployments[def.Flow]
		name := deploymentName(def, dev, first)
		d, err := b.pc.UpsertDeployment(ctx, prefect.DeploymentSpec{
			Name: name, FlowID: flow, WorkPoolName: b.cfg.WorkPool,
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
		b.deps[d.ID] = &deployment{ID: d.ID, Name: name, Device: dev, Def: def, Cfg: dc}
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

// reregisterOnInfo updates a device's deployments when its agent publishes a
// different command catalogue (new hotels, ports, speed limit), so the
// Prefect form always matches what the agent accepts.
func (b *Bridge) reregisterOnInfo(ctx context.Context) {
	for {
		_, ch := b.devs.get("")
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
		for i, dev := range b.cfg.Devices {
			st, _ := b.devs.get(dev)
			b.mu.Lock()
			old := b.regSeq[dev]
			b.mu.Unlock()
			if st.InfoSeq == old {
				continue
			}
			err := b.registerDevice(ctx, dev, i == 0, true)
			if prefect.StatusOf(err) == 422 {
				b.log.Warn().Err(err).Str("device", dev).Msg("Prefect refused the agent's command schemas; keeping the built-in catalogue")
				b.mu.Lock()
				b.regSeq[dev] = st.InfoSeq // do not retry the same refused info
				b.mu.Unlock()
				err = b.registerDevice(ctx, dev, i == 0, false)
			}
			if err != nil {
				b.log.Warn().Err(err).Str("device", dev).Msg("could not update deployments from the agent's info; will retry on the next change")
			}
		}
	}
}

// heartbeatLoop keeps the worker ONLINE and the pool READY (docs/prefect.md §2).
func (b *Bridge) heartbeatLoop(ctx context.Context) {
	t := time.NewTicker(b.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		hctx, cancel := context.WithTimeout(ctx, b.cfg.HeartbeatInterval)
		err := b.pc.WorkerHeartbeat(hctx, b.cfg.WorkPool, b.cfg.WorkerName, b.cfg.HeartbeatInterval)
		if err == nil {
			// Who else serves this pool decides which runs are ours to
			// claim (peers.go).
			var ws []prefect.Worker
			if ws, err = b.pc.FilterWorkers(hctx, b.cfg.WorkPool); err == nil {
				b.runDeps.peers.update(ws)
			}
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
