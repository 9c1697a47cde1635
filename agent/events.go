package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent/eventlog"
	"github.com/plate-resort/plate-resort/contract"
)

// The event stream: one line of history per event on the non-retained
// <base>/event (QoS 1, through the session's outbox) and in a bounded
// on-disk ring (agent/eventlog) that get_events reads.
//
// Which commands are history: only commands that act (motion,
// configuration, control; everything whose catalogue kind is not "read"),
// and the refusals of them. Reads change nothing, and a caller may send
// thousands a second (topics.md, "Delivery under load": a burst of 10 000
// get_position); three events each would put 30 000 lines on the broker
// and the Pi's SD card to record that nothing happened. A command that
// acts gets command_received when it is accepted (parsed, not expired, not
// a repeat), command_started when it runs and command_finished with its
// outcome; one refused before it was accepted (bad payload, expired,
// retained, agent busy) gets command_finished alone. A repeated id
// answered from dedupe is not a new line of history.
//
// Nothing here may delay a command or an emergency stop: emit encodes the
// event, offers it to the outbox without waiting (events never take the
// second half of the reply queue) and hands it to the disk writer through
// a bounded channel; when either is full the event is dropped there and
// counted, never waited for.

// eventQueue bounds events waiting for the disk writer; eventBatch is the
// most written in one bbolt transaction (one fsync).
const (
	eventQueue = 4096
	eventBatch = 256
)

// eventSink publishes and stores events.
type eventSink struct {
	log   zerolog.Logger
	topic string
	offer func(outbound) bool // the outbox, without waiting

	ch    chan contract.Event
	flush chan chan struct{}
	stop  chan struct{}
	done  chan struct{}

	mu    sync.Mutex
	store *eventlog.Log // nil until open, or when the file is unusable
	err   error         // why store is nil

	unpublished atomic.Uint64 // not published: outbox half full
	unstored    atomic.Uint64 // not stored: writer queue full, or a write failed
}

func newEventSink(log zerolog.Logger, topic string, offer func(outbound) bool) *eventSink {
	return &eventSink{log: log, topic: topic, offer: offer,
		ch: make(chan contract.Event, eventQueue), flush: make(chan chan struct{}),
		stop: make(chan struct{}), done: make(chan struct{}), err: fmt.Errorf("event log not open yet")}
}

// emit publishes ev and queues it for the disk; it never blocks.
func (e *eventSink) emit(ev contract.Event) {
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	ev.At = ev.At.UTC()
	ev.Message = contract.Clip(ev.Message, contract.MaxEventMessage)
	if payload, err := json.Marshal(ev); err == nil && !e.offer(outbound{topic: e.topic, payload: payload}) {
		e.unpublished.Add(1)
	}
	select {
	case e.ch <- ev:
	default:
		e.unstored.Add(1)
	}
}

// open opens the ring at path (moving a corrupt file aside) and starts the
// writer. An unusable file is logged and remembered: the agent runs on,
// events are still published, get_events says why it cannot answer.
func (e *eventSink) open(path string, size int) {
	l, moved, err := eventlog.OpenOrRecover(path, size, time.Now())
	if moved != "" {
		e.log.Error().Str("events_path", path).Str("moved_to", moved).Msg("event log was corrupt: moved aside, a new one started (earlier events are in the moved file)")
	}
	e.mu.Lock()
	e.store, e.err = l, err
	e.mu.Unlock()
	if err != nil {
		e.log.Error().Err(err).Str("events_path", path).Msg("event log unusable: events are published but not kept; get_events answers internal")
	} else {
		e.log.Info().Str("events", path).Int("held", l.Len()).Msg("event log open")
	}
	go e.writer()
}

// close writes what is queued and closes the file.
func (e *eventSink) close() {
	close(e.stop)
	<-e.done
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.store != nil {
		_ = e.store.Close()
		e.store, e.err = nil, fmt.Errorf("event log closed")
	}
}

// writer writes queued events in batches until close.
func (e *eventSink) writer() {
	defer close(e.done)
	batch := make([]contract.Event, 0, eventBatch)
	// drain writes first (when given) and everything queued after it, in
	// batches, until the queue is empty.
	drain := func(first *contract.Event) {
		for {
			batch = batch[:0]
			if first != nil {
				batch = append(batch, *first)
				first = nil
			}
		fill:
			for len(batch) < eventBatch {
				select {
				case ev := <-e.ch:
					batch = append(batch, ev)
				default:
					break fill
				}
			}
			if len(batch) == 0 {
				return
			}
			e.write(batch)
		}
	}
	for {
		select {
		case ev := <-e.ch:
			drain(&ev)
		case ack := <-e.flush:
			drain(nil)
			close(ack)
		case <-e.stop:
			drain(nil)
			return
		}
	}
}

func (e *eventSink) write(batch []contract.Event) {
	e.mu.Lock()
	st := e.store
	e.mu.Unlock()
	if st == nil {
		e.unstored.Add(uint64(len(batch)))
		return
	}
	skipped, err := st.Append(batch)
	if err != nil {
		e.unstored.Add(uint64(len(batch)))
		e.log.Error().Err(err).Int("events", len(batch)).Msg("events not stored")
		return
	}
	e.unstored.Add(uint64(skipped))
}

