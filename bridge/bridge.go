package bridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/ops"
)

// Bridge is one Prefect worker for the configured carousels.
type Bridge struct {
	cfg  Config
	log  zerolog.Logger
	pc   *prefect.Client
	corr *correlator
	devs *devices
	mq   *mqttConn
	ship *logShipper
	// runDeps is what every run gets (run.go); runs never see the Bridge.
	runDeps *runDeps

	mu       sync.Mutex
	poolID   string
	flows    map[string]string      // flow name -> id
	deps     map[string]*deployment // deployment id -> deployment
	regSeq   map[string]int         // device -> InfoSeq its deployments were built from
	inflight map[string]*runTask    // flow run id -> task

	wake chan struct{} // poll now
	// gate says whether runs may be claimed on their event; eventReads
	// holds the runs being read for that, at most maxEventReads
	// (eventclaim.go).
	gate       gate
	eventReads chan struct{}
	// announced are runs events named that no poll has shown yet (announced.go).
	announced announced
	wg        sync.WaitGroup

	metrics *bridgeMetrics // metrics.go
	ops     *ops.Server    // /health, /ready, /metrics
}

// New validates cfg and builds a Bridge; Run starts it.
func New(cfg Config, log zerolog.Logger) (*Bridge, error) {
	cfg.normalize()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	met := newBridgeMetrics()
	pcfg := cfg.prefectConfig()
	pcfg.Observe = met.prefectObserved
	pc, err := prefect.New(pcfg)
	if err != nil {
		return nil, fmt.Errorf("prefect: %w", err)
	}
	b := &Bridge{
		cfg: cfg, log: log.With().Str("component", "bridge").Logger(), pc: pc,
		corr: newCorrelator(), devs: newDevices(cfg.Prefix, cfg.Devices, contract.Options{Hotels: cfg.Hotels, MaxSpeed: cfg.MaxSpeed}),
		flows: map[string]string{}, deps: map[string]*deployment{}, regSeq: map[string]int{},
		inflight: map[string]*runTask{}, wake: make(chan struct{}, 1), eventReads: make(chan struct{}, maxEventReads),
		ship:    newLogShipper(pc, log),
		metrics: met, ops: ops.New(cfg.HTTP.Metrics),
	}
	b.devs.log, b.devs.max = b.log, cfg.MaxDevices
	b.mq = newMQTTConn(cfg, b.log)
	b.mq.will, b.mq.birth = cfg.will(), b.birth
	b.runDeps = newRunDeps(cfg, b.log, pc, &requester{mq: b.mq, corr: b.corr, prefix: cfg.Prefix}, b.devs, b.ship)
	b.runDeps.metrics = met
	b.registerOps(b.ops)
	return b, nil
}

// MetricNames are the names of the bridge's own metrics.
func (b *Bridge) MetricNames() []string { return b.ops.MetricNames() }

// HTTPAddr is the bound address of the http endpoint ("" when off or
// before Run has started it).
func (b *Bridge) HTTPAddr() string { return b.ops.Addr() }

// Run registers the deployments and serves flow runs until ctx ends. Runs in
// flight when ctx ends are left as they are in Prefect; the next start
// recovers them (recover.go).
func (b *Bridge) Run(ctx context.Context) error {
	b.log.Info().Str("prefect", b.pc.APIURL()).Str("pool", b.cfg.WorkPool).Str("worker", b.cfg.WorkerName).
		Strs("devices", b.cfg.Devices).Bool("discover_all", len(b.cfg.Devices) == 0).Msg("bridge starting")
	if b.cfg.HTTP.Address != "" {
		if err := b.ops.Start(b.cfg.HTTP.Address); err != nil {
			return err
		}
		defer b.ops.Close()
		b.log.Info().Str("http", b.ops.Addr()).Bool("metrics", b.cfg.HTTP.Metrics).Msg("health and metrics endpoint listening")
	}
	cm, err := b.mq.connect(ctx, b.devs.topics(), b.onPublish)
	if err != nil {
		return err
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		b.goodbye(dctx, cm)
		_ = cm.Disconnect(dctx)
	}()
	b.awaitInfo(ctx)
	if err := b.registerWithRetry(ctx); err != nil {
		return err
	}
	shipCtx, stopShip := context.WithCancel(context.WithoutCancel(ctx))
	shipDone := make(chan struct{})
	go func() { defer close(shipDone); b.ship.run(shipCtx) }()
	defer func() { stopShip(); <-shipDone }()
	loops := []func(context.Context){b.heartbeatLoop, b.peersLoop, b.pollLoop, b.cancelLoop, b.strayLoop, b.reregisterOnInfo}
	if b.cfg.Events {
		loops = append(loops, b.eventsLoop)
	}
	var lw sync.WaitGroup
	for _, l := range loops {
		lw.Add(1)
		go func() { defer lw.Done(); l(ctx) }()
	}
	b.recoverRuns(ctx)
	<-ctx.Done()
	lw.Wait()
	b.wg.Wait()
	b.leavePool()
	b.log.Info().Msg("bridge stopped")
	return nil
}

// awaitInfo gives the agents a moment to deliver their retained info, so the
// first registration already uses their own catalogue.
func (b *Bridge) awaitInfo(ctx context.Context) {
	wctx, cancel := context.WithTimeout(ctx, b.cfg.AvailabilityWait)
	defer cancel()
	for _, dev := range b.cfg.Devices {
		if _, ok := b.devs.await(wctx, dev, func(s deviceStatus) bool { return s.InfoSeq > 0 }); !ok {
			b.log.Info().Str("device", dev).Msg("no retained info from the agent yet; schemas come from the config until it appears")
			return
		}
	}
}

// registerWithRetry keeps trying while Prefect is unreachable (a server that
// starts after the bridge), but gives up at once on errors no retry fixes.
func (b *Bridge) registerWithRetry(ctx context.Context) error {
	delay := time.Second
	for {
		err := b.register(ctx)
		if err == nil {
			return nil
		}
		if st := prefect.StatusOf(err); st == 401 || st == 403 || errors.Is(err, prefect.ErrReservedPoolName) {
			return fmt.Errorf("register with Prefect at %s: %w", b.pc.APIURL(), err)
		}
		b.log.Warn().Err(err).Dur("retry_in", delay).Msg("could not register with Prefect; retrying")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// deploymentByID returns one of our deployments.
func (b *Bridge) deploymentByID(id string) (*deployment, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.deps[id]
	return d, ok
}

func (b *Bridge) deploymentIDs() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.deps))
	for id := range b.deps {
		out = append(out, id)
	}
	return out
}

// kickPoll asks the poll loop to poll now.
func (b *Bridge) kickPoll() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}
