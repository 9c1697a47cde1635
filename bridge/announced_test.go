package bridge

import (
	"testing"
	"time"
)

// An announced run is looked for until a poll shows it, the bridge runs
// it, or announceWindow passes; the re-poll delay backs off to a bound.
func TestAnnouncedRunsAreLookedForUntilSeen(t *testing.T) {
	var a announced
	t0 := time.Now()
	none := func(string) bool { return false }
	if a.seen(none, t0) {
		t.Fatal("nothing announced, yet something missing")
	}
	a.add("r1", t0)
	a.add("r2", t0.Add(time.Second))
	if !a.seen(none, t0.Add(100*time.Millisecond)) {
		t.Fatal("announced runs not reported missing")
	}
	if !a.seen(func(id string) bool { return id == "r1" }, t0.Add(200*time.Millisecond)) {
		t.Fatal("r2 is still missing")
	}
	if a.seen(none, t0.Add(time.Second+announceWindow+time.Millisecond)) {
		t.Fatal("a run announced longer than announceWindow ago is still looked for")
	}
	prev := time.Duration(0)
	for n := range 10 {
		d := repollDelay(n)
		if d < prev || d > 400*time.Millisecond || d <= 0 {
			t.Fatalf("repollDelay(%d) = %v after %v", n, d, prev)
		}
		prev = d
	}
}
