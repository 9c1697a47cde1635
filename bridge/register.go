package bridge

import (
	"context"
	"fmt"
	"sync"
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
	// Read first: the pool exists on every start but the first, and
	// EnsureWorkPool leaves an existing pool as it is anyway (its create
	// would be a refused write).
	pool, err := b.pc.ReadWorkPool(ctx, b.cfg.WorkPool)
	if err != nil {
		pool, err = b.pc.EnsureWorkPool(ctx, b.cfg.WorkPool, PoolType,
			"plate-resort carousels over MQTT: runs are executed by the plate-resort bridge, not by a Python worker")
	}
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
	devs := b.devs.names()
	errs := b.registerDevices(ctx, devs, true)
	for _, dev := range devs {
		if err := errs[dev]; err != nil {
			return err
		}
	}
	return ctx.Err() // a pass cut short registered only some devices
}

// registerConcurrency is how many devices register at once. One device is
// about fifteen requests in a row (its queue, what it has in the pool,
// one upsert per flow that changed). A first registration is bound by the
// Prefect server's time per upsert (a hundred devices, 1300 upserts, took
// 90-130 s on PostgreSQL on a loaded 2-core machine with one device or
// four at once; README, "Fleet"); a restart, all reads, takes half as long
// with four (9-11 s against 17-18 s). A server that answers 503 (SQLite
// serializes writes and gives up on a busy database) gets one device at
// a time from then on (registerDevices).
const registerConcurrency = 4

// busyRetries is how often one device is tried again, within the same
// pass, after Prefect answered it 503 or 429 through all the client's
// retries.
const busyRetries = 3

// registerDevices registers devs, up to registerConcurrency at a time, and
// returns the error of each device that failed. A device refused because
// Prefect is busy goes back in the queue (busyRetries times) and the pass
// continues one device at a time. With stopOnError no device starts after
// one has failed (registerWithRetry starts the pass again; the devices
// already done are then unchanged and cost a read each).
func (b *Bridge) registerDevices(ctx context.Context, devs []string, stopOnError bool) map[string]error {
	var (
		mu    sync.Mutex
		errs  = map[string]error{}
		tries = map[string]int{}
		limit = registerConcurrency
	)
	todo := make(chan string, len(devs)) // a device is in it or in a worker, never both
	var pending sync.WaitGroup
	pending.Add(len(devs))
	for _, dev := range devs {
		todo <- dev
	}
	go func() { pending.Wait(); close(todo) }()
	var workers sync.WaitGroup
	// The first device registers alone: it creates (or reads) the flows
	// that every device's deployments share, once, and the others find
	// them known (upsertFlow).
	first := make(chan struct{})
	var once sync.Once
	for w := range min(registerConcurrency, len(devs)) {
		workers.Go(func() {
			if w > 0 {
				select {
				case <-first:
				case <-ctx.Done():
				}
			}
			for dev := range todo {
				mu.Lock()
				over := w >= limit
				skip := ctx.Err() != nil || stopOnError && len(errs) > 0
				mu.Unlock()
				if over { // the pass went down to fewer workers
					todo <- dev
					return
				}
				if skip {
					pending.Done()
					continue
				}
				err := b.registerOrFallback(ctx, dev)
				if w == 0 {
					once.Do(func() { close(first) })
				}
				if st := prefect.StatusOf(err); (st == 503 || st == 429) && ctx.Err() == nil {
					mu.Lock()
					retry := tries[dev] < busyRetries
					if retry {
						tries[dev]++
						if limit > 1 {
							limit = 1
							b.log.Info().Err(err).Msg("Prefect is busy: registering one device at a time")
						}
					}
					mu.Unlock()
					if retry {
						select {
						case <-ctx.Done():
						case <-time.After(time.Second):
						}
						todo <- dev
						continue
					}
				}
				if err != nil {
					mu.Lock()
					errs[dev] = err
					mu.Unlock()
				}
				pending.Done()
			}
		})
	}
	workers.Wait()
	return errs
}

