package agent

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent/journal"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/internal/ops"
)

// Options are the seams of an Agent.
type Options struct {
	// SerialOpen replaces the serial opener (tests).
	SerialOpen func(path string, baud int) (resort.Port, error)
}

// Agent is the edge agent for one carousel. It only builds and wires its
// parts; a command goes one way through them:
//
//	session.onPublish -> service.dispatch -> executor -> handler -> resort
//	-> service.finish -> outbox -> publisher
//
// Telemetry reads the driver and the service's status and publishes state,
// health, info and discovery through the same publisher; the link
// supervisor keeps the serial port up.
type Agent struct {
	cfg    Config
	log    zerolog.Logger
	resort *resort.Resort
	sess   *session
	out    *outbox
	svc    *service
	tel    *telemetry
	link   *link
	events *eventSink
	// metrics and ops: the /health, /ready and /metrics endpoint (metrics.go).
	metrics *metrics
	ops     *ops.Server
	journal atomic.Pointer[journal.Journal] // for metrics, once Run opened it
}

// New builds an agent; Run starts it. Parts are built in the order of
// their dependencies, so each gets what it uses at construction and none
// holds the Agent.
func New(cfg Config, log zerolog.Logger, opts Options) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log, lvl := withLiveLevel(log) // set_log_level changes it for every part below
	alog := log.With().Str("component", "agent").Str("device", cfg.Device).Logger()
	topics := cfg.Topics()

	var svcRef *service // the catalogue is the service's; metrics only ask it after New
	met := newMetrics(func(name string) bool { _, ok := svcRef.catalog().Lookup(name); return ok })

	lv := newLive() // before the driver: it receives every position the driver reads
	res := resort.New(cfg.Resort, log, resort.Options{Open: opts.SerialOpen, Observe: lv.observe, Started: lv.moveStarted, SerialObserve: met.serialObserve})
	cnt := &counters{}
	health := &healthReader{resort: res, started: time.Now(), counters: cnt.snapshot}
	pub := &publisher{log: alog}
	out := newOutbox(alog, pub.reply, cnt.drop)
	ev := newEventSink(alog, topics.Event(), out.offer)
	want := newWish()

	svc := newService(serviceDeps{
		cfg: cfg, log: alog, topics: topics, resort: res,
		send: out.send, sendNow: pub.now, notify: lv, counters: cnt, health: health.read, wish: want, metrics: met,
		events: ev, logLevel: lvl,
	})
	svcRef = svc
	tel := newTelemetry(telemetryDeps{
		cfg: cfg, log: alog, topics: topics, resort: res,
		publish: pub.publish, status: svc, live: lv, health: health.read, event: ev.emit, healthStamp: met.healthStamp,
	})
	lnk := &link{linkDeps{
		log: alog, interval: cfg.ReconnectInterval, resort: res, wish: want, service: svc, notify: lv, event: ev.emit,
	}}
	sess := newSession(sessionDeps{
		cfg: cfg, log: alog, topics: topics, pub: pub, out: out,
		inbox: svc.inbox, urgent: svc.urgentStop, busy: svc.refuseBusy,
		birth: tel.announce, haOnline: tel.homeAssistantOnline, event: ev.emit,
	})
	a := &Agent{cfg: cfg, log: alog, resort: res, sess: sess, out: out, svc: svc, tel: tel, link: lnk, events: ev, metrics: met, ops: ops.New(cfg.HTTP.Metrics)}
	met.register(a.ops, agentSources{
		resort: res, busy: svc.busy, inbox: svc.inbox.len, live: lv, health: health, mqttUp: sess.up.Load,
		journal: func() int {
			if j := a.journal.Load(); j != nil {
				return j.Len()
			}
			return -1
		}, counters: cnt.snapshot,
		eventsDropped: func() (uint64, uint64) { return ev.unpublished.Load(), ev.unstored.Load() },
	})
	a.registerChecks(a.ops)
	return a, nil
}

// MetricNames are the names of the agent's own metrics (tests hold the
// shipped dashboard and alert rules to them).
func (a *Agent) MetricNames() []string { return a.ops.MetricNames() }

// HTTPAddr is the bound address of the http endpoint ("" when off or
// before Run has started it).
func (a *Agent) HTTPAddr() string { return a.ops.Addr() }

// Catalog is the command catalogue the agent validates with.
func (a *Agent) Catalog() *contract.Catalog { return a.svc.catalog() }

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
	jpath := a.cfg.JournalPath()
	jr, interrupted, err := journal.Open(jpath, a.cfg.DedupeWindow, a.cfg.DedupeSize, time.Now())
	if err != nil {
		return fmt.Errorf("dedupe journal (journal_path): %w", err)
	}
	defer jr.Close()
	a.svc.journal = jr
	a.journal.Store(jr)
	for _, e := range interrupted {
		a.log.Warn().Str("id", e.ID).Str("command", e.Command).Time("started", e.At).
			Msg("command interrupted by the agent's last stop: outcome unknown; a repeat of its id is answered 'interrupted' and never run")
	}
	a.log.Info().Str("journal", jpath).Int("ids", jr.Len()).Msg("dedupe journal open")
	// Before the MQTT session: no command is looked at before the lock of
	// the last run is back in force.
	a.svc.locks.restore(jr, time.Now())
	a.events.open(a.cfg.EventsPath(), a.cfg.EventsSize)
	defer a.events.close() // after every loop has ended: the last events are written
	if a.cfg.HTTP.Address != "" {
		if err := a.ops.Start(a.cfg.HTTP.Address); err != nil {
			return err
		}
		defer a.ops.Close()
		a.log.Info().Str("http", a.ops.Addr()).Bool("metrics", a.cfg.HTTP.Metrics).Msg("health and metrics endpoint listening")
	}
	if a.cfg.ConnectOnStart {
		a.link.connectAtStart(runCtx)
	}
	// The MQTT connection outlives ctx by the shutdown sequence, so the
	// final `offline` can still be published before disconnecting.
	mqttCtx, mqttCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer mqttCancel()
	if err := a.sess.connect(mqttCtx); err != nil {
		return err
	}

	var wg sync.WaitGroup
	wg.Go(func() { a.out.run(mqttCtx) })
	loops := []func(context.Context){
		a.svc.dispatchLoop, a.svc.workLoop,
		a.tel.stateLoop, a.tel.healthLoop, a.tel.announceLoop,
		a.link.loop,
	}
	for _, loop := range loops {
		wg.Go(func() { loop(runCtx) })
	}
	<-ctx.Done()
	a.shutdown()
	cancel()
	mqttCancel()
	wg.Wait()
	return nil
}

// shutdown runs in this order: commands end and reply, the replies go out,
// then `offline` and the disconnect.
func (a *Agent) shutdown() {
	a.log.Info().Msg("shutting down")
	a.svc.shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	a.sess.close(ctx)
	if a.resort.Opened() {
		// Leave torque as it is: a carousel holding a hotel keeps holding.
		a.log.Info().Msg("serial port left holding position")
	}
}
