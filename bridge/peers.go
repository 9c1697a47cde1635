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
//
// A bridge that is alone in its pool has nobody to race, so it skips the
// claim check's settle and re-reads (run.go), which are most of what it adds
// to a run's latency over Prefect's own floor. "Alone" must hold in every
// bridge's view at once, or one bridge skips the check while another claims
// the same run. So (docs/prefect.md §4, "Claiming"):
//   - a bridge is alone only on a fresh worker list (read under
//     peersMaxAge ago) naming no other ONLINE worker, and only once it has
//     itself been in the list for joinDelay;
//   - a bridge that sees others and joined less than joinDelay ago claims
//     nothing (but overdue runs): by then every other bridge, refreshing
//     every peersRefresh, lists it and has left the alone mode;
//   - a bridge that stops cleanly deletes its worker record (register.go),
//     so the others see it gone at once instead of after Prefect's
//     inactivity timeout.
type peers struct {
	self     string
	takeover time.Duration

	mu      sync.Mutex
	online  []string
	updated time.Time // when the read behind online was sent
	joined  time.Time // since when every read listed us ONLINE; zero: not listed
}

// peersRefresh is how often the worker list is read (refreshLoop);
// peersMaxAge is how old it may be for a bridge to count itself alone;
// joinDelay is how long a bridge waits, once listed, before it claims next
// to others: more than peersMaxAge, so every other bridge's fresh list
// names it by then.
const (
	peersRefresh = 1500 * time.Millisecond
	peersMaxAge  = 3 * time.Second
	joinDelay    = peersMaxAge + 2*time.Second
)

func newPeers(self string, takeover time.Duration) *peers {
	return &peers{self: self, takeover: takeover, online: []string{self}}
}

// update takes the pool's workers from Prefect, read by a request sent at
// sent; a worker is live when Prefect says ONLINE. We always count
// ourselves.
func (p *peers) update(ws []prefect.Worker, sent time.Time) {
	names := []string{p.self}
	listed := false
	for _, w := range ws {
		if w.Status != "ONLINE" {
			continue
		}
		if w.Name == p.self {
			listed = true
			continue
		}
		names = append(names, w.Name)
	}
	slices.Sort(names)
	p.mu.Lock()
	defer p.mu.Unlock()
	if sent.Before(p.updated) {
		return // an older read answered late
	}
	p.online, p.updated = names, sent
	switch {
	case !listed:
		p.joined = time.Time{}
	case p.joined.IsZero():
		p.joined = sent
	}
}

// alone says whether this bridge may claim without the settle check: the
// pool's fresh worker list names nobody else, and we have been listed for
// joinDelay (see peers).
func (p *peers) alone(now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.online) == 1 && now.Sub(p.updated) <= peersMaxAge &&
		!p.joined.IsZero() && now.Sub(p.joined) >= joinDelay
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
	overdue := !due.IsZero() && now.Sub(due) > p.takeover
	p.mu.Lock()
	// Joined a moment ago next to others: they may not list us yet, and
	// one of them may be claiming alone (see peers).
	newcomer := len(p.online) > 1 && (p.joined.IsZero() || now.Sub(p.joined) < joinDelay)
	p.mu.Unlock()
	if newcomer {
		return overdue
	}
	return p.preferred(id) == p.self || overdue
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
		if s := fmix64(h.Sum64()); best == "" || s > bestScore {
			best, bestScore = w, s
		}
	}
	return best
}

// fmix64 is MurmurHash3's 64-bit finaliser (public domain, Austin
// Appleby): FNV-1a alone leaves two worker names that differ in one byte
// ordered the same way for runs of similar ids (all 200 of "run-0" …
// "run-199" went to one of two bridges); the finaliser spreads every input
// bit over the score.
func fmix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
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