// registerOrFallback registers dev's deployments from its agent's
// catalogue and, when Prefect refuses a schema taken from the agent's
// retained info (422), from the built-in one rather than not at all.
func (b *Bridge) registerOrFallback(ctx context.Context, dev string) error {
	// A device found by its availability can have its retained info (its
	// own catalogue) a moment behind, while a hundred infos are parsed:
	// registering it from the config first would upsert its deployments
	// twice. Give it the moment awaitInfo gives configured devices.
	if st, _ := b.devs.get(dev); st.InfoSeq == 0 && st.Availability == contract.Online {
		wctx, cancel := context.WithTimeout(ctx, b.cfg.AvailabilityWait)
		b.devs.await(wctx, dev, func(s deviceStatus) bool { return s.InfoSeq != 0 })
		cancel()
	}
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
	// The queue is read first: on every start but the first it exists, and
	// a create that the server refuses (409) is a failed write, which a
	// SQLite server under load answers 503 instead.
	q, err := b.pc.ReadWorkQueue(ctx, b.cfg.WorkPool, DeviceQueue(dev))
	restored := false
	if err != nil || q.ConcurrencyLimit == nil || *q.ConcurrencyLimit != 1 {
		q, restored, err = b.pc.EnsureWorkQueue(ctx, b.cfg.WorkPool, DeviceQueue(dev),
			fmt.Sprintf("Motion commands of carousel %s, one at a time (concurrency limit 1): a run waits here, Scheduled or Late, while another drives the carousel.", dev), 1)
		if err != nil {
			return err
		}
	}
	if restored {
		b.log.Warn().Str("device", dev).Str("queue", q.Name).Msg("the device's work queue had another concurrency limit; set back to 1 so two runs never drive one carousel")
	}
	if q.IsPaused {
		b.log.Warn().Str("device", dev).Str("queue", q.Name).Msg("the device's work queue is paused in Prefect: its motion runs wait until it is resumed")
	}
	// What the device already has in the pool: an upsert that would change
	// nothing is skipped (a restart, or a catalogue that changed only some
	// schemas, then costs a read instead of an upsert per flow). Without
	// the list every deployment is upserted, as before.
	have := map[string]*prefect.RegisteredDeployment{} // flow id + "/" + name
	if list, err := b.pc.DeploymentsInPool(ctx, b.cfg.WorkPool, dev); err == nil {
		for i := range list {
			have[list[i].FlowID+"/"+list[i].Name] = &list[i]
		}
	} else if ctx.Err() == nil {
		b.log.Debug().Err(err).Str("device", dev).Msg("could not list the device's deployments; upserting all of them")
	}
	n, unchanged := 0, 0
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
		ds := prefect.DeploymentSpec{
			Name: name, FlowID: flow, WorkPoolName: b.cfg.WorkPool, WorkQueueName: queueFor(dev, spec.Kind),
			Description: fmt.Sprintf("%s Device %s, MQTT command %s (%s).", deploymentDescription(def, spec), dev, def.Command, spec.Kind),
			Tags:        []string{"plate-resort", dev, string(spec.Kind)},
			Entrypoint:  "mqtt://" + contract.DeviceTopics(b.cfg.Prefix, dev).Command(def.Command),
			Parameters:  map[string]any{}, ParameterSchema: buildSchema(def, spec), EnforceParameterSchema: true,
			Schedules: schedules(dc.Schedules), Paused: dc.Paused,
		}
		var d *prefect.Deployment
		if h := have[flow+"/"+name]; h.Matches(ds) {
			d = &h.Deployment
			unchanged++
		} else if d, err = b.pc.UpsertDeployment(ctx, ds); err != nil {
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
	b.log.Info().Str("device", dev).Int("deployments", n).Int("unchanged", unchanged).Str("schemas_from", source).Str("pool", b.cfg.WorkPool).Msg("deployments registered")
	return nil
}

func (b *Bridge) upsertFlow(ctx context.Context, name string) (string, error) {
	b.mu.Lock()
	id, ok := b.flows[name]
	b.mu.Unlock()
	if ok {
		return id, nil
	}
	// Read first: POST /flows/ returns an existing flow unchanged, but it
	// is a write, and a SQLite server under load refuses writes (503).
	f, err := b.pc.ReadFlowByName(ctx, name)
	if err != nil {
		f, err = b.pc.UpsertFlow(ctx, name, []string{"plate-resort"})
	}
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
		var todo []string
		seqs := map[string]int{}
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
			todo = append(todo, dev)
			seqs[dev] = st.InfoSeq
		}
		// Devices that appeared together (a fleet found by discovery)
		// register a few at a time, not one after another.
		errs := b.registerDevices(ctx, todo, false)
		for _, dev := range todo {
			if err := errs[dev]; err != nil {
				failed[dev] = failure{time.Now(), seqs[dev]}
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
	every(ctx, peersRefresh, func() {
		rctx, cancel := context.WithTimeout(ctx, peersMaxAge)
		defer cancel()
		if err := b.refreshPeers(rctx); err != nil && ctx.Err() == nil {
			b.log.Debug().Err(err).Msg("reading the pool's workers failed")
		}
		if b.cfg.Events {
			// Only runs announced by an event are claimed without a poll
			// (eventclaim.go).
			if err := b.refreshGate(rctx); err != nil && ctx.Err() == nil {
				b.log.Debug().Err(err).Msg("reading the pool's pause and limits failed; runs wait for the poll")
			}
		}
	})
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
