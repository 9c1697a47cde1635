package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/driver/bus"
	"github.com/plate-resort/plate-resort/driver/protocol"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

func newSimBus(t *testing.T, baud int) (*bus.Bus, *sim.Servo) {
	t.Helper()
	s := sim.New(sim.Config{Baud: baud})
	port, stop := sim.Pipe(s)
	t.Cleanup(stop)
	return bus.New(port, bus.Config{Port: "pipe", Baud: max(baud, 57600), Latency: time.Millisecond}, zerolog.Nop()), s
}

func TestWireTime(t *testing.T) {
	if got := bus.WireTime(29, 57600); got < 5034*time.Microsecond || got > 5036*time.Microsecond {
		t.Fatalf("29 bytes at 57600 = %s, want 5.035 ms (docs/dynamixel.md §7)", got)
	}
	if got := bus.WireTime(29, 1_000_000); got != 290*time.Microsecond {
		t.Fatalf("29 bytes at 1M = %s", got)
	}
}

func TestReadWriteAndSignedDecode(t *testing.T) {
	b, s := newSimBus(t, 0)
	ctx := context.Background()
	info, err := b.Ping(ctx, 1)
	if err != nil || info.Model != 1030 {
		t.Fatalf("ping %+v %v", info, err)
	}
	if err := b.Write(ctx, 1, xseries.TorqueEnable.Addr, []byte{1}); err != nil {
		t.Fatal(err)
	}
	data, err := b.Read(ctx, 1, xseries.PresentPosition.Addr, 4)
	if err != nil || len(data) != 4 {
		t.Fatalf("read %v %v", data, err)
	}
	if s.WriteCount(xseries.TorqueEnable.Addr) != 1 {
		t.Fatal("write not counted at the servo")
	}
	// Device errors are typed.
	if err := b.Write(ctx, 1, xseries.OperatingMode.Addr, []byte{3}); !errors.Is(err, protocol.ErrAccess) {
		t.Fatalf("EEPROM write with torque on: %v", err)
	}
	if _, err := b.Read(ctx, 1, 0, 0); err == nil {
		t.Fatal("zero-length read accepted")
	}
}

func TestAlertIsNotAFailure(t *testing.T) {
	b, s := newSimBus(t, 0)
	s.TriggerOverload()
	ctx := context.Background()
	data, err := b.Read(ctx, 1, xseries.PresentPosition.Addr, 4)
	if err != nil || len(data) != 4 {
		t.Fatalf("read with alert set: %v (data is valid; docs/dynamixel.md §4)", err)
	}
	if !b.TakeAlert() || b.TakeAlert() {
		t.Fatal("alert not reported once")
	}
}

