package agent

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/contract"
)

// destination is where one request's reply goes besides <base>/reply/<cmd>.
type destination struct {
	responseTopic string       // MQTT 5 Response Topic
	correlation   []byte       // MQTT 5 Correlation Data, echoed
	replyTo       string       // reply_to from the JSON body (MQTT 3.1.1 callers)
	via           *paho.Client // the connection the command came in on
}

// inbound is a received command, copied out of the paho packet so the read
// loop can return at once.
type inbound struct {
	topic    string
	payload  []byte
	retain   bool
	qos      byte
	dest     destination
	expiry   *uint32 // remaining MQTT 5 message expiry, seconds
	received time.Time
	user     string // plate-resort-user as stamped by the embedded broker
	flowRun  string // plate-resort-flow-run set by the bridge
	// fleet: it came on <prefix>/_fleet/cmd/<name>, to every agent.
	fleet bool
	// seq orders commands by arrival: an emergency stop acts the moment it
	// arrives, so a reset or connect that arrived before it (and is still
	// waiting its turn) must not clear it.
	seq uint64
}

// inboxLimit bounds the commands waiting to be dispatched. paho
// acknowledges a QoS 1 command when the session has queued it, so a burst
// is never lost between broker and agent: every command in the inbox is
// answered. Beyond the limit a command is answered queue_full at once.
// (Flow control through the broker instead, a Receive Maximum with late
// acknowledgements, stalls mochi-mqtt v2.7.9 for good after a burst: its
// held messages never give their send quota back, docs/mqtt.md §5.)
const inboxLimit = 20000

// inbox is the queue from the session to the service. push never blocks.
type inbox struct {
	mu    sync.Mutex
	items []inbound
	wake  chan struct{}
}

func newInbox() *inbox { return &inbox{wake: make(chan struct{}, 1)} }

// push queues in, or reports false when the inbox is at its limit.
func (q *inbox) push(in inbound) bool {
	q.mu.Lock()
	if len(q.items) >= inboxLimit {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, in)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

// pop waits for the next command, or returns false when ctx ends.
func (q *inbox) pop(ctx context.Context) (inbound, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			in := q.items[0]
			q.items[0] = inbound{}
			q.items = q.items[1:]
			if len(q.items) == 0 {
				q.items = nil // let the backing array go after a burst
			}
			q.mu.Unlock()
			return in, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return inbound{}, false
		}
	}
}

// oldest is when the command waiting longest was received.
func (q *inbox) oldest() (time.Time, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return time.Time{}, false
	}
	return q.items[0].received, true
}

// len is the number of commands waiting.
func (q *inbox) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// onPublish runs on paho's routing goroutine: copy and hand off, never
// block (docs/mqtt.md §4: a slow handler stalls the connection).
func (s *session) onPublish(p *paho.Publish) { s.onPublishVia(p, nil) }

// onPublishVia is onPublish told the client of the connection p came in
// on: its reply goes out there while that connection lasts.
func (s *session) onPublishVia(p *paho.Publish, via *paho.Client) {
	in := inbound{topic: p.Topic, payload: append([]byte(nil), p.Payload...), retain: p.Retain, qos: p.QoS,
		received: time.Now(), seq: s.seq.Add(1)}
	in.dest.via = via
	if p.Properties != nil {
		in.dest.responseTopic = p.Properties.ResponseTopic
		in.dest.correlation = append([]byte(nil), p.Properties.CorrelationData...)
		if p.Properties.MessageExpiry != nil {
			v := *p.Properties.MessageExpiry
			in.expiry = &v
		}
		in.user = p.Properties.User.Get(contract.UserProperty)
		in.flowRun = p.Properties.User.Get(contract.FlowRunProperty)
	}
	if in.topic == contract.HAStatus(s.cfg.HomeAssistant.Prefix) {
		// Not a command: Home Assistant restarted and needs discovery and
		// state again. Telemetry does that on its own goroutine.
		if strings.TrimSpace(string(in.payload)) == "online" && s.cfg.HomeAssistant.Enabled {
			s.haOnline()
		}
		return
	}
	if strings.HasPrefix(in.topic, contract.FleetCommand(s.topics.Prefix, "")) {
		// Only the fleet topics subscribed in birth.go arrive here; any
		// other name is answered unknown_command like a device topic.
		in.fleet = true
	}
	if !in.retain && (in.topic == s.topics.Command(contract.EmergencyStop) || in.topic == contract.FleetCommand(s.topics.Prefix, contract.EmergencyStop)) {
		// An emergency stop, this device's or the fleet's, never waits
		// behind anything, not even the inbox: it acts now, on a
		// goroutine of its own.
		go s.urgent(in)
		return
	}
	if !s.inbox.push(in) {
		go s.busy(in)
	}
}
