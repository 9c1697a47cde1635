package bridge

import (
	"fmt"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// Two bridges with the same view of the pool claim disjoint runs, each
// gets a fair share, and a run the preferred bridge leaves alone is taken
// over after the grace.
func TestPeersShareRunsOut(t *testing.T) {
	a, b := newPeers("bridge-a", 10*time.Second), newPeers("bridge-b", 10*time.Second)
	ws := []prefect.Worker{{Name: "bridge-a", Status: "ONLINE"}, {Name: "bridge-b", Status: "ONLINE"}, {Name: "old", Status: "OFFLINE"}}
	a.update(ws)
	b.update(ws)
	now := time.Now()
	na := 0
	for i := range 1000 {
		id := fmt.Sprintf("run-%d", i)
		ca, cb := a.mayClaim(id, now, now), b.mayClaim(id, now, now)
		if ca == cb {
			t.Fatalf("%s: a=%v b=%v, want exactly one", id, ca, cb)
		}
		if ca {
			na++
		}
	}
	if na < 400 || na > 600 {
		t.Errorf("bridge-a prefers %d of 1000 runs; want about half", na)
	}
	id := "run-x"
	loser := a
	if a.preferred(id) == "bridge-a" {
		loser = b
	}
	if loser.mayClaim(id, now, now.Add(5*time.Second)) {
		t.Error("the other bridge took over before the grace")
	}
	if !loser.mayClaim(id, now, now.Add(11*time.Second)) {
		t.Error("a run left unclaimed past the grace was not taken over")
	}
	// Alone in the pool (the other one offline), a bridge takes everything.
	solo := newPeers("bridge-a", time.Minute)
	solo.update([]prefect.Worker{{Name: "bridge-b", Status: "OFFLINE"}})
	for i := range 50 {
		if !solo.mayClaim(fmt.Sprintf("r%d", i), now, now) {
			t.Fatal("a lone bridge refused a run")
		}
	}
}
