package eventlog

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/plate-resort/plate-resort/contract"
)

var t0 = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)

func ev(i int, typ string) contract.Event {
	return contract.Event{Type: typ, At: t0.Add(time.Duration(i) * time.Second), ID: fmt.Sprintf("e%d", i), Command: contract.GoHome}
}

// The ring keeps the newest size events across close and reopen, oldest
// first, and a type filter still returns up to limit of that type.
func TestRingBoundedAndSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.events")
	l, err := Open(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		typ := contract.EventCommandStarted
		if i%5 == 0 {
			typ = contract.EventEStop
		}
		if _, err := l.Append([]contract.Event{ev(i, typ)}); err != nil {
			t.Fatal(err)
		}
	}
	if l.Len() != 10 {
		t.Fatalf("Len = %d, want 10", l.Len())
	}
	_ = l.Close()
	l, err = Open(path, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, bad, err := l.Last(1000, "")
	if err != nil || bad != 0 {
		t.Fatal(err, bad)
	}
	if len(got) != 10 || got[0].ID != "e15" || got[9].ID != "e24" {
		t.Fatalf("after reopen: %d events, first %q last %q; want e15..e24", len(got), got[0].ID, got[len(got)-1].ID)
	}
	got, _, _ = l.Last(3, "")
	if len(got) != 3 || got[0].ID != "e22" || got[2].ID != "e24" {
		t.Fatalf("Last(3) = %+v", got)
	}
	got, _, _ = l.Last(50, contract.EventEStop)
	if len(got) != 2 || got[0].ID != "e15" || got[1].ID != "e20" {
		t.Fatalf("estops = %+v, want e15, e20", got)
	}
	// New events continue the sequence after a reopen (not overwrite).
	if _, err := l.Append([]contract.Event{ev(99, contract.EventReset)}); err != nil {
		t.Fatal(err)
	}
	got, _, _ = l.Last(2, "")
	if got[1].ID != "e99" || got[0].ID != "e24" {
		t.Fatalf("after append: %+v", got)
	}
	// A lower bound on the next open trims at once.
	_ = l.Close()
	l2, err := Open(path, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if got, _, _ := l2.Last(1000, ""); l2.Len() != 4 || len(got) != 4 || got[0].ID != "e22" {
		t.Fatalf("reopened with size 4: Len %d, %+v", l2.Len(), got)
	}
}

// A batch bigger than the ring keeps its newest part; an oversized event
// is skipped, not stored.
func TestBatchLargerThanRing(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "x.events"), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var batch []contract.Event
	for i := range 30 {
		batch = append(batch, ev(i, contract.EventCommandFinished))
	}
	huge := ev(100, contract.EventWarning)
	huge.Message = strings.Repeat("x", contract.MaxEvent)
	batch = append(batch, huge)
	skipped, err := l.Append(batch)
	if err != nil || skipped != 1 {
		t.Fatalf("skipped %d, err %v; want 1, nil", skipped, err)
	}
	got, _, _ := l.Last(100, "")
	if len(got) != 10 || got[0].ID != "e20" || got[9].ID != "e29" {
		t.Fatalf("got %d, first %v", len(got), got[0].ID)
	}
}

// A corrupt file is moved aside with its name in the error log and a new
// ring starts; what cannot be helped by moving (a directory in the way) is
// an error naming the path.
func TestCorruptAndUnusableFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.events")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a bbolt file\n", 2000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, 10); err == nil {
		t.Fatal("Open accepted a garbage file")
	}
	l, moved, err := OpenOrRecover(path, 10, t0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if moved != path+".corrupt-"+fmt.Sprint(t0.Unix()) {
		t.Fatalf("moved = %q", moved)
	}
	if b, err := os.ReadFile(moved); err != nil || !strings.HasPrefix(string(b), "not a bbolt file") {
		t.Fatalf("the corrupt file was not kept: %v", err)
	}
	if _, err := l.Append([]contract.Event{ev(1, contract.EventLinkUp)}); err != nil {
		t.Fatal(err)
	}
	// A truncated file (a few bytes) is corrupt too.
	short := filepath.Join(dir, "short.events")
	_ = os.WriteFile(short, []byte{1, 2, 3}, 0o600)
	if l3, moved, err := OpenOrRecover(short, 10, t0); err != nil || moved == "" {
		t.Fatalf("truncated file: moved %q, err %v", moved, err)
	} else {
		_ = l3.Close()
	}

	blocked := filepath.Join(dir, "blocked.events")
	if err := os.Mkdir(blocked, 0o700); err != nil {
		t.Fatal(err)
	}
	_, moved, err = OpenOrRecover(blocked, 10, t0)
	if err == nil || moved != "" || !strings.Contains(err.Error(), blocked) {
		t.Fatalf("directory: moved %q, err %v; want an error naming the path and nothing moved", moved, err)
	}
	if _, err := os.Stat(blocked); err != nil {
		t.Fatal("the directory was moved")
	}
}

// A record that does not decode (damage inside a sound file) is skipped
// and counted, and the others are still served.
func TestUnreadableRecordSkipped(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "x.events"), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, _ = l.Append([]contract.Event{ev(1, contract.EventEStop), ev(2, contract.EventReset)})
	err = l.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketEvents).Put(key(1), []byte(`{"type":"nope"`)) })
	if err != nil {
		t.Fatal(err)
	}
	got, bad, err := l.Last(10, "")
	if err != nil || bad != 1 || len(got) != 1 || got[0].Type != contract.EventReset {
		t.Fatalf("got %+v bad %d err %v", got, bad, err)
	}
}

// Write cost of one event alone (one fsync) and in a batch of 256.
func BenchmarkAppend(b *testing.B) {
	for _, n := range []int{1, 256} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			l, err := Open(filepath.Join(b.TempDir(), "x.events"), 10000)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			batch := make([]contract.Event, n)
			for i := range batch {
				batch[i] = ev(i, contract.EventCommandFinished)
				batch[i].User, batch[i].FlowRunID = "alice", "0b6f0a36-7c1e-4c43-9f0e-1f2b3c4d5e6f"
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := l.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}
