package bridge

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/bus"
	"github.com/plate-resort/plate-resort/driver/sim"
)

// wantDeployments is how many deployments the bridge registers for the
// devices it serves now (at least the primary one): one per flow whose
// command the device's catalogue offers (lock and unlock only on agents
// that have them).
func wantDeployments(b *Bridge) int {
	names := b.devs.names()
	if !slices.Contains(names, b.cfg.primary()) {
		names = append(names, b.cfg.primary())
	}
	n := 0
	for _, dev := range names {
		specs, _ := b.devs.catalog(dev, true)
		for i := range flowDefs {
			if _, ok := specs[flowDefs[i].Command]; ok {
				n++
			}
		}
	}
	return n
}

// extraAgent runs one more agent, device id dev, with its own simulated
// servo on the rig's broker, until the test ends or stop is called.
func (r *rig) extraAgent(dev string, speed int) (servo *sim.Servo, stop func()) {
	r.t.Helper()
	servo = sim.New(sim.Config{Deadband: -1, Seed: 2})
	cfg := r.acfg
	cfg.Device = dev
	cfg.JournalFile = filepath.Join(r.t.TempDir(), dev+".db")
	if speed > 0 {
		cfg.Resort.DefaultSpeed = speed
	}
	host, closePipe := sim.Pipe(servo)
	a, err := agent.New(cfg, testLogger(r.t, dev), agent.Options{SerialOpen: func(string, int) (bus.Port, error) { return host, nil }})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx); closePipe() }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
		}
	}
	r.t.Cleanup(stop)
	return servo, stop
}

