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
	now := time.Now()
	// Both joined long ago (a newcomer claims nothing at first: see below).
	a.update(ws, now.Add(-time.Minute))
	b.update(ws, now.Add(-time.Minute))
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
	solo.update([]prefect.Worker{{Name: "bridge-b", Status: "OFFLINE"}}, now)
	for i := range 50 {
		if !solo.mayClaim(fmt.Sprintf("r%d", i), now, now) {
			t.Fatal("a lone bridge refused a run")
		}
	}
}

// A bridge counts itself alone only on a fresh list that names nobody else
// and after it has been listed for joinDelay; a bridge that joins next to
// others claims nothing but overdue runs until the others list it; an
// older read answering late does not overwrite a newer one.
func TestPeersAloneAndJoining(t *testing.T) {
	t0 := time.Now()
	self := prefect.Worker{Name: "bridge-a", Status: "ONLINE"}
	other := prefect.Worker{Name: "bridge-b", Status: "ONLINE"}

	p := newPeers("bridge-a", time.Minute)
	if p.alone(t0) {
		t.Fatal("alone before any read of the pool")
	}
	p.update([]prefect.Worker{self}, t0)
	if p.alone(t0.Add(time.Second)) {
		t.Fatal("alone before joinDelay passed since it was first listed")
	}
	p.update([]prefect.Worker{self}, t0.Add(joinDelay))
	if !p.alone(t0.Add(joinDelay + time.Second)) {
		t.Fatal("not alone on a fresh list naming only itself, joined long enough")
	}
	if p.alone(t0.Add(joinDelay + peersMaxAge + time.Second)) {
		t.Fatal("alone on a stale list")
	}
	// A read that does not list us (our record deleted or OFFLINE) restarts
	// the join.
	p.update([]prefect.Worker{{Name: "bridge-a", Status: "OFFLINE"}}, t0.Add(joinDelay+2*time.Second))
	p.update([]prefect.Worker{self}, t0.Add(joinDelay+3*time.Second))
	if p.alone(t0.Add(joinDelay + 4*time.Second)) {
		t.Fatal("alone right after being listed again")
	}
	// A late answer to an older read changes nothing.
	p.update([]prefect.Worker{self, other}, t0.Add(time.Second))
	if n := len(p.online); n != 1 {
		t.Fatalf("an older read overwrote the list: %d workers", n)
	}

	// A newcomer next to another bridge: nothing but overdue runs until
	// joinDelay, then its share.
	n := newPeers("bridge-b", 10*time.Second)
	n.update([]prefect.Worker{self, other}, t0)
	claimed, overdue := 0, 0
	for i := range 200 {
		id := fmt.Sprintf("run-%d", i)
		if n.mayClaim(id, t0, t0.Add(time.Second)) {
			claimed++
		}
		if n.mayClaim(id, t0, t0.Add(11*time.Second)) {
			overdue++
		}
	}
	if claimed != 0 || overdue != 200 {
		t.Fatalf("newcomer claimed %d fresh and %d overdue runs of 200; want 0 and 200", claimed, overdue)
	}
	if n.alone(t0.Add(joinDelay)) {
		t.Fatal("a bridge with a peer counted itself alone")
	}
	later := t0.Add(joinDelay + time.Second)
	claimed = 0
	for i := range 200 {
		if n.mayClaim(fmt.Sprintf("run-%d", i), later, later) {
			claimed++
		}
	}
	if claimed < 60 || claimed > 140 {
		t.Fatalf("after joining, the newcomer prefers %d of 200 runs; want about half", claimed)
	}
}
