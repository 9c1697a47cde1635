// Package eventlog is the agent's on-disk history: a bounded ring of the
// events it published on <base>/event, kept in a bbolt file of its own so
// get_events can answer "who moved the carousel at 14:02" after a restart.
// It is history, not safety: unlike the dedupe journal, a corrupt file is
// moved aside and a new one started, and the agent runs on without it if
// even that fails.
package eventlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"github.com/plate-resort/plate-resort/contract"
)

var bucketEvents = []byte("events") // 8-byte big-endian sequence -> event JSON

// Log is a bounded ring of events in a bbolt file. It is safe for
// concurrent use.
type Log struct {
	db   *bbolt.DB
	size int

	mu    sync.Mutex
	seq   uint64 // last sequence written
	count int
}

// Open opens (creating it and its directory) the ring at path, keeping at
// most size events.
func Open(path string, size int) (*Log, error) {
	if size <= 0 {
		return nil, fmt.Errorf("event log: size %d must be positive", size)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("event log: %w", err)
	}
	// The timeout turns a second agent on the same file into an error
	// instead of a hang (as for the journal).
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("event log %s: %w", path, err)
	}
	l := &Log{db: db, size: size}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketEvents)
		if err != nil {
			return err
		}
		if k, _ := b.Cursor().Last(); len(k) == 8 {
			l.seq = binary.BigEndian.Uint64(k)
		}
		l.count = b.Stats().KeyN
		return nil
	})
	if err == nil && l.count > size {
		err = l.db.Update(l.trim) // events_size was lowered since the last run
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("event log %s: %w", path, err)
	}
	return l, nil
}

// OpenOrRecover opens the ring at path; when the file is there but not a
// readable bbolt file (garbage, truncated, another format), it is renamed
// to <path>.corrupt-<unix time> and a new ring is started. moved is that
// new name ("" when nothing was moved). A file that cannot be opened for
// other reasons (permissions, a directory, another agent holding it) is an
// error: moving it would not help and might hide the real problem.
func OpenOrRecover(path string, size int, now time.Time) (l *Log, moved string, err error) {
	l, err = Open(path, size)
	if err == nil {
		return l, "", nil
	}
	fi, serr := os.Stat(path)
	if serr != nil || !fi.Mode().IsRegular() || errors.Is(err, bbolt.ErrTimeout) || errors.Is(err, fs.ErrPermission) {
		return nil, "", err
	}
	moved = fmt.Sprintf("%s.corrupt-%d", path, now.Unix())
	if rerr := os.Rename(path, moved); rerr != nil {
		return nil, "", fmt.Errorf("%w (and moving it aside failed: %v)", err, rerr)
	}
	l, err2 := Open(path, size)
	if err2 != nil {
		return nil, moved, fmt.Errorf("%w; a new file after moving it to %s failed too: %v", err, moved, err2)
	}
	return l, moved, nil
}

// Append writes evs in one transaction (one fsync) and drops the oldest
// beyond the bound. An event that cannot be encoded, or is bigger than
// contract.MaxEvent, is skipped and counted in skipped.
func (l *Log) Append(evs []contract.Event) (skipped int, err error) {
	vals := make([][]byte, 0, len(evs))
	for _, ev := range evs {
		v, err := json.Marshal(ev)
		if err != nil || len(v) > contract.MaxEvent {
			skipped++
			continue
		}
		vals = append(vals, v)
	}
	if len(vals) == 0 {
		return skipped, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	seq, count, before := l.seq, l.count, l.count
	err = l.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		for _, v := range vals {
			seq++
			if err := b.Put(key(seq), v); err != nil {
				return err
			}
			count++
		}
		l.count = count
		return l.trim(tx)
	})
	if err != nil {
		l.count = before // nothing of this batch was committed
		return skipped, fmt.Errorf("event log append: %w", err)
	}
	l.seq = seq
	return skipped, nil
}

// trim deletes the oldest events beyond the bound; l.count is the number
// held before it runs.
func (l *Log) trim(tx *bbolt.Tx) error {
	b := tx.Bucket(bucketEvents)
	c := b.Cursor()
	for l.count > l.size {
		k, _ := c.First()
		if k == nil {
			break
		}
		// First again on every turn: a bbolt cursor's Next after Delete
		// skips an entry.
		if err := c.Delete(); err != nil {
			return err
		}
		l.count--
	}
	return nil
}

// Last returns up to limit of the newest events (of type typ, when not
// empty), oldest first by time. Records that no longer decode (a disk error inside
// an otherwise sound file) are skipped and counted in bad.
func (l *Log) Last(limit int, typ string) (evs []contract.Event, bad int, err error) {
	defer func() {
		// bbolt panics on a page it cannot make sense of; a damaged
		// history must fail get_events, not the agent.
		if p := recover(); p != nil {
			evs, err = nil, fmt.Errorf("event log damaged: %v", p)
		}
	}()
	err = l.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Last(); k != nil && len(evs) < limit; k, v = c.Prev() {
			ev, derr := contract.DecodeEvent(v)
			if derr != nil {
				bad++
				continue
			}
			if typ == "" || ev.Type == typ {
				evs = append(evs, ev)
			}
		}
		return nil
	})
	if err != nil {
		return nil, bad, fmt.Errorf("event log read: %w", err)
	}
	slices.Reverse(evs)
	// Stored in the order they were emitted; an event may carry an earlier
	// time than one emitted before it (a command's received time is its
	// arrival, told once it is accepted; an e-stop's history is told after
	// it acted), so oldest first means by time.
	slices.SortStableFunc(evs, func(a, b contract.Event) int { return a.At.Compare(b.At) })
	return evs, bad, nil
}

// Len is the number of events held.
func (l *Log) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}

// Close closes the file.
func (l *Log) Close() error { return l.db.Close() }

func key(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}
