package bridge

import (
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// peers decides which bridge of a pool claims a run. Prefect does not
// serialise claims: with two workers polling one pool it accepts PENDING
// for both, even 80 ms apart, and both run the flow (seen on 3.8.8 with
// SQLite). So the live workers share the runs out among themselves by
// rendezvous hashing of the run id over the pool's ONLINE workers (from
// the heartbeat's worker list): each run has one preferred bridge, the
// others leave it alone unless it is still unclaimed after takeover (that
// bridge is stuck or gone). The claim check in run.go backs this up.
type peers struct {
	self     string
	takeover time.Duration

	mu      sync.Mutex
	online  []string
	updated time.Time
}

func newPeers(self string, takeover time.Duration) *peers {
	return &peers{self: self, takeover: takeover, online: []string{self}}
}

// update takes the pool's workers from Prefect; a worker is live when
// Prefect says ONLINE. We always count ourselves.
func (p *peers) update(ws []prefect.Worker) {
	names := []string{p.self}
	for _, w := range ws {
		if w.Status == "ONLINE" && w.Name != p.self {
			names = append(names, w.Name)
		}
	}
	slices.Sort(names)
	p.mu.Lock()
	p.online, p.updated = names, time.Now()
	p.mu.Unlock()
}

// stale says whether the worker list is older than maxAge.
func (p *peers) stale(maxAge time.Duration) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Since(p.updated) > maxAge
}

// mayClaim says whether this bridge should claim run id now: it is the
// run's preferred bridge, or the run has waited past takeover since it was
// due (the preferred one is not taking it).
func (p *peers) mayClaim(id string, due time.Time, now time.Time) bool {
	if p.preferred(id) == p.self {
		return true
	}
	return !due.IsZero() && now.Sub(due) > p.takeover
}

func (p *peers) preferred(id string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	best, bestScore := "", uint64(0)
	for _, w := range p.online {
		h := fnv.New64a()
		_, _ = h.Write([]byte(w))
		_, _ = h.Write([]byte{0})
		_, _ = h.Write([]byte(id))
		if s := h.Sum64(); best == "" || s > bestScore {
			best, bestScore = w, s
		}
	}
	return best
}

// due is when a run should start: its expected start, else its creation.
func due(fr prefect.FlowRun) time.Time {
	if fr.ExpectedStartTime != nil {
		return *fr.ExpectedStartTime
	}
	if fr.NextScheduledStartTime != nil {
		return *fr.NextScheduledStartTime
	}
	return fr.Created
}
