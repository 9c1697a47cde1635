package agent

import (
	"context"

	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"
)

// outbound is one reply waiting to be published.
type outbound struct {
	topic   string
	payload []byte
	props   *paho.PublishProperties
}

// outbox carries replies from the command service to the broker on a
// goroutine of its own, in order: the dispatcher (which runs emergency
// stops) never waits for a slow broker.
type outbox struct {
	log     zerolog.Logger
	ch      chan outbound
	publish func(ctx context.Context, topic string, payload []byte, retain bool, props *paho.PublishProperties)
	dropped func() // counts a reply dropped for a full queue
}

func newOutbox(log zerolog.Logger, publish func(context.Context, string, []byte, bool, *paho.PublishProperties), dropped func()) *outbox {
	return &outbox{log: log, ch: make(chan outbound, 1024), publish: publish, dropped: dropped}
}

// send queues a reply without waiting.
func (o *outbox) send(m outbound) {
	select {
	case o.ch <- m:
	default:
		o.dropped()
		o.log.Error().Str("topic", m.topic).Msg("reply queue full; reply dropped")
	}
}

// run publishes queued replies in order until ctx ends.
func (o *outbox) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-o.ch:
			o.publish(ctx, m.topic, m.payload, false, m.props)
		}
	}
}

// drain publishes what is still queued (shutdown).
func (o *outbox) drain(ctx context.Context) {
	for {
		select {
		case m := <-o.ch:
			o.publish(ctx, m.topic, m.payload, false, m.props)
		default:
			return
		}
	}
}
