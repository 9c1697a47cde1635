// Package journal is the agent's durable memory of command ids: which
// command an id named, whether it ran, and the reply it got. It lets the
// agent keep its promise that a repeated id is never executed twice within
// the dedupe window, across restarts and however many other commands come
// in between. Entries leave by age only; at the hard cap new ids are
// refused rather than old ones forgotten early.
package journal

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// ErrFull is returned by Begin when the journal holds its maximum number of
// ids, all younger than the window.
var ErrFull = errors.New("dedupe journal full")

var (
	bucketIDs  = []byte("ids")     // id -> Entry (JSON)
	bucketTime = []byte("by_time") // 8-byte big-endian unix nanos + id -> id
	bucketLock = []byte("lock")    // keyLock -> Lock (JSON), absent when unlocked
	keyLock    = []byte("lock")
)

// Lock is the carousel's lock as the journal keeps it across restarts:
// an agent that restarts while a flow holds the lock must not let another
// caller move plates the flow was in the middle of using.
type Lock struct {
	ID        string    `json:"lock_id"`
	Owner     string    `json:"owner"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Entry is what the journal knows about one id.
type Entry struct {
	ID      string    `json:"id"`
	Command string    `json:"command"`
	At      time.Time `json:"at"` // began, or finished once Done
	Done    bool      `json:"done"`
	// Interrupted marks a command that was running when the agent stopped
	// without finishing it: its outcome is unknown, and it is never re-run.
	Interrupted bool            `json:"interrupted,omitempty"`
	Reply       json.RawMessage `json:"reply,omitempty"`
}

// Journal is a bbolt file of entries. It is safe for concurrent use.
type Journal struct {
	db     *bbolt.DB
	window time.Duration
	max    int

	mu    sync.Mutex
	count int
}

// Open opens (creating it and its directory) the journal at path, keeping
// ids for window, at most max of them. Entries still running from a
// previous process become Interrupted and are returned, so the agent can
// report them; entries older than window are dropped.
func Open(path string, window time.Duration, max int, now time.Time) (*Journal, []Entry, error) {
	if window <= 0 || max <= 0 {
		return nil, nil, fmt.Errorf("journal: window %v and max %d must be positive", window, max)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, nil, fmt.Errorf("journal: %w", err)
	}
	// The timeout turns a second agent on the same file into an error
	// instead of a hang.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	j := &Journal{db: db, window: window, max: max}
	var interrupted []Entry
	err = db.Update(func(tx *bbolt.Tx) error {
		ids, err := tx.CreateBucketIfNotExists(bucketIDs)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketTime); err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketLock); err != nil {
			return err
		}
		var running []Entry
		err = ids.ForEach(func(_, v []byte) error {
			var e Entry
			if json.Unmarshal(v, &e) == nil && !e.Done {
				running = append(running, e)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, e := range running {
			e.Done, e.Interrupted = true, true
			if err := put(tx, e, e.At); err != nil {
				return err
			}
			interrupted = append(interrupted, e)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if _, err := j.Prune(now); err != nil {
		_ = db.Close()
		return nil, nil, err
	}
	return j, interrupted, nil
}

// Lookup returns the entry of id, if the journal holds one.
func (j *Journal) Lookup(id string) (Entry, bool, error) {
	var e Entry
	found := false
	err := j.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketIDs).Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &e)
	})
	if err != nil {
		return Entry{}, false, fmt.Errorf("journal lookup: %w", err)
	}
	return e, found, nil
}

// Begin records that id (for command) starts now. It is durable (fsync)
// before it returns, so a command that moves the carousel is on disk before
// it runs. At the cap it prunes by age first, then refuses with ErrFull.
func (j *Journal) Begin(id, command string, now time.Time) error {
	j.mu.Lock()
	full := j.count >= j.max
	j.mu.Unlock()
	if full {
		if _, err := j.Prune(now); err != nil {
			return err
		}
		j.mu.Lock()
		full = j.count >= j.max
		j.mu.Unlock()
		if full {
			return fmt.Errorf("%w: %d command ids within the dedupe window (at most %d)", ErrFull, j.max, j.max)
		}
	}
	err := j.db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketIDs).Get([]byte(id)) != nil {
			return fmt.Errorf("journal: id %q already recorded", id)
		}
		return put(tx, Entry{ID: id, Command: command, At: now}, time.Time{})
	})
	if err != nil {
		return fmt.Errorf("journal begin: %w", err)
	}
	j.add(1)
	return nil
}

// Finish stores the reply of id, which is kept for the window from now.
func (j *Journal) Finish(id string, reply json.RawMessage, now time.Time) error {
	return j.db.Update(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketIDs).Get([]byte(id))
		if v == nil {
			return fmt.Errorf("journal: finish of unknown id %q", id)
		}
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		old := e.At
		e.Done, e.Reply, e.At = true, reply, now
		return put(tx, e, old)
	})
}

// Forget removes id: a command that never started (refused, expired or
// dropped from the queue) may be sent again with the same id.
func (j *Journal) Forget(id string) error {
	found := false
	err := j.db.Update(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketIDs).Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return err
		}
		if err := tx.Bucket(bucketTime).Delete(timeKey(e.At, id)); err != nil {
			return err
		}
		return tx.Bucket(bucketIDs).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("journal forget: %w", err)
	}
	if found {
		j.add(-1)
	}
	return nil
}

// Prune drops finished entries older than the window; running ones stay.
func (j *Journal) Prune(now time.Time) (int, error) {
	cutoff := now.Add(-j.window)
	n := 0
	err := j.db.Update(func(tx *bbolt.Tx) error {
		ids, byTime := tx.Bucket(bucketIDs), tx.Bucket(bucketTime)
		c := byTime.Cursor()
		var stale [][2][]byte
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(k) < 8 || int64(binary.BigEndian.Uint64(k[:8])) > cutoff.UnixNano() {
				break
			}
			stale = append(stale, [2][]byte{append([]byte(nil), k...), append([]byte(nil), v...)})
		}
		for _, kv := range stale {
			var e Entry
			if raw := ids.Get(kv[1]); raw != nil && json.Unmarshal(raw, &e) == nil && !e.Done {
				continue
			}
			if err := byTime.Delete(kv[0]); err != nil {
				return err
			}
			if err := ids.Delete(kv[1]); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("journal prune: %w", err)
	}
	// Counted after the commit: a bucket's statistics inside a write
	// transaction do not see its pending deletes.
	err = j.db.View(func(tx *bbolt.Tx) error {
		j.mu.Lock()
		j.count = tx.Bucket(bucketIDs).Stats().KeyN
		j.mu.Unlock()
		return nil
	})
	return n, err
}

// SaveLock records l (fsynced before it returns), or clears the record
// when l is nil.
func (j *Journal) SaveLock(l *Lock) error {
	err := j.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLock)
		if l == nil {
			return b.Delete(keyLock)
		}
		v, err := json.Marshal(l)
		if err != nil {
			return err
		}
		return b.Put(keyLock, v)
	})
	if err != nil {
		return fmt.Errorf("journal lock: %w", err)
	}
	return nil
}

// LoadLock returns the recorded lock, or nil when none is recorded.
func (j *Journal) LoadLock() (*Lock, error) {
	var l *Lock
	err := j.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketLock).Get(keyLock)
		if v == nil {
			return nil
		}
		l = &Lock{}
		return json.Unmarshal(v, l)
	})
	if err != nil {
		return nil, fmt.Errorf("journal lock: %w", err)
	}
	return l, nil
}

// Len is the number of ids held.
func (j *Journal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.count
}

// Close closes the file.
func (j *Journal) Close() error { return j.db.Close() }

func (j *Journal) add(d int) {
	j.mu.Lock()
	j.count += d
	j.mu.Unlock()
}

// put writes e, moving its time index from old (zero: a new entry).
func put(tx *bbolt.Tx, e Entry, old time.Time) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ids, byTime := tx.Bucket(bucketIDs), tx.Bucket(bucketTime)
	if !old.IsZero() {
		if err := byTime.Delete(timeKey(old, e.ID)); err != nil {
			return err
		}
	}
	if err := byTime.Put(timeKey(e.At, e.ID), []byte(e.ID)); err != nil {
		return err
	}
	return ids.Put([]byte(e.ID), v)
}

func timeKey(t time.Time, id string) []byte {
	k := make([]byte, 8, 8+len(id))
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano()))
	return append(k, id...)
}
