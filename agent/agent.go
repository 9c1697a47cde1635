package agent

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/buildinfo"
)

// Options are the seams of an Agent.
type Options struct {
	// SerialOpen replaces the serial opener (tests).
	SerialOpen func(path string, baud int) (resort.Port, error)
}

// Agent is the edge agent for one carousel.
type Agent struct {
	cfg    Config
	log    zerolog.Logger
	topics contract.Topics
	cat    atomic.Pointer[contract.Catalog]
	resort *resort.Resort
	exec   *executor
	dd     *dedupe

	cmMu sync.Mutex
	cm   *autopaho.ConnectionManager

	inbox      chan inbound
	outbox     chan outbound
	stateKick  chan struct{}
	healthKick chan struct{}
	forceState atomic.Bool
	started    time.Time

	wantConnected atomic.Bool
	connectOpts   atomic.Pointer[resort.ConnectOptions]

	liveMu     sync.Mutex
	livePos    *xseries.Degrees
	liveMoving bool
	target     *contract.Target

	// birthMu orders the birth sequence (online, info, ...) against the
	// shutdown's offline: a birth that lost the race must not leave a
	// retained "online" behind a stopped agent.
	birthMu sync.Mutex
	closing atomic.Bool

	counters counters
	dropped  atomic.Uint64
	handlers map[string]handler
	wg       sync.WaitGroup
}

type handler func(ctx context.Context, req *contract.Request) (any, error)

// New builds an agent; Run starts it.
func New(cfg Config, log zerolog.Logger, opts Options) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, log: log.With().Str("component", "agent").Str("device", cfg.Device).Logger(),
		topics: contract.DeviceTopics(cfg.Prefix, cfg.Device), dd: newDedupe(cfg.DedupeWindow, cfg.DedupeSize),
		inbox: make(chan inbound, 256), outbox: make(chan outbound, 1024), stateKick: make(chan struct{}, 1), healthKick: make(chan struct{}, 1),
		started: time.Now(),
	}
	a.exec = newExecutor(cfg.QueueSize, func() { a.kick(a.stateKick) })
	a.resort = resort.New(cfg.Resort, log, resort.Options{Open: opts.SerialOpen, Observe: a.observe})
	a.rebuildCatalog()
	a.handlers = a.commandTable()
	a.connectOpts.Store(&resort.ConnectOptions{})
	return a, nil
}

// Catalog is the command catalogue the agent validates with.
func (a *Agent) Catalog() *contract.Catalog { return a.cat.Load() }

// rebuildCatalog makes the catalogue from the configuration and what the
// servo reported (its Velocity Limit bounds set_speed), so the schemas in
// info, the Prefect forms and validation all show the real limits.
func (a *Agent) rebuildCatalog() {
	a.cat.Store(contract.New(contract.Options{Hotels: a.cfg.Resort.Hotels, MaxSpeed: a.resort.VelocityLimit(), Ports: a.cfg.Ports()}))
}

// Resort exposes the driver (diagnostics, tests).
func (a *Agent) Resort() *resort.Resort { return a.resort }

// Run connects to the broker and the servo and serves until ctx ends, then
// shuts down cleanly: the running move stops holding position, the queue is
// dropped, `offline` is published and the MQTT session is closed.
func (a *Agent) Run(ctx context.Context) error {
	// runCtx ends only after the shutdown sequence has interrupted the
	// running command with its own cause, so that command replies
	// "cancelled: agent shutting down", not an internal error.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	if a.cfg.ConnectOnStart {
		a.wantConnected.Store(true)
		cctx, ccancel := context.WithTimeout(runCtx, 5*time.Second)
		if res, err := a.resort.Connect(cctx, resort.ConnectOptions{}); err != nil {
			a.log.Warn().Err(err).Msg("servo not connected yet; retrying in the background")
		} else {
			a.log.Info().Str("model", res.Model).Int("firmware", res.Firmware).Float64("position_deg", float64(res.Position)).Msg("servo connected")
		}
		ccancel()
	}
	// The MQTT connection outlives ctx by the shutdown sequence, so the
	// final `offline` can still be published before disconnecting.
	mqttCtx, mqttCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer mqttCancel()
	cm, err := a.connect(mqttCtx)
	if err != nil {
		return fmt.Errorf("MQTT: %w", err)
	}
	a.cmMu.Lock()
	a.cm = cm
	a.cmMu.Unlock()

	loops := []func(context.Context){a.dispatchLoop, a.workLoop, a.stateLoop, a.healthLoop, a.linkLoop}
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.publishLoop(mqttCtx) }()
	for _, loop := range loops {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); loop(runCtx) }()
	}
	<-ctx.Done()
	a.shutdown(cm)
	cancel()
	mqttCancel()
	a.wg.Wait()
	return nil
}

func (a *Agent) shutdown(cm *autopaho.ConnectionManager) {
	a.log.Info().Msg("shutting down")
	dropped, running := a.exec.interrupt(errCauseShutdown)
	for _, j := range dropped {
		a.replyErr(j, contract.Errorf(contract.CodeCancelled, "agent shutting down before this command ran"))
	}
	if running != nil {
		// Let the move hold its position and reply (bounded).
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			if r, _ := a.exec.busy(); r == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	a.drainOutbox(ctx)
	a.closing.Store(true)
	a.birthMu.Lock()
	defer a.birthMu.Unlock()
	a.publish(ctx, a.topics.Availability(), []byte(contract.Offline), true)
	_ = cm.Disconnect(ctx)
	if a.resort.Opened() {
		// Leave torque as it is: a carousel holding a hotel keeps holding.
		a.log.Info().Msg("serial port left holding position")
	}
}

func (a *Agent) kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// observe receives every position the driver reads.
func (a *Agent) observe(pos xseries.Degrees, moving bool) {
	a.liveMu.Lock()
	p := pos
	a.livePos, a.liveMoving = &p, moving
	a.liveMu.Unlock()
	a.kick(a.stateKick)
}

// counters are the agent's command counters for health.
type counters struct {
	mu       sync.Mutex
	received uint64
	ok       uint64
	failed   uint64
	byCode   map[contract.Code]uint64
}

func (c *counters) count(e *contract.Error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e == nil {
		c.ok++
		return
	}
	c.failed++
	if c.byCode == nil {
		c.byCode = map[contract.Code]uint64{}
	}
	c.byCode[e.Code]++
}

func (a *Agent) counterSnapshot() contract.Counters {
	a.counters.mu.Lock()
	defer a.counters.mu.Unlock()
	by := map[contract.Code]uint64{}
	for k, v := range a.counters.byCode {
		by[k] = v
	}
	return contract.Counters{Received: a.counters.received, OK: a.counters.ok, Error: a.counters.failed, ByCode: by, Dropped: a.dropped.Load()}
}

func version() string { return buildinfo.Version }