// waitDeployment waits until flow/name exists in the rig's pool and returns it.
func (r *rig) waitDeployment(flow, name string, d time.Duration) *prefect.Deployment {
	r.t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		dep, err := r.pc.ReadDeploymentByName(context.Background(), flow, name)
		if err == nil && dep.WorkPoolName == r.cfg.WorkPool {
			return dep
		}
		last = fmt.Sprint(err)
		if err == nil {
			last = "in pool " + dep.WorkPoolName
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.t.Fatalf("deployment %s/%s not registered in pool %s within %s (%s)", flow, name, r.cfg.WorkPool, d, last)
	return nil
}

// A bridge with no device list serves every device it finds: an agent
// started after the bridge gets its deployments in Prefect, and a run on it
// completes.
func TestFleetDiscoversAgentStartedLater(t *testing.T) {
	r := newRig(t, rigOptions{configure: func(c *Config) { c.Devices = nil }})
	b, _ := r.startBridge(r.cfg)
	if got := b.devs.names(); !slices.Equal(got, []string{"resort-1"}) {
		t.Fatalf("devices served before the second agent: %v", got)
	}
	servo2, _ := r.extraAgent("resort-2", 0)
	dep := r.waitDeployment("move-to-angle", "resort-2", 30*time.Second)
	if dep.WorkQueueName != DeviceQueue("resort-2") {
		t.Errorf("move-to-angle/resort-2 is in queue %q, want %q", dep.WorkQueueName, DeviceQueue("resort-2"))
	}
	if rd := r.waitDeployment("get-position", "resort-2", 5*time.Second); rd.WorkQueueName != DefaultQueue {
		t.Errorf("get-position/resort-2 is in queue %q, want the pool's default queue (reads never wait behind a move)", rd.WorkQueueName)
	}
	q, err := r.pc.ReadWorkQueue(context.Background(), r.cfg.WorkPool, DeviceQueue("resort-2"))
	if err != nil || q.ConcurrencyLimit == nil || *q.ConcurrencyLimit != 1 {
		t.Fatalf("queue %s: %+v, %v; want concurrency limit 1", DeviceQueue("resort-2"), q, err)
	}
	// The upstream names stay with the primary device.
	if d := r.waitDeployment("move-to-angle", "move-to-angle", 5*time.Second); !strings.Contains(d.Entrypoint, "/resort-1/") {
		t.Errorf("move-to-angle/move-to-angle entrypoint %q, want resort-1's", d.Entrypoint)
	}
	writes := servo2.WriteCount(116) // Goal Position
	fr := createRun(t, r.pc, dep.ID, map[string]any{"angle": 33.0})
	final := waitFinal(t, r.pc, fr.ID, 60*time.Second)
	if final.State.Type != prefect.StateCompleted {
		t.Fatalf("run on the discovered device ended %s: %s", final.State.Type, final.State.Message)
	}
	if servo2.WriteCount(116) == writes {
		t.Fatal("the run completed but resort-2's servo got no Goal Position write")
	}
}

// A configured devices list is an allow-list: a device outside it is seen
// and ignored, and gets no deployments.
func TestFleetAllowListIgnoresOtherDevices(t *testing.T) {
	r := newRig(t, rigOptions{})
	b, _ := r.startBridge(r.cfg)
	stray := fmt.Sprintf("stray-%d", time.Now().UnixNano()%1_000_000)
	r.extraAgent(stray, 0)
	deadline := time.Now().Add(20 * time.Second)
	for {
		b.devs.mu.Lock()
		seen := b.devs.ignored[stray]
		b.devs.mu.Unlock()
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bridge never saw %s's retained topics", stray)
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(time.Second) // a registration, had one started, would be under way
	if got := b.devs.names(); !slices.Equal(got, []string{"resort-1"}) {
		t.Fatalf("devices served: %v, want only resort-1", got)
	}
	if _, err := r.pc.ReadDeploymentByName(context.Background(), "move-to-angle", stray); !prefect.IsNotFound(err) {
		t.Fatalf("deployment move-to-angle/%s: err %v, want 404", stray, err)
	}
}

// A device that goes offline while it runs a command ends the run Crashed
// with a message naming the device, instead of waiting out the timeout.
func TestFleetDeviceOfflineMidRunCrashes(t *testing.T) {
	r := newRig(t, rigOptions{speed: 15}) // hotel C takes about ten seconds
	b, _ := r.startBridge(r.cfg)
	ctx := ctxTimeout(t, 2*time.Minute)
	fr := r.runMoving(ctx, b, "C")
	// What the broker publishes as the agent's Last Will when its link
	// drops (MQTT 5.0 §3.1.2.5): the retained offline.
	began := time.Now()
	if err := r.broker.Server().Publish(contract.DeviceTopics(r.cfg.Prefix, "resort-1").Availability(), []byte(contract.Offline), true, 1); err != nil {
		t.Fatal(err)
	}
	final := waitFinal(t, r.pc, fr.ID, 30*time.Second)
	took := time.Since(began)
	if final.State.Type != prefect.StateCrashed || !strings.Contains(final.State.Message, "device resort-1 went offline while running activate_hotel") {
		t.Fatalf("run ended %s: %q; want CRASHED naming the device that went offline", final.State.Type, final.State.Message)
	}
	// Within the availability_wait grace (3 s) and a tick, long before the
	// move (about ten seconds) or its timeout would have ended it.
	if took > 6*time.Second {
		t.Errorf("crashed %s after the device went offline", took)
	}
	t.Logf("crashed after %s: %s", took.Round(time.Millisecond), final.State.Message)
}

// Per-device exclusivity in Prefect (docs/prefect.md §12): two motion runs
// on one carousel never run together, the second waits visibly Scheduled
// (or Late) in the device's work queue and runs after the first; a read on
// the same carousel and a move on another carousel run meanwhile.
func TestFleetDeviceQueueSerialisesOneDeviceNotTwo(t *testing.T) {
	r := newRig(t, rigOptions{speed: 15, configure: func(c *Config) { c.Devices = []string{"resort-1", "resort-2"} }})
	r.extraAgent("resort-2", 15)
	b, _ := r.startBridge(r.cfg)
	ctx := ctxTimeout(t, 3*time.Minute)
	if _, ok := b.devs.await(ctx, "resort-2", func(s deviceStatus) bool { return s.Availability == contract.Online && s.State.Connected }); !ok {
		t.Fatal("resort-2 never online")
	}
	hotel1 := r.waitDeployment("activate-hotel", "activate-hotel", 10*time.Second)
	move1 := r.waitDeployment("move-to-angle", "move-to-angle", 10*time.Second)
	read1 := r.waitDeployment("get-position", "get-position", 10*time.Second)
	hotel2 := r.waitDeployment("activate-hotel", "resort-2", 30*time.Second)

	a := createRun(t, r.pc, hotel1.ID, map[string]any{"hotel": "C"})
	if _, ok := b.devs.await(ctx, "resort-1", func(s deviceStatus) bool { return busyWith(s.State, a.ID) && s.State.Moving }); !ok {
		t.Fatal("the first move never started")
	}
	second := createRun(t, r.pc, move1.ID, map[string]any{"angle": 20.0})
	other := createRun(t, r.pc, hotel2.ID, map[string]any{"hotel": "C"})
	read := createRun(t, r.pc, read1.ID, nil)
	// For three seconds (and more than one poll) the second run waits in
	// Prefect while the first drives the carousel.
	until := time.Now().Add(3 * time.Second)
	for time.Now().Before(until) {
		fr, err := r.pc.ReadFlowRun(ctx, second.ID)
		if err != nil {
			t.Fatal(err)
		}
		if fr.State.Type != prefect.StateScheduled {
			t.Fatalf("second run on resort-1 is %s (%s) while the first moves; want it waiting Scheduled in its queue", fr.State.Type, fr.State.Name)
		}
		if fr.WorkQueueName != DeviceQueue("resort-1") {
			t.Fatalf("second run is in queue %q, want %q", fr.WorkQueueName, DeviceQueue("resort-1"))
		}
		time.Sleep(250 * time.Millisecond)
	}
	if st, _ := b.devs.get("resort-2"); !busyWith(st.State, other.ID) {
		t.Errorf("resort-2 is not running its own move while resort-1 moves: busy %+v", st.State.Busy)
	}
	rd := waitFinal(t, r.pc, read.ID, 30*time.Second)
	first := waitFinal(t, r.pc, a.ID, 90*time.Second)
	if rd.State.Type != prefect.StateCompleted || !rd.EndTime.Before(*first.EndTime) {
		t.Errorf("the read ended %s at %v, the move at %v: reads are not held behind a move", rd.State.Type, rd.EndTime, first.EndTime)
	}
	sec := waitFinal(t, r.pc, second.ID, 90*time.Second)
	oth := waitFinal(t, r.pc, other.ID, 90*time.Second)
	for _, fr := range []*prefect.FlowRun{first, sec, oth} {
		if fr.State.Type != prefect.StateCompleted {
			t.Fatalf("run %s ended %s: %s", fr.ID, fr.State.Type, fr.State.Message)
		}
	}
	if sec.StartTime.Before(*first.EndTime) {
		t.Errorf("second run on resort-1 started %v, before the first ended %v", sec.StartTime, first.EndTime)
	}
	if !(oth.StartTime.Before(*first.EndTime) && first.StartTime.Before(*oth.EndTime)) {
		t.Errorf("runs on resort-1 (%v..%v) and resort-2 (%v..%v) did not overlap", first.StartTime, first.EndTime, oth.StartTime, oth.EndTime)
	}
	t.Logf("resort-1: first %v..%v, second started %v; resort-2 %v..%v", first.StartTime.Format(time.StampMilli), first.EndTime.Format(time.StampMilli),
		sec.StartTime.Format(time.StampMilli), oth.StartTime.Format(time.StampMilli), oth.EndTime.Format(time.StampMilli))
}