// While callers keep the bus busy with reads, a priority write (the
// emergency stop) waits for at most the transaction already on the wire: at
// most one read completes between asking and getting the bus, where plain
// FIFO order would let all four waiting readers go first.
func TestPriorityWriteOvertakesWaitingCallers(t *testing.T) {
	b, s := newSimBus(t, 57600)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reads atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ { // four greedy readers queueing for the bus
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, err := b.Read(ctx, 1, xseries.PresentPosition.Addr, 4); err == nil {
					reads.Add(1)
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	worst := int64(0)
	for i := 0; i < 10; i++ {
		before := reads.Load()
		if err := b.WriteNow(ctx, 1, xseries.TorqueEnable.Addr, []byte{0}); err != nil {
			t.Fatal(err)
		}
		worst = max(worst, reads.Load()-before)
		time.Sleep(7 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if worst > 2 {
		t.Fatalf("%d reads completed while the priority write waited; want at most the one on the wire", worst)
	}
	if s.WriteCount(xseries.TorqueEnable.Addr) != 10 {
		t.Fatal("writes lost")
	}
}

func TestGateRefusesUnderTheBusLock(t *testing.T) {
	b, s := newSimBus(t, 0)
	latched := errors.New("latched")
	err := b.WriteIf(context.Background(), 1, xseries.GoalPosition.Addr, []byte{0, 0, 0, 0}, func() error { return latched })
	if !errors.Is(err, latched) || s.WriteCount(xseries.GoalPosition.Addr) != 0 {
		t.Fatalf("gate: %v, writes %d", err, s.WriteCount(xseries.GoalPosition.Addr))
	}
}

func TestDisconnectIsTypedAndReopenRecovers(t *testing.T) {
	s := sim.New(sim.Config{})
	port, stop := sim.Pipe(s)
	opens := 0
	b := bus.New(port, bus.Config{Port: "pipe", Latency: time.Millisecond, Open: func(string, int) (bus.Port, error) {
		opens++
		if opens == 1 {
			return nil, fmt.Errorf("no such device")
		}
		p, st := sim.Pipe(s)
		t.Cleanup(st)
		return p, nil
	}}, zerolog.Nop())
	ctx := context.Background()
	stop() // the adapter vanishes
	if _, err := b.Ping(ctx, 1); !errors.Is(err, bus.ErrDisconnected) {
		t.Fatalf("after unplug: %v", err)
	}
	if b.Connected() {
		t.Fatal("still connected")
	}
	start := time.Now()
	if _, err := b.Ping(ctx, 1); !errors.Is(err, bus.ErrDisconnected) || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("not failing fast: %v", err)
	}
	if err := b.Reopen(ctx); err == nil {
		t.Fatal("reopen with the device still gone succeeded")
	}
	if err := b.Reopen(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Ping(ctx, 1); err != nil {
		t.Fatalf("after reopen: %v", err)
	}
	if st := b.Stats(); st.Reconnects != 1 || st.Errors < 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTimeoutFlushesAndCounts(t *testing.T) {
	b, s := newSimBus(t, 0)
	s.SetUnplugged(true)
	start := time.Now()
	_, err := b.Ping(context.Background(), 1)
	if !errors.Is(err, bus.ErrTimeout) {
		t.Fatalf("silent servo: %v", err)
	}
	// 3 attempts (2 retries) of about 2 x 1 ms latency + 2 ms + wire each.
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("timeout took %s", d)
	}
	if st := b.Stats(); st.Timeouts != 1 && st.Timeouts != 3 {
		t.Fatalf("stats %+v", st)
	}
	s.SetUnplugged(false)
	if _, err := b.Ping(context.Background(), 1); err != nil {
		t.Fatalf("after timeout: %v", err)
	}
}

// The observer hook sees every attempt on the wire with its result: the
// agent's serial metrics are built on it.
func TestObserverSeesEveryAttempt(t *testing.T) {
	s := sim.New(sim.Config{})
	port, stop := sim.Pipe(s)
	t.Cleanup(stop)
	var mu sync.Mutex
	seen := map[string]int{}
	var maxD time.Duration
	b := bus.New(port, bus.Config{Port: "pipe", Latency: time.Millisecond, ReadRetries: 2, Observe: func(d time.Duration, r string) {
		mu.Lock()
		seen[r]++
		maxD = max(maxD, d)
		mu.Unlock()
	}}, zerolog.Nop())
	ctx := context.Background()
	if _, err := b.Ping(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(ctx, 1, xseries.OperatingMode.Addr, []byte{3}); err != nil {
		t.Fatal(err) // torque is off: allowed
	}
	if err := b.Write(ctx, 1, xseries.TorqueEnable.Addr, []byte{1}); err != nil {
		t.Fatal(err)
	}
	_ = b.Write(ctx, 1, xseries.OperatingMode.Addr, []byte{3}) // EEPROM with torque on: access error
	s.CorruptNextReplies(1)
	if _, err := b.Read(ctx, 1, xseries.PresentPosition.Addr, 4); err != nil {
		t.Fatalf("a corrupt reply is retried: %v", err)
	}
	s.TriggerOverload()
	_, _ = b.Read(ctx, 1, xseries.PresentPosition.Addr, 4)
	s.SetUnplugged(true)
	_, _ = b.Ping(ctx, 1) // 3 attempts, all timeouts
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{bus.ResultOK: 4, bus.ResultDeviceError: 1, bus.ResultCRC: 1, bus.ResultHardwareError: 1, bus.ResultTimeout: 3}
	for k, v := range want {
		if seen[k] != v {
			t.Errorf("%s: %d attempts observed, want %d (all: %v)", k, seen[k], v, seen)
		}
	}
	if maxD <= 0 || maxD > time.Second {
		t.Errorf("round trips up to %s", maxD)
	}
}
