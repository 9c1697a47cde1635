package agent

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eclipse/paho.golang/autopaho"
	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"
)

// publisher publishes on the session's current connection: the one way out
// to the broker, for replies (through the outbox) and for telemetry.
type publisher struct {
	log zerolog.Logger
	cm  atomic.Pointer[autopaho.ConnectionManager]
	// conn is the current connection's life: it is cancelled when the
	// connection publishes go out on is lost. A QoS 1 publish waiting for
	// its PUBACK then gives up at once: paho forgets it on the next
	// connection without answering its waiter
	// (paho/session/state/state.go: connectionLost and ConAckReceived call
	// clean, which drops the in-flight map and signals nobody), so it
	// would otherwise hold the outbox or a telemetry loop for the whole
	// timeout after a failover (docs/mqtt.md §4).
	conn atomic.Pointer[connLife]
	// connMu orders every publish against the loss of the connection:
	// publishes hold it for reading, disconnected takes it for writing
	// before autopaho makes the next connection. So no reply is handed to
	// a client whose connection is gone once a new one can be made (paho's
	// session outlives a connection: a publish added to it through the old
	// client would be written to the closed socket and hold a send-quota
	// slot on the new connection for nothing), and paho v0.23.0's read of
	// the send quota outside its lock (AddToSession, docs/mqtt.md §4) is
	// ordered before the next connection's ConAckReceived replaces it (a
	// data race under -race otherwise).
	connMu sync.RWMutex
	// direct lets one caller at a time publish a reply on its own
	// goroutine (now): a read's reply skips the hand-off to the outbox,
	// and a stalled broker can hold at most that one caller.
	direct sync.Mutex
}

// connLife is one connection's context: done when the connection is lost.
type connLife struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// connected is called when a connection is up: publishes from now on are
// abandoned when it is lost.
func (p *publisher) connected() {
	ctx, cancel := context.WithCancel(context.Background())
	if old := p.conn.Swap(&connLife{ctx: ctx, cancel: cancel}); old != nil {
		old.cancel()
	}
}

// disconnected abandons every publish waiting on the lost connection, and
// waits for those to return (see connMu): autopaho calls it after that
// client has shut down, so they return at once.
func (p *publisher) disconnected() {
	if old := p.conn.Swap(nil); old != nil {
		old.cancel()
	}
	p.connMu.Lock()
	defer p.connMu.Unlock()
}

// reply publishes one reply (or event) from the outbox: on the connection
// its command came in on when that one is still up, as sendVia does, or
// else as publish does.
func (p *publisher) reply(ctx context.Context, m outbound) {
	if p.sendVia(ctx, m) {
		return
	}
	_ = p.send(ctx, m.topic, m.payload, false, m.props)
}

// directWait bounds how long now waits for a send quota (the broker's
// Receive Maximum, MQTT 5.0 §3.3.4) before the reply goes to the outbox.
const directWait = 100 * time.Millisecond

// now publishes a reply on the caller's goroutine, as sendVia does, when
// no other caller is doing so; false leaves it to the outbox.
func (p *publisher) now(m outbound) bool {
	if m.via == nil || !p.direct.TryLock() {
		return false
	}
	defer p.direct.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), directWait)
	defer cancel()
	return p.sendVia(ctx, m)
}

// sendVia hands a reply to the client of the connection its command came
// in on, at QoS 1, without waiting for the PUBACK (paho's AsyncSend: the
// message is in paho's session, which ends the exchange when the PUBACK
// arrives, MQTT 5.0 §4.3.2). Waiting for each PUBACK parked the outbox
// twice per command, to be woken by paho's reader each time; the price is
// that a broker's refusal in a PUBACK (reason code 0x80 or more, MQTT 5.0
// §3.4.2.1) is no longer logged. It reports false, having sent nothing,
// when that connection is gone or the message could not be added to the
// session (no connection, no send quota before ctx ended).
func (p *publisher) sendVia(ctx context.Context, m outbound) bool {
	if m.via == nil {
		return false
	}
	p.connMu.RLock()
	defer p.connMu.RUnlock()
	select {
	case <-m.via.Done():
		return false
	default:
	}
	_, err := m.via.PublishWithOptions(ctx, &paho.Publish{Topic: m.topic, QoS: 1, Payload: m.payload, Properties: m.props},
		paho.PublishOptions{Method: paho.PublishMethod_AsyncSend})
	switch {
	case err == nil:
		return true
	case errors.Is(err, paho.ErrNetworkErrorAfterStored):
		// In the session but not written: the connection broke under it.
		// paho sends it again only if this session resumes (docs/mqtt.md §4).
		p.log.Warn().Err(err).Str("topic", m.topic).Msg("publish failed")
		return true
	}
	return false
}

// use records the connection manager to publish through.
func (p *publisher) use(cm *autopaho.ConnectionManager) { p.cm.Store(cm) }

// publish sends one message at QoS 1, logging failures: telemetry is
// republished on the next change or connect, so nothing is queued.
// It returns the failure, so a caller that skips unchanged messages knows
// this one did not get out.
func (p *publisher) publish(ctx context.Context, topic string, payload []byte, retain bool) error {
	return p.send(ctx, topic, payload, retain, nil)
}

func (p *publisher) send(ctx context.Context, topic string, payload []byte, retain bool, props *paho.PublishProperties) error {
	cm := p.cm.Load()
	if cm == nil {
		p.log.Warn().Str("topic", topic).Msg("publish skipped: no MQTT connection yet")
		return errors.New("no MQTT connection yet")
	}
	p.connMu.RLock()
	defer p.connMu.RUnlock()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if c := p.conn.Load(); c != nil {
		// A callback (context.AfterFunc), not a goroutine per publish
		// that is started and woken again for every message.
		stop := context.AfterFunc(c.ctx, cancel)
		defer stop()
	}
	_, err := cm.Publish(pctx, &paho.Publish{Topic: topic, QoS: 1, Retain: retain, Payload: payload, Properties: props})
	if err != nil {
		p.log.Warn().Err(err).Str("topic", topic).Msg("publish failed")
	}
	return err
}
