package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// correlator matches MQTT 5 replies to requests by Correlation Data. It is
// ours rather than paho's rpc extension (docs/mqtt.md §3): that one subscribes
// once and never again after a reconnect, and drops a reply that arrives
// before the requester is waiting. Here every request gets a channel with
// room for one reply before it is published, so an early reply waits.
type correlator struct {
	mu      sync.Mutex
	pending map[string]chan []byte
}

func newCorrelator() *correlator { return &correlator{pending: map[string]chan []byte{}} }

// maxCorrelation bounds what we accept as Correlation Data: ours are 32 hex
// characters; anything longer is not ours.
const maxCorrelation = 64

// register returns a fresh correlation key and the channel its reply will
// arrive on. Call done(key) when no longer waiting.
func (c *correlator) register() (string, <-chan []byte) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	key := hex.EncodeToString(b[:])
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.pending[key] = ch
	c.mu.Unlock()
	return key, ch
}

// done forgets key.
func (c *correlator) done(key string) {
	c.mu.Lock()
	delete(c.pending, key)
	c.mu.Unlock()
}

// deliver hands payload to the request waiting on corr. It never blocks (it
// runs on paho's read goroutine): a second reply for the same key, or one for
// a key nobody waits for, is dropped and reported as false.
func (c *correlator) deliver(corr []byte, payload []byte) bool {
	if len(corr) == 0 || len(corr) > maxCorrelation {
		return false
	}
	c.mu.Lock()
	ch, ok := c.pending[string(corr)]
	c.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case ch <- payload:
		return true
	default:
		return false
	}
}

// waiting is the number of requests waiting for a reply.
func (c *correlator) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}
