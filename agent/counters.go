package agent

import (
	"sync"
	"sync/atomic"

	"github.com/plate-resort/plate-resort/contract"
)

// counters are the command counters health reports. The service counts
// commands; the session and the outbox count what they had to drop.
type counters struct {
	mu       sync.Mutex
	received uint64
	ok       uint64
	failed   uint64
	byCode   map[contract.Code]uint64
	dropped  atomic.Uint64
}

func (c *counters) receive() {
	c.mu.Lock()
	c.received++
	c.mu.Unlock()
}

// count records one reply: ok when e is nil, else failed under its code.
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

func (c *counters) drop() { c.dropped.Add(1) }

func (c *counters) snapshot() contract.Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	by := map[contract.Code]uint64{}
	for k, v := range c.byCode {
		by[k] = v
	}
	return contract.Counters{Received: c.received, OK: c.ok, Error: c.failed, ByCode: by, Dropped: c.dropped.Load()}
}
