package agent

import (
	"context"

	"github.com/eclipse/paho.golang/paho"
)

// outbound is one reply waiting to be published.
type outbound struct {
	topic   string
	payload []byte
	props   *paho.PublishProperties
}

// enqueue hands a reply to the publisher goroutine without waiting: the
// dispatcher (which runs emergency stops) never blocks on a slow broker.
func (a *Agent) enqueue(o outbound) {
	select {
	case a.outbox <- o:
	default:
		a.dropped.Add(1)
		a.log.Error().Str("topic", o.topic).Msg("reply queue full; reply dropped")
	}
}

// publishLoop publishes queued replies in order.
func (a *Agent) publishLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case o := <-a.outbox:
			a.publishProps(ctx, o.topic, o.payload, false, o.props)
		}
	}
}

// drainOutbox publishes what is still queued (shutdown).
func (a *Agent) drainOutbox(ctx context.Context) {
	for {
		select {
		case o := <-a.outbox:
			a.publishProps(ctx, o.topic, o.payload, false, o.props)
		default:
			return
		}
	}
}
