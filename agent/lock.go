package agent

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent/journal"
	"github.com/plate-resort/plate-resort/contract"
)

// The carousel's lock (contract/lock.go), modelled on SiLA 2's
// LockController: lock takes it with a lock id and a timeout, every command
// that acts must then carry that lock_id, and the lock lapses by itself.
// The lock is kept in the journal (bbolt, fsynced) for its remaining time,
// so a restarted agent is still locked: a flow that was between two moves
// when the agent restarted must not find another caller's plates in the
// carousel. Emergency stops never look at it (estop.go acts first).

type lockHolder struct {
	log     zerolog.Logger
	changed func() // state changed: the lock appears in state

	mu      sync.Mutex
	id      string
	owner   string
	expires time.Time
	timer   *time.Timer
	store   *journal.Journal // nil until Run opened it
}

// restore takes the lock recorded in jr, if it has not expired.
func (h *lockHolder) restore(jr *journal.Journal, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.store = jr
	l, err := jr.LoadLock()
	switch {
	case err != nil:
		h.log.Error().Err(err).Msg("lock record unreadable; starting unlocked")
	case l == nil:
	case !now.Before(l.ExpiresAt):
		h.log.Info().Str("owner", l.Owner).Time("expired", l.ExpiresAt).Msg("lock expired while the agent was stopped")
		h.save(nil)
	default:
		h.id, h.owner, h.expires = l.ID, l.Owner, l.ExpiresAt
		h.arm(now)
		h.log.Warn().Str("owner", l.Owner).Time("expires", l.ExpiresAt).Msg("carousel still locked from before the restart")
	}
}

// held reports whether a lock is in force at now, dropping one that
// lapsed (the timer may not have fired yet). Called with mu held.
func (h *lockHolder) held(now time.Time) bool {
	if h.id == "" {
		return false
	}
	if now.Before(h.expires) {
		return true
	}
	h.clear()
	return false
}

// clear drops the lock, its timer and its record. Called with mu held.
func (h *lockHolder) clear() {
	h.id, h.owner, h.expires = "", "", time.Time{}
	if h.timer != nil {
		h.timer.Stop()
		h.timer = nil
	}
	h.save(nil)
}

func (h *lockHolder) save(l *journal.Lock) {
	if h.store == nil {
		return
	}
	if err := h.store.SaveLock(l); err != nil {
		h.log.Error().Err(err).Msg("lock not recorded in the journal; it will not survive a restart")
	}
}

// arm sets the expiry timer: the lock lapses by itself and state says so
// at once, not only at the next command. Called with mu held.
func (h *lockHolder) arm(now time.Time) {
	if h.timer != nil {
		h.timer.Stop()
	}
	id := h.id
	h.timer = time.AfterFunc(h.expires.Sub(now), func() {
		h.mu.Lock()
		lapsed := h.id == id && !time.Now().Before(h.expires)
		if lapsed {
			h.log.Info().Str("owner", h.owner).Msg("lock expired")
			h.clear()
		}
		h.mu.Unlock()
		if lapsed {
			h.changed()
		}
	})
}

// take locks (or renews the caller's own lock); another lock id while
// locked is refused with locked, as SiLA's ServerAlreadyLocked.
func (h *lockHolder) take(id, owner string, timeout time.Duration, now time.Time) (contract.LockResult, error) {
	h.mu.Lock()
	if h.held(now) && h.id != id {
		e := lockedErr(contract.Lock, h.owner, h.expires, true)
		h.mu.Unlock()
		return contract.LockResult{}, e
	}
	extended := h.id == id
	if !extended {
		h.id, h.owner = id, owner
	}
	h.expires = now.Add(timeout)
	h.save(&journal.Lock{ID: h.id, Owner: h.owner, ExpiresAt: h.expires})
	h.arm(now)
	r := contract.LockResult{Owner: h.owner, ExpiresAt: h.expires.UTC(), TimeoutS: timeout.Seconds(), Extended: extended}
	h.mu.Unlock()
	h.changed()
	return r, nil
}

// release unlocks with the lock's id; no lock is not an error (unlike
// SiLA's ServerNotLocked): a flow's final unlock after an expiry must not
// fail the flow.
func (h *lockHolder) release(id string, now time.Time) (contract.UnlockResult, error) {
	h.mu.Lock()
	if !h.held(now) {
		h.mu.Unlock()
		return contract.UnlockResult{WasLocked: false}, nil
	}
	if h.id != id {
		e := lockedErr(contract.Unlock, h.owner, h.expires, true)
		h.mu.Unlock()
		return contract.UnlockResult{}, e
	}
	r := contract.UnlockResult{WasLocked: true, Owner: h.owner}
	h.clear()
	h.mu.Unlock()
	h.changed()
	return r, nil
}

// force unlocks whatever lock is held (force_unlock, admin only).
func (h *lockHolder) force(now time.Time) contract.UnlockResult {
	h.mu.Lock()
	if !h.held(now) {
		h.mu.Unlock()
		return contract.UnlockResult{}
	}
	r := contract.UnlockResult{WasLocked: true, Owner: h.owner}
	h.log.Warn().Str("owner", h.owner).Msg("lock released by force_unlock")
	h.clear()
	h.mu.Unlock()
	h.changed()
	return r
}

// check refuses a command that needs the lock (contract.NeedsLock) while
// another holds it.
func (h *lockHolder) check(req *contract.Request, now time.Time) *contract.Error {
	if !contract.NeedsLock(req.Spec) {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.held(now) || req.LockID == h.id {
		return nil
	}
	return lockedErr(req.Command, h.owner, h.expires, req.LockID != "")
}

// state is the lock for <base>/state (never its id).
func (h *lockHolder) state(now time.Time) *contract.LockState {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.id == "" || !now.Before(h.expires) {
		return nil
	}
	return &contract.LockState{Owner: h.owner, ExpiresAt: h.expires.UTC()}
}

func lockedErr(cmd, owner string, expires time.Time, gaveID bool) *contract.Error {
	return contract.LockedError(cmd, owner, expires, gaveID)
}

// userKey carries the broker-stamped user of a command in its context.
type userKey struct{}

func commandUser(ctx context.Context) string {
	u, _ := ctx.Value(userKey{}).(string)
	if u == "" {
		return contract.LockOwnerUnknown
	}
	return u
}

// A refused lock or unlock never started: its id is forgotten, so it can be
// sent again once the other lock is gone.
func (s *service) doLock(ctx context.Context, req *contract.Request) (any, error) {
	secs, _ := req.Float("timeout_s")
	r, err := s.locks.take(req.LockID, commandUser(ctx), time.Duration(secs*float64(time.Second)), time.Now())
	if err != nil {
		return nil, notStarted{err}
	}
	return r, nil
}

func (s *service) doUnlock(_ context.Context, req *contract.Request) (any, error) {
	r, err := s.locks.release(req.LockID, time.Now())
	if err != nil {
		return nil, notStarted{err}
	}
	return r, nil
}

func (s *service) doForceUnlock(_ context.Context, _ *contract.Request) (any, error) {
	return s.locks.force(time.Now()), nil
}
