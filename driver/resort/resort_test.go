package resort_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/driver/bus"
	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// rig is a Resort talking through go.bug.st/serial to the simulated servo
// on a real pseudo-terminal.
type rig struct {
	t     *testing.T
	servo *sim.Servo
	pty   *sim.PTY
	r     *resort.Resort
	cfg   resort.Config
}

func fastConfig(link string) resort.Config {
	cfg := resort.Defaults()
	cfg.Device = link
	cfg.DefaultSpeed = 300 // ~410 °/s: quick tests, same logic
	cfg.MovementTimeout = 5
	cfg.Stage1Timeout = 3
	cfg.PulseDuration = 0.15
	cfg.PulseRest = 0.05
	cfg.LatencyMS = 2
	cfg.RebootWait = 0.35
	return cfg
}

func newRig(t *testing.T, scfg sim.Config, mut ...func(*resort.Config)) *rig {
	t.Helper()
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("no /dev/ptmx: pseudo-terminals unavailable")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	servo := sim.New(scfg)
	link := filepath.Join(t.TempDir(), "servo")
	p, err := sim.ListenPTY(ctx, servo, link)
	if err != nil {
		t.Fatalf("ListenPTY: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	cfg := fastConfig(link)
	for _, m := range mut {
		m(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := resort.New(cfg, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel), resort.Options{})
	t.Cleanup(func() { _ = r.Disconnect(context.Background()) })
	return &rig{t: t, servo: servo, pty: p, r: r, cfg: cfg}
}

func (g *rig) connect() resort.ConnectResult {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := g.r.Connect(ctx, resort.ConnectOptions{})
	if err != nil {
		g.t.Fatalf("Connect: %v", err)
	}
	return res
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestConnectFindsServoAndHolds(t *testing.T) {
	g := newRig(t, sim.Config{InitialPosition: 42})
	res := g.connect()
	if res.ModelNumber != 1030 || res.Model != "XM430-W210" || math.Abs(float64(res.Position)-42) > 0.2 {
		t.Fatalf("connect result %+v", res)
	}
	st := g.servo.Snapshot()
	if !st.Torque || st.Mode != xseries.ModePosition {
		t.Fatalf("after connect: torque %v mode %d", st.Torque, st.Mode)
	}
	// Torque came on holding the present position, not a stale goal.
	if math.Abs(float64(st.Goal-st.Position)) > 0.2 {
		t.Fatalf("goal %.2f vs position %.2f", st.Goal, st.Position)
	}
}

func TestEveryHotelBothMoveKinds(t *testing.T) {
	g := newRig(t, sim.Config{})
	g.connect()
	ctx := ctx10(t)
	for _, h := range g.cfg.Hotels {
		want, _ := g.cfg.HotelAngle(h)
		res, err := g.r.ActivateHotel(ctx, h, true, resort.PreciseOverrides{})
		if err != nil || !res.Success {
			t.Fatalf("precise %s: %v %+v", h, err, res)
		}
		if math.Abs(float64(xseries.Diff(g.servo.Snapshot().Position, want))) > g.cfg.PositionTolerance {
			t.Fatalf("precise %s: servo at %.2f, want %.2f", h, g.servo.Snapshot().Position, want)
		}
		if g.servo.Snapshot().Mode != xseries.ModePosition || !g.servo.Snapshot().Torque {
			t.Fatalf("precise %s left the servo in mode %d torque %v (upstream bug, docs/dynamixel.md §8.14)", h, g.servo.Snapshot().Mode, g.servo.Snapshot().Torque)
		}
		if hotel, _, err := g.r.ActiveHotel(ctx); err != nil || hotel != h {
			t.Fatalf("active hotel %q %v, want %s", hotel, err, h)
		}
	}
	// A plain move stops inside the simulated deadband: within
	// plain_tolerance it has reached its hotel, and says how far off it is.
	res, err := g.r.ActivateHotel(ctx, "A", false, resort.PreciseOverrides{})
	if err != nil || !res.Success || res.Reason != resort.ReasonReached {
		t.Fatalf("plain move: %v %+v", err, res)
	}
	if e := math.Abs(res.FinalError); e < g.cfg.PositionTolerance || e > 2 {
		t.Fatalf("plain move final error %.2f, want the deadband (~1.2)", e)
	}
}

func TestPreciseMoveRunsPulsesAndConverges(t *testing.T) {
	g := newRig(t, sim.Config{InitialPosition: 200})
	g.connect()
	pwmWrites := 0
	var mu sync.Mutex
	kick := false
	g.servo.OnWrite(func(addr uint16, data []byte, _ time.Time) {
		mu.Lock()
		defer mu.Unlock()
		if addr == xseries.GoalPWM.Addr {
			pwmWrites++
		}
		// Enabling torque in PWM mode with a non-zero Goal PWM is the
		// full-power kick of upstream bug, docs/dynamixel.md §8.13.
		if addr == xseries.TorqueEnable.Addr && data[0] == 1 {
			st := g.servo.Snapshot()
			if st.Mode == xseries.ModePWM && st.GoalPWM != 0 {
				kick = true
			}
		}
	})
	res, err := g.r.MoveToAngle(ctx10(t), 100, true, resort.PreciseOverrides{})
	if err != nil || !res.Success || res.Reason != resort.ReasonPulses || res.Pulses < 1 {
		t.Fatalf("precise: %v %+v", err, res)
	}
	if math.Abs(res.FinalError) > g.cfg.PositionTolerance {
		t.Fatalf("final error %.3f above tolerance", res.FinalError)
	}
	mu.Lock()
	defer mu.Unlock()
	if pwmWrites < 2 || kick {
		t.Fatalf("pwm writes %d, full-power kick %v", pwmWrites, kick)
	}
}

func TestAngleWrapAndSignedPosition(t *testing.T) {
	g := newRig(t, sim.Config{InitialPosition: 358})
	g.connect()
	// 359.9 and 0.1 are 0.2° apart: move across zero.
	res, err := g.r.MoveToAngle(ctx10(t), 2, true, resort.PreciseOverrides{})
	if err != nil || !res.Success {
		t.Fatalf("%v %+v", err, res)
	}
	pos, err := g.r.Position(ctx10(t))
	if err != nil || pos < 0 || pos >= 360 {
		t.Fatalf("position %v %v", pos, err)
	}
}

func TestEmergencyStopInterruptsAndLatches(t *testing.T) {
	g := newRig(t, sim.Config{InitialPosition: 10}, func(c *resort.Config) { c.DefaultSpeed = 20 }) // ~27 °/s: a long move
	g.connect()
	ctx := ctx10(t)
	done := make(chan error, 1)
	go func() {
		_, err := g.r.MoveToAngle(ctx, 300, true, resort.PreciseOverrides{})
		done <- err
	}()
	time.Sleep(400 * time.Millisecond)
	if !g.servo.Snapshot().Moving {
		t.Fatal("not moving before the e-stop")
	}
	if err := g.r.EmergencyStop(ctx); err != nil {
		t.Fatal(err)
	}
	if g.servo.Snapshot().Torque {
		t.Fatal("torque still on after emergency stop")
	}
	if err := <-done; !errors.Is(err, resort.ErrEStopLatched) {
		t.Fatalf("interrupted move returned %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if g.servo.Snapshot().Torque {
		t.Fatal("the interrupted move turned torque back on")
	}
	if _, err := g.r.MoveToAngle(ctx, 20, true, resort.PreciseOverrides{}); !errors.Is(err, resort.ErrEStopLatched) {
		t.Fatalf("move while latched: %v", err)
	}
	if !g.r.ResetEStop() {
		t.Fatal("reset did not report a latched e-stop")
	}
	if res, err := g.r.MoveToAngle(ctx, 20, true, resort.PreciseOverrides{}); err != nil || !res.Success {
		t.Fatalf("move after reset: %v %+v", err, res)
	}
}

func TestCancelHoldsPosition(t *testing.T) {
	g := newRig(t, sim.Config{InitialPosition: 10}, func(c *resort.Config) { c.DefaultSpeed = 20 })
	g.connect()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := g.r.MoveToAngle(ctx, 300, true, resort.PreciseOverrides{})
	if !errors.Is(err, context.DeadlineExceeded) || res.Reason != resort.ReasonCancelled {
		t.Fatalf("%v %+v", err, res)
	}
	time.Sleep(300 * time.Millisecond)
	st := g.servo.Snapshot()
	if !st.Torque || st.Mode != xseries.ModePosition || math.Abs(float64(xseries.Diff(st.Position, st.Goal))) > 1.5 || st.Moving {
		t.Fatalf("after cancel: %+v", st)
	}
}

func TestSetSpeedRangeAndPersistence(t *testing.T) {
	g := newRig(t, sim.Config{})
	g.connect()
	ctx := ctx10(t)
	if err := g.r.SetSpeed(ctx, 331); !errors.Is(err, resort.ErrInvalid) {
		t.Fatalf("speed above Velocity Limit: %v", err)
	}
	if err := g.r.SetSpeed(ctx, 0); !errors.Is(err, resort.ErrInvalid) {
		t.Fatalf("speed 0: %v", err)
	}
	var mu sync.Mutex
	last := -1
	g.servo.OnWrite(func(addr uint16, data []byte, _ time.Time) {
		if addr == xseries.ProfileVelocity.Addr {
			v, _ := xseries.ProfileVelocity.Decode(data)
			mu.Lock()
			last = int(v)
			mu.Unlock()
		}
	})
	if err := g.r.SetSpeed(ctx, 120); err != nil {
		t.Fatal(err)
	}
	// A precise move switches modes (which zeroes the profile); the speed
	// must be back afterwards.
	if _, err := g.r.MoveToAngle(ctx, 90, true, resort.PreciseOverrides{}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if last != 120 {
		t.Fatalf("last profile velocity written %d after a precise move, want 120", last)
	}
}

func TestOverloadRebootAndHealth(t *testing.T) {
	g := newRig(t, sim.Config{})
	g.connect()
	ctx := ctx10(t)
	g.servo.TriggerOverload()
	h, err := g.r.Health(ctx)
	if err != nil {
		t.Fatalf("health with alert latched: %v (an alert alone is not a failure)", err)
	}
	if h.HardwareError.Raw != int(xseries.HWOverload) || len(h.HardwareError.Flags) != 1 || h.HardwareError.Flags[0] != "overload" || h.Torque {
		t.Fatalf("health %+v", h)
	}
	if len(h.Warnings) == 0 || !strings.Contains(strings.Join(h.Warnings, ";"), "overload") {
		t.Fatalf("warnings %v", h.Warnings)
	}
	if _, err := g.r.MoveToAngle(ctx, 50, true, resort.PreciseOverrides{}); !errors.Is(err, resort.ErrHardware) {
		t.Fatalf("move during overload: %v", err)
	}
	if err := g.r.Reboot(ctx, true); err != nil {
		t.Fatal(err)
	}
	if st := g.servo.Snapshot(); st.HWError != 0 || !st.Torque {
		t.Fatalf("after reboot: %+v", st)
	}
	if res, err := g.r.MoveToAngle(ctx, 50, true, resort.PreciseOverrides{}); err != nil || !res.Success {
		t.Fatalf("move after reboot: %v %+v", err, res)
	}
	if h, _ := g.r.Health(ctx); h.CurrentMA == nil || h.VoltageV < 11 || h.VoltageV > 13 || h.TemperatureC < 20 {
		t.Fatalf("health readings %+v", h)
	}
}

func TestFaultsGiveTypedErrors(t *testing.T) {
	g := newRig(t, sim.Config{}, func(c *resort.Config) { c.ReadRetries = 0 })
	g.connect()
	ctx := ctx10(t)

	g.servo.SetUnplugged(true) // stops answering
	if _, err := g.r.Position(ctx); !errors.Is(err, bus.ErrTimeout) {
		t.Fatalf("silent servo: %v", err)
	}
	g.servo.SetUnplugged(false)

	g.servo.CorruptNextReplies(1)
	if _, err := g.r.Position(ctx); !errors.Is(err, bus.ErrCorrupt) {
		t.Fatalf("corrupt reply: %v", err)
	}
	if _, err := g.r.Position(ctx); err != nil {
		t.Fatalf("after corruption the link must recover: %v", err)
	}

	g.servo.StallAt(60, true)
	res, err := g.r.MoveToAngle(ctx, 120, true, resort.PreciseOverrides{})
	if err == nil || res.Success {
		t.Fatalf("move through an obstacle: %v %+v", err, res)
	}
	if res.Reason != resort.ReasonStall && res.Reason != resort.ReasonHardwareError {
		t.Fatalf("stall reason %q (%v)", res.Reason, err)
	}
}

func TestRetriesHideOneCorruptRead(t *testing.T) {
	g := newRig(t, sim.Config{}, func(c *resort.Config) { c.ReadRetries = 2 })
	g.connect()
	g.servo.CorruptNextReplies(1)
	if _, err := g.r.Position(ctx10(t)); err != nil {
		t.Fatalf("a read retry should hide one corrupt reply: %v", err)
	}
	if g.r.Link().Stats.Retries == 0 {
		t.Fatal("retry not counted")
	}
}

func TestUnplugMidMoveAndReopen(t *testing.T) {
	g := newRig(t, sim.Config{InitialPosition: 10}, func(c *resort.Config) { c.DefaultSpeed = 20 })
	g.connect()
	ctx := ctx10(t)
	done := make(chan error, 1)
	go func() {
		_, err := g.r.MoveToAngle(ctx, 200, true, resort.PreciseOverrides{})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if err := g.pty.Unplug(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, bus.ErrDisconnected) {
		t.Fatalf("move during unplug: %v", err)
	}
	if g.r.Connected() {
		t.Fatal("still connected after unplug")
	}
	start := time.Now()
	if _, err := g.r.Position(ctx); !errors.Is(err, bus.ErrDisconnected) || time.Since(start) > 200*time.Millisecond {
		t.Fatalf("not failing fast while unplugged: %v after %s", err, time.Since(start))
	}
	if err := g.r.Reconnect(ctx); err == nil {
		t.Fatal("reconnect succeeded with the adapter gone")
	}
	if err := g.pty.Replug(); err != nil {
		t.Fatal(err)
	}
	if err := g.r.Reconnect(ctx); err != nil {
		t.Fatalf("reconnect after replug: %v", err)
	}
	if res, err := g.r.MoveToAngle(ctx, 30, true, resort.PreciseOverrides{}); err != nil || !res.Success {
		t.Fatalf("move after replug: %v %+v", err, res)
	}
	if g.r.Link().Stats.Reconnects == 0 {
		t.Fatal("reconnect not counted")
	}
}

func TestDisconnectReleasesTorque(t *testing.T) {
	g := newRig(t, sim.Config{})
	g.connect()
	if err := g.r.Disconnect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g.servo.Snapshot().Torque {
		t.Fatal("torque still on after disconnect (upstream bug, docs/dynamixel.md §8.15)")
	}
	if _, err := g.r.Position(context.Background()); !errors.Is(err, resort.ErrNotConnected) {
		t.Fatalf("after disconnect: %v", err)
	}
}

func TestWrongIDTimesOut(t *testing.T) {
	g := newRig(t, sim.Config{}, func(c *resort.Config) { c.MotorID = 7; c.ReadRetries = 0 })
	_, err := g.r.Connect(context.Background(), resort.ConnectOptions{})
	if !errors.Is(err, bus.ErrTimeout) || !strings.Contains(err.Error(), "id 7") {
		t.Fatalf("wrong id: %v", err)
	}
}

func TestBlindMoveReturnsBeforeArriving(t *testing.T) {
	g := newRig(t, sim.Config{}, func(c *resort.Config) { c.DefaultSpeed = 30 })
	g.connect()
	start := time.Now()
	if err := g.r.BlindMove(ctx10(t), 180); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("blind move waited %s", d)
	}
	if st := g.servo.Snapshot(); math.Abs(float64(st.Goal)-180) > 0.1 || st.Position > 90 {
		t.Fatalf("goal %.1f position %.1f", st.Goal, st.Position)
	}
	if err := g.r.BlindMove(ctx10(t), xseries.Degrees(math.NaN())); !errors.Is(err, resort.ErrInvalid) {
		t.Fatalf("NaN: %v", err)
	}
}

// Review finding: an e-stop whose write never reached the servo must still
// end with torque off once the servo answers again.
func TestEStopWhileServoSilentIsEnforcedLater(t *testing.T) {
	g := newRig(t, sim.Config{InitialPosition: 10}, func(c *resort.Config) { c.DefaultSpeed = 20; c.ReadRetries = 0 })
	g.connect()
	ctx := ctx10(t)
	done := make(chan error, 1)
	go func() { _, err := g.r.MoveToAngle(ctx, 250, false, resort.PreciseOverrides{}); done <- err }()
	time.Sleep(300 * time.Millisecond)
	g.servo.SetUnplugged(true) // silent, the adapter stays
	if err := g.r.EmergencyStop(ctx); err == nil {
		t.Fatal("e-stop to a silent servo reported success")
	}
	if !g.r.EStopped() {
		t.Fatal("not latched")
	}
	<-done
	g.servo.SetUnplugged(false)
	if !g.servo.Snapshot().Torque {
		t.Skip("sim dropped torque by itself") // nothing left to prove
	}
	if err := g.r.EnforceEStop(ctx); err != nil {
		t.Fatal(err)
	}
	if g.servo.Snapshot().Torque {
		t.Fatal("torque still on with a latched e-stop")
	}
	// A reconnect keeps the latch and leaves torque off.
	if err := g.r.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if g.servo.Snapshot().Torque || !g.r.EStopped() {
		t.Fatal("reconnect re-enabled torque or cleared the latch")
	}
}

// Review finding: reset arriving before the interrupted move has finished
// must not let that move hold position (torque on) again.
func TestResetRightAfterEStopKeepsTorqueOff(t *testing.T) {
	g := newRig(t, sim.Config{InitialPosition: 10}, func(c *resort.Config) { c.DefaultSpeed = 20 })
	g.connect()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan resort.MoveResult, 1)
	go func() { res, _ := g.r.MoveToAngle(ctx, 250, true, resort.PreciseOverrides{}); done <- res }()
	time.Sleep(300 * time.Millisecond)
	if err := g.r.EmergencyStop(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.r.ResetEStop()
	cancel()
	res := <-done
	time.Sleep(300 * time.Millisecond)
	if g.servo.Snapshot().Torque {
		t.Fatalf("torque back on after e-stop + reset + cancel (result %+v)", res)
	}
	if res.Reason != resort.ReasonEStopped {
		t.Fatalf("reason %q, want estopped", res.Reason)
	}
}

// Review finding: below Moving Threshold the Moving flag stays 0; a slow
// move must not be reported as settled while it still travels.
func TestSlowMoveIsNotSettledEarly(t *testing.T) {
	g := newRig(t, sim.Config{InitialPosition: 10}, func(c *resort.Config) { c.DefaultSpeed = 5 })
	g.connect()
	res, err := g.r.MoveToAngle(ctx10(t), 25, false, resort.PreciseOverrides{})
	if math.Abs(res.FinalError) > 2 {
		t.Fatalf("plain move at speed 5 ended %.2f° from target (%s, %v) while still travelling", res.FinalError, res.Reason, err)
	}
	res, err = g.r.MoveToAngle(ctx10(t), 40, true, resort.PreciseOverrides{})
	if err != nil || !res.Success {
		t.Fatalf("precise move at speed 5: %v %+v", err, res)
	}
}

// Review finding: an adapter pulled in the middle of a PWM pulse must not
// leave the carousel driven at the pulse's duty. The Bus Watchdog set for
// the pulse stage stops it within half a second of silence.
func TestAdapterPulledMidPulseStopsByBusWatchdog(t *testing.T) {
	g := newRig(t, sim.Config{InitialPosition: 200}, func(c *resort.Config) {
		c.PulseDuration, c.PulseRest, c.PulsePWMStart, c.PWMMax = 2, 0.05, 300, 400 // long, strong pulses
		c.SwitchError = 5
	})
	g.connect()
	ctx := ctx10(t)
	done := make(chan error, 1)
	go func() { _, err := g.r.MoveToAngle(ctx, 100, true, resort.PreciseOverrides{}); done <- err }()
	testenv.Eventually(t, 10*time.Second, "the pulse stage", func() bool {
		st := g.servo.Snapshot()
		return st.Mode == xseries.ModePWM && st.GoalPWM != 0
	})
	if err := g.pty.Unplug(); err != nil {
		t.Fatal(err)
	}
	<-done
	time.Sleep(700 * time.Millisecond) // past the 500 ms watchdog
	a := g.servo.Snapshot().Position
	time.Sleep(500 * time.Millisecond)
	b := g.servo.Snapshot().Position
	if moved := math.Abs(float64(xseries.Diff(a, b))); moved > 0.05 {
		t.Fatalf("carousel still driven after the host vanished: %.2f° in 0.5 s", moved)
	}
	// Back: reconnect clears the tripped watchdog and moves work again.
	if err := g.pty.Replug(); err != nil {
		t.Fatal(err)
	}
	if err := g.r.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	dur, start, maxPWM := 0.15, 180, 600
	o := resort.PreciseOverrides{PulseDuration: &dur, PulsePWMStart: &start, PWMMax: &maxPWM}
	if res, err := g.r.MoveToAngle(ctx, 120, true, o); err != nil || !res.Success {
		t.Fatalf("after replug: %v %+v", err, res)
	}
}
