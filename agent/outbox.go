package agent

import (
	"context"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"
)

// outbound is one reply waiting to be published.
type outbound struct {
	topic   string
	payload []byte
	props   *paho.PublishProperties
	via     *paho.Client // the connection the command came in on (nil: none, or an event)
}

// outbox carries replies from the command service to the broker on a
// goroutine of its own, in order: the dispatcher (which runs emergency
// stops) never waits for a slow broker.
type outbox struct {
	log     zerolog.Logger
	ch      chan outbound
	publish func(ctx context.Context, m outbound)
	dropped func() // counts a reply dropped for a full queue
}

func newOutbox(log zerolog.Logger, publish func(context.Context, outbound), dropped func()) *outbox {
	return &outbox{log: log, ch: make(chan outbound, 1024), publish: publish, dropped: dropped}
}

// sendWait bounds how long a reply waits for room in a full queue (a
// burst of refusals faster than the broker takes them) before it is
// dropped and counted: every reply is owed to someone.
const sendWait = 30 * time.Second

// send queues a reply; it waits only when the queue is full.
func (o *outbox) send(m outbound) {
	select {
	case o.ch <- m:
		return
	default:
	}
	t := time.NewTimer(sendWait)
	defer t.Stop()
	select {
	case o.ch <- m:
	case <-t.C:
		o.dropped()
		o.log.Error().Str("topic", m.topic).Msg("reply queue full for 30 s (broker unreachable?); reply dropped")
	}
}

// offer queues m only while the queue is less than half full, and never
// waits: events (events.go) must not delay a command, nor crowd out the
// replies the other half is kept for.
func (o *outbox) offer(m outbound) bool {
	if len(o.ch) >= cap(o.ch)/2 {
		return false
	}
	select {
	case o.ch <- m:
		return true
	default:
		return false
	}
}

// run publishes queued replies in order until ctx ends.
func (o *outbox) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-o.ch:
			o.publish(ctx, m)
		}
	}
}

// drain publishes what is still queued (shutdown).
func (o *outbox) drain(ctx context.Context) {
	for {
		select {
		case m := <-o.ch:
			o.publish(ctx, m)
		default:
			return
		}
	}
}
