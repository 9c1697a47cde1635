package agent

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

// live is what telemetry publishes from and is woken by: the last position
// the driver read, the target of the current move, and the wake-ups the
// other parts send when something changed. Every method returns at once, so
// neither the driver's reads nor the command service wait for a publish.
type live struct {
	mu     sync.Mutex
	pos    *xseries.Degrees
	target *contract.Target
	hotel  string // of the move about to start (expectHotel)

	state    chan struct{} // state may have changed
	health   chan struct{} // health may have changed
	identity chan struct{} // the servo was (re)identified: info and discovery are stale
	force    atomic.Bool   // publish the next state even if it did not change
}

func newLive() *live {
	return &live{state: make(chan struct{}, 1), health: make(chan struct{}, 1), identity: make(chan struct{}, 1)}
}

// observe receives every position the driver reads. Whether the carousel
// is moving comes from the executor (a move is running), not from here.
// Only a new position wakes telemetry: a get_position of a carousel at
// rest would otherwise cost a state snapshot and its JSON per command.
func (l *live) observe(pos xseries.Degrees, _ bool) {
	l.mu.Lock()
	same := l.pos != nil && *l.pos == pos
	l.pos = &pos
	l.mu.Unlock()
	if !same {
		l.stateChanged()
	}
}

// expectHotel names the hotel of the move about to be asked of the driver
// ("" for an angle). The target itself is set only when the driver says
// the move started (moveStarted): a move refused before it starts (e-stop
// latched, not connected) must not show in state as a target.
func (l *live) expectHotel(hotel string) {
	l.mu.Lock()
	l.hotel = hotel
	l.mu.Unlock()
}

// moveStarted is the driver's Started callback.
func (l *live) moveStarted(angle xseries.Degrees) {
	l.mu.Lock()
	t := &contract.Target{Angle: math.Round(float64(angle)*100) / 100}
	if l.hotel != "" {
		h := l.hotel
		t.Hotel = &h
	}
	l.target, l.hotel = t, ""
	l.mu.Unlock()
	l.stateChanged()
}

func (l *live) read() (*xseries.Degrees, *contract.Target) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pos, l.target
}

func (l *live) stateChanged()    { kick(l.state) }
func (l *live) healthChanged()   { kick(l.health) }
func (l *live) identityChanged() { kick(l.identity) }

// republish makes state and health go out again, unchanged or not (a new
// connection, Home Assistant back): retained values may have been lost.
func (l *live) republish() {
	l.force.Store(true)
	kick(l.state)
	kick(l.health)
}

// kick wakes a loop without blocking; wake-ups pending together merge.
func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
