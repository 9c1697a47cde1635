package journal

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func open(t *testing.T, path string, window time.Duration, max int, now time.Time) (*Journal, []Entry) {
	t.Helper()
	j, in, err := Open(path, window, max, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = j.Close() })
	return j, in
}

// The reproduction of the bug: an id used once, then 1100 other ids, is
// still known; and it is still known after a restart.
func TestIDSurvivesManyOthersAndRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	now := time.Now()
	j, _ := open(t, path, 10*time.Minute, 100000, now)
	if err := j.Begin("X", "move_to_angle", now); err != nil {
		t.Fatal(err)
	}
	if err := j.Finish("X", json.RawMessage(`{"status":"ok"}`), now); err != nil {
		t.Fatal(err)
	}
	for i := range 1100 {
		id := fmt.Sprintf("r%d", i)
		if err := j.Begin(id, "reset", now); err != nil {
			t.Fatal(err)
		}
		if err := j.Finish(id, json.RawMessage(`{}`), now); err != nil {
			t.Fatal(err)
		}
	}
	if e, ok, err := j.Lookup("X"); err != nil || !ok || !e.Done || e.Command != "move_to_angle" || string(e.Reply) != `{"status":"ok"}` {
		t.Fatalf("X after 1100 others: %+v %v %v", e, ok, err)
	}
	if j.Len() != 1101 {
		t.Fatalf("Len %d, want 1101", j.Len())
	}
	_ = j.Close()
	j2, interrupted := open(t, path, 10*time.Minute, 100000, now.Add(time.Minute))
	if len(interrupted) != 0 {
		t.Fatalf("interrupted %v", interrupted)
	}
	if e, ok, _ := j2.Lookup("X"); !ok || !e.Done {
		t.Fatalf("X lost across a restart: %+v %v", e, ok)
	}
}

// A command running when the process died comes back Interrupted: known,
// done, with no reply, never to be run again.
func TestRunningBecomesInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	now := time.Now()
	j, _ := open(t, path, time.Minute, 10, now)
	if err := j.Begin("M", "move_to_angle", now); err != nil {
		t.Fatal(err)
	}
	_ = j.Close() // no Finish: the agent died mid-move
	j2, interrupted := open(t, path, time.Minute, 10, now)
	if len(interrupted) != 1 || interrupted[0].ID != "M" || !interrupted[0].Interrupted {
		t.Fatalf("interrupted %+v", interrupted)
	}
	if e, ok, _ := j2.Lookup("M"); !ok || !e.Done || !e.Interrupted {
		t.Fatalf("M after restart: %+v %v", e, ok)
	}
}

// Entries leave by age only: after the window, and not before; a running
// entry never.
func TestPruneByAgeOnly(t *testing.T) {
	now := time.Now()
	j, _ := open(t, filepath.Join(t.TempDir(), "j.db"), time.Minute, 10, now)
	_ = j.Begin("old", "reset", now)
	_ = j.Finish("old", nil, now)
	_ = j.Begin("running", "move_to_angle", now)
	_ = j.Begin("young", "reset", now.Add(50*time.Second))
	_ = j.Finish("young", nil, now.Add(50*time.Second))
	n, err := j.Prune(now.Add(61 * time.Second))
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (%v), want 1", n, err)
	}
	for id, want := range map[string]bool{"old": false, "running": true, "young": true} {
		if _, ok, _ := j.Lookup(id); ok != want {
			t.Errorf("%s present=%v, want %v", id, ok, want)
		}
	}
}

// At the cap new ids are refused with ErrFull, never an old one forgotten;
// once the window has passed there is room again.
func TestCapRefusesNewIDs(t *testing.T) {
	now := time.Now()
	j, _ := open(t, filepath.Join(t.TempDir(), "j.db"), time.Minute, 3, now)
	for _, id := range []string{"a", "b", "c"} {
		_ = j.Begin(id, "reset", now)
		_ = j.Finish(id, nil, now)
	}
	if err := j.Begin("d", "reset", now); !errors.Is(err, ErrFull) {
		t.Fatalf("4th id at cap 3: %v, want ErrFull", err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, ok, _ := j.Lookup(id); !ok {
			t.Fatalf("%s forgotten to make room", id)
		}
	}
	if err := j.Begin("d", "reset", now.Add(2*time.Minute)); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestForgetAndDuplicateBegin(t *testing.T) {
	now := time.Now()
	j, _ := open(t, filepath.Join(t.TempDir(), "j.db"), time.Minute, 10, now)
	_ = j.Begin("q", "move_to_angle", now)
	if err := j.Begin("q", "move_to_angle", now); err == nil {
		t.Fatal("second Begin of the same id accepted")
	}
	if err := j.Forget("q"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := j.Lookup("q"); ok || j.Len() != 0 {
		t.Fatalf("q still known after Forget (len %d)", j.Len())
	}
	if err := j.Begin("q", "move_to_angle", now); err != nil {
		t.Fatalf("Begin after Forget: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	now := time.Now()
	j, _ := open(t, filepath.Join(t.TempDir(), "j.db"), time.Minute, 10000, now)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				id := fmt.Sprintf("%d-%d", w, i)
				if err := j.Begin(id, "reset", now); err != nil {
					t.Error(err)
					return
				}
				_ = j.Finish(id, nil, now)
				_, _, _ = j.Lookup(id)
			}
		}()
	}
	wg.Wait()
	if j.Len() != 400 {
		t.Fatalf("Len %d, want 400", j.Len())
	}
}

func TestOpenRefusesBadArgsAndLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.db")
	if _, _, err := Open(path, 0, 10, time.Now()); err == nil {
		t.Fatal("zero window accepted")
	}
	open(t, path, time.Minute, 10, time.Now())
	start := time.Now()
	if _, _, err := Open(path, time.Minute, 10, time.Now()); err == nil {
		t.Fatal("a second process opened the same journal")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("second open hung")
	}
}
