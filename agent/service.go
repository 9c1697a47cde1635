package agent

import (
	"context"
	"github.com/plate-resort/plate-resort/agent/journal"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
)

// notifier is what the service tells telemetry. Every call returns at once:
// telemetry decides what to publish, on its own goroutines.
type notifier interface {
	stateChanged()
	healthChanged()
	identityChanged()
	expectHotel(hotel string)
}

// serviceDeps are what the command service is given. Commands come in on
// its inbox; replies leave through send. It never uses the MQTT client (a
// destination carries the connection a command came in on, for the
// publisher).
type serviceDeps struct {
	cfg    Config
	log    zerolog.Logger
	topics contract.Topics
	resort *resort.Resort
	send   func(outbound) // the session's outbox; never blocks
	// sendNow publishes a read's reply on the caller's goroutine when no
	// other caller is doing so; false leaves it to send (publisher.now).
	sendNow  func(outbound) bool
	notify   notifier
	counters *counters
	health   func(context.Context) (contract.Health, error) // get_health, reboot
	wish     *wish                                          // the serial connection connect/disconnect ask for
	events   *eventSink                                     // history: <base>/event and get_events
	logLevel *logLevel                                      // set_log_level
	metrics  *metrics                                       // Prometheus metrics (metrics.go)
}

// service is the command service: catalogue, parsing, dedupe, expiry, the
// executor queue, the handlers, the emergency-stop path and the replies.
type service struct {
	serviceDeps
	inbox    *inbox
	cat      atomic.Pointer[contract.Catalog]
	exec     *executor
	dd       *dedupe
	handlers map[string]handler
	estopSeq atomic.Uint64 // arrival number of the latest emergency stop
	journal  *journal.Journal
	reads    *readPool   // runs reads, at most maxReads at once (flow control)
	locks    *lockHolder // the carousel's lock (lock.go)
}

// maxReads bounds reads running at once; more wait in the inbox, and
// QoS 1 ones at the broker.
const maxReads = 32

func newService(d serviceDeps) *service {
	s := &service{serviceDeps: d, inbox: newInbox(), dd: newDedupe(d.cfg.DedupeWindow, d.cfg.DedupeSize)}
	s.reads = newReadPool(maxReads, s.run)
	s.exec = newExecutor(d.cfg.QueueSize, d.notify.stateChanged)
	s.locks = &lockHolder{log: d.log, changed: d.notify.stateChanged}
	s.rebuildCatalog()
	s.handlers = s.commandTable()
	return s
}

// catalog is the command catalogue the service validates with.
func (s *service) catalog() *contract.Catalog { return s.cat.Load() }

// rebuildCatalog makes the catalogue from the configuration and what the
// servo reported (its Velocity Limit bounds set_speed), so the schemas in
// info, the Prefect forms and validation all show the real limits.
func (s *service) rebuildCatalog() {
	s.cat.Store(contract.New(contract.Options{Hotels: s.cfg.Resort.Hotels, MaxSpeed: s.resort.VelocityLimit(), Ports: s.cfg.Ports()}))
}

// servoIdentified follows a servo that (re)connected: the catalogue is
// rebuilt first, then telemetry republishes what depends on the servo's
// identity (model, velocity limit): info and Home Assistant discovery.
func (s *service) servoIdentified() {
	s.rebuildCatalog()
	s.notify.identityChanged()
}

// lockState is the lock for state (telemetry).
func (s *service) lockState() *contract.LockState { return s.locks.state(time.Now()) }

// busy returns the running command, if any, and the queue length.
func (s *service) busy() (*job, int) { return s.exec.busy() }

// shutdown ends command work: queued commands are answered cancelled and
// the running one is interrupted with the shutdown cause, then given a
// bounded time to hold its position and reply.
func (s *service) shutdown() {
	dropped, running := s.exec.interrupt(errCauseShutdown)
	for _, j := range dropped {
		s.replyErr(j, contract.Errorf(contract.CodeCancelled, "agent shutting down before this command ran"))
	}
	if running == nil {
		return
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if r, _ := s.exec.busy(); r == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