// last answers get_events: the events emitted before the call are on disk
// first (the writer is asked to catch up), then the newest limit are read.
func (e *eventSink) last(ctx context.Context, limit int, typ string) ([]contract.Event, error) {
	ack := make(chan struct{})
	select {
	case e.flush <- ack:
		select {
		case <-ack:
		case <-ctx.Done():
		}
	case <-e.done:
	case <-ctx.Done():
	}
	e.mu.Lock()
	st, err := e.store, e.err
	e.mu.Unlock()
	if st == nil {
		return nil, contract.Errorf(contract.CodeInternal, "event log unavailable (%v); see the agent log and events_path", err)
	}
	evs, bad, rerr := st.Last(limit, typ)
	if rerr != nil {
		return nil, contract.Errorf(contract.CodeInternal, "%v; stop the agent and remove or move events_path to start a new one", rerr)
	}
	if bad > 0 {
		e.log.Warn().Int("records", bad).Msg("event log: unreadable records skipped")
	}
	return evs, nil
}

// The command service's part: which commands become events, and when.

// evented says whether j is history (see the rule at the top).
func evented(j *job) bool {
	return j.req != nil && j.req.Spec != nil && j.req.Spec.Kind != contract.KindRead
}

func (s *service) commandEvent(typ string, j *job, at time.Time) contract.Event {
	return contract.Event{Type: typ, At: at, ID: j.req.ID, Command: j.req.Command, User: j.user, FlowRunID: j.flowRun}
}

// eventReceived: a command that acts was accepted (dispatch).
func (s *service) eventReceived(j *job) {
	if evented(j) {
		s.events.emit(s.commandEvent(contract.EventCommandReceived, j, j.received))
	}
}

// eventStarted: it runs now. Whether an e-stop was latched is noted, so
// finish can tell that a reset or connect cleared it.
func (s *service) eventStarted(j *job) {
	if !evented(j) {
		return
	}
	j.latchedAtStart = s.resort.EStopped()
	s.events.emit(s.commandEvent(contract.EventCommandStarted, j, j.started))
}

// eventFinished is finish's one call into this file.
func (s *service) eventFinished(j *job, result any, e *contract.Error) {
	if !evented(j) {
		return
	}
	now := time.Now()
	estop := j.req.Command == contract.EmergencyStop && !j.started.IsZero()
	if estop {
		// An emergency stop acts on arrival, before dispatch and before
		// anything is written here: its history is told afterwards, with
		// the times it really arrived and acted.
		s.events.emit(s.commandEvent(contract.EventCommandReceived, j, j.received))
		s.events.emit(s.commandEvent(contract.EventCommandStarted, j, j.started))
		ev := s.commandEvent(contract.EventEStop, j, j.started)
		ev.Outcome = outcome(e)
		if r, ok := result.(contract.EStopResult); ok {
			ev.Message = fmt.Sprintf("torque off, latched; interrupted %s, %d dropped", orNone(deref(r.Interrupted)), r.Dropped)
		}
		s.events.emit(ev)
	}
	ran := !j.started.IsZero() && !j.refused
	if ran && e == nil && j.latchedAtStart && !s.resort.EStopped() {
		ev := s.commandEvent(contract.EventReset, j, now)
		ev.Outcome, ev.Message = "ok", "emergency stop cleared by "+j.req.Command
		s.events.emit(ev)
	}
	ev := s.commandEvent(contract.EventCommandFinished, j, now)
	ev.Outcome = outcome(e)
	if ran {
		d := float64(now.Sub(j.started).Microseconds()) / 1000
		ev.DurationMS = &d
	}
	if e != nil {
		ev.Message = e.Message
	}
	s.events.emit(ev)
}

func outcome(e *contract.Error) string {
	if e == nil {
		return "ok"
	}
	return string(e.Code)
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// doGetEvents serves get_events from the ring.
func (s *service) doGetEvents(ctx context.Context, req *contract.Request) (any, error) {
	limit, ok := req.Int("limit")
	if !ok {
		limit = contract.DefaultEventsLimit
	}
	evs, err := s.events.last(ctx, limit, req.String("type"))
	if err != nil {
		return nil, err
	}
	if evs == nil {
		evs = []contract.Event{}
	}
	return contract.EventsResult{Events: evs}, nil
}

// healthEvents turns what changed between two health reports into fault
// events (hardware error flags newly set) and warning events (warnings
// newly present). Cleared ones are not events: health shows them, and an
// automation on "fault" must fire when one appears.
func healthEvents(prev, cur contract.Health) []contract.Event {
	var out []contract.Event
	var was []string
	if prev.HardwareError != nil {
		was = prev.HardwareError.Flags
	}
	if cur.HardwareError != nil {
		var raised []string
		for _, f := range cur.HardwareError.Flags {
			if !slices.Contains(was, f) {
				raised = append(raised, f)
			}
		}
		if len(raised) > 0 {
			out = append(out, contract.Event{Type: contract.EventFault, Outcome: string(contract.CodeHardwareError),
				Message: fmt.Sprintf("hardware error: %s (status 0x%02x)", strings.Join(raised, ", "), cur.HardwareError.Raw)})
		}
	}
	for _, w := range cur.Warnings {
		if !slices.Contains(prev.Warnings, w) {
			out = append(out, contract.Event{Type: contract.EventWarning, Message: w})
		}
	}
	return out
}

// EventsPath is where the event ring lives: events_path, or next to the
// dedupe journal (same state directory rules, Config.JournalPath) with the
// extension .events.
func (c Config) EventsPath() string {
	if c.EventsFile != "" {
		return c.EventsFile
	}
	jp := c.JournalPath()
	return strings.TrimSuffix(jp, filepath.Ext(jp)) + ".events"
}
