package bridge

import (
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// The gate opens only where Prefect's poll would hold nothing back: a
// paused pool or queue, or a limit on either, sends runs to the poll.
func TestGateOpen(t *testing.T) {
	one := 1
	cases := []struct {
		name string
		wp   prefect.WorkPool
		q    prefect.WorkQueue
		want bool
	}{
		{"plain", prefect.WorkPool{}, prefect.WorkQueue{}, true},
		{"pool paused", prefect.WorkPool{IsPaused: true}, prefect.WorkQueue{}, false},
		{"queue paused", prefect.WorkPool{}, prefect.WorkQueue{IsPaused: true}, false},
		{"pool limit", prefect.WorkPool{ConcurrencyLimit: &one}, prefect.WorkQueue{}, false},
		{"queue limit", prefect.WorkPool{}, prefect.WorkQueue{ConcurrencyLimit: &one}, false},
	}
	for _, c := range cases {
		if got := gateOpen(&c.wp, &c.q); got != c.want {
			t.Errorf("%s: open %v, want %v", c.name, got, c.want)
		}
	}

	var g gate
	now := time.Now()
	if g.allows(now) {
		t.Error("a gate never read allows direct claims")
	}
	g.set(true, now)
	if !g.allows(now.Add(peersMaxAge - time.Millisecond)) {
		t.Error("a fresh open gate does not allow")
	}
	if g.allows(now.Add(peersMaxAge)) {
		t.Error("a stale read still allows: a pause made since would be ignored")
	}
	g.set(false, now)
	if g.allows(now) {
		t.Error("a closed gate allows")
	}
}

// Only what the poll would hand out now, from the default queue, of this
// deployment, is claimed on its event.
func TestDueOnDefaultQueue(t *testing.T) {
	now := time.Now()
	dep := &deployment{ID: "dep-1", Queue: DefaultQueue}
	at := func(d time.Duration) *time.Time { t := now.Add(d); return &t }
	run := func(mut func(*prefect.FlowRun)) *prefect.FlowRun {
		fr := &prefect.FlowRun{ID: "r", DeploymentID: "dep-1", WorkQueueName: DefaultQueue,
			State: &prefect.State{Type: prefect.StateScheduled, Name: "Scheduled"}, NextScheduledStartTime: at(0)}
		if mut != nil {
			mut(fr)
		}
		return fr
	}
	cases := []struct {
		name string
		fr   *prefect.FlowRun
		want bool
	}{
		{"due now", run(nil), true},
		{"due within the second", run(func(fr *prefect.FlowRun) { fr.NextScheduledStartTime = at(900 * time.Millisecond) }), true},
		{"overdue", run(func(fr *prefect.FlowRun) { fr.NextScheduledStartTime = at(-time.Hour) }), true},
		{"scheduled for later", run(func(fr *prefect.FlowRun) { fr.NextScheduledStartTime = at(5 * time.Second) }), false},
		{"no scheduled time", run(func(fr *prefect.FlowRun) { fr.NextScheduledStartTime = nil }), false},
		{"already pending", run(func(fr *prefect.FlowRun) { fr.State.Type = prefect.StatePending }), false},
		{"no state", run(func(fr *prefect.FlowRun) { fr.State = nil }), false},
		{"sent to a device queue", run(func(fr *prefect.FlowRun) { fr.WorkQueueName = DeviceQueue("resort-1") }), false},
		{"another deployment", run(func(fr *prefect.FlowRun) { fr.DeploymentID = "dep-2" }), false},
	}
	for _, c := range cases {
		if got := dueOnDefaultQueue(c.fr, dep, now); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

// Only a run's creation on the default queue, not by a deployment schedule,
// is claimed before it is read: a Scheduled that follows another state (a
// claim put back, a retry, a reschedule) is read first, or a run put back
// for later would be claimed again by the Scheduled event its put-back
// fires.
func TestCreatedOnDefaultQueue(t *testing.T) {
	ev := func(from, queue string, tags ...string) prefect.Event {
		e := prefect.Event{Event: "prefect.flow-run.Scheduled", Payload: []byte(`{"intended":{"from":` + from + `,"to":"SCHEDULED"}}`),
			Related: []map[string]any{{"prefect.resource.id": "prefect.work-queue.q", "prefect.resource.role": "work-queue", "prefect.resource.name": queue}}}
		for _, tag := range tags {
			e.Related = append(e.Related, map[string]any{"prefect.resource.id": "prefect.tag." + tag, "prefect.resource.role": "tag"})
		}
		return e
	}
	for _, c := range []struct {
		name string
		ev   prefect.Event
		want bool
	}{
		{"created on the default queue", ev("null", DefaultQueue, "plate-resort"), true},
		{"put back from Pending", ev(`"PENDING"`, DefaultQueue), false},
		{"rescheduled after a final state", ev(`"FAILED"`, DefaultQueue), false},
		{"created on a device queue", ev("null", "resort-1"), false},
		{"created by a deployment schedule", ev("null", DefaultQueue, "auto-scheduled"), false},
		{"no payload", prefect.Event{Related: ev("null", DefaultQueue).Related}, false},
	} {
		if got := createdOnDefaultQueue(c.ev); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
