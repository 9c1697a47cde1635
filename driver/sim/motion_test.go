package sim_test

import (
	"math"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/driver/protocol"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

func deg(pulses int) xseries.Degrees { return xseries.PulsesToDegrees(int64(pulses)) }

// torqueOnMode sets the operating mode with torque off, then torque on, as
// the driver must (EEPROM rule); in PWM mode Goal PWM is zeroed first.
func (r *rig) torqueOnMode(mode byte) {
	r.t.Helper()
	r.mustWrite(64, 0)
	r.mustWrite(11, mode)
	if mode == xseries.ModePWM {
		r.mustWrite(100, le16(0)...)
	}
	r.mustWrite(64, 1)
}

func TestPositionMoveStopsDeadbandShort(t *testing.T) {
	r := newRig(t, sim.Config{InitialPosition: 10})
	r.torqueOnMode(xseries.ModePosition)
	r.mustWrite(112, le32(200)...) // 200 x 0.229 rpm = 275°/s
	r.mustWrite(116, le32(int(xseries.Degrees(100).Pulses()))...)
	if r.read1(123)&0x02 == 0 {
		t.Error("profile-ongoing not set right after the goal write")
	}
	time.Sleep(20 * time.Millisecond)
	if r.read1(122) != 1 || r.read4s(128) <= 0 {
		t.Error("Moving or Present Velocity not set during the move")
	}
	testenv.Eventually(t, 3*time.Second, "the move to end", func() bool { return r.read1(123)&0x02 == 0 })
	got := deg(r.read4s(132))
	if want := 100 - sim.DefaultDeadband; math.Abs(float64(got-want)) > 0.1 {
		t.Errorf("stopped at %.2f°, want %.2f° (deadband short)", got, want)
	}
	if st := r.read1(123); st&0x01 != 0 || st&0x08 == 0 {
		t.Errorf("Moving Status 0x%02X: want following error, not in-position", st)
	}
	// Going back down stops short on the other side.
	r.mustWrite(116, le32(int(xseries.Degrees(50).Pulses()))...)
	testenv.Eventually(t, 3*time.Second, "the move back", func() bool { return r.read1(123)&0x02 == 0 })
	if got := deg(r.read4s(132)); math.Abs(float64(got-(50+sim.DefaultDeadband))) > 0.1 {
		t.Errorf("stopped at %.2f°, want %.2f°", got, 50+sim.DefaultDeadband)
	}
	// A goal inside the deadband does not move at all.
	before := r.read4s(132)
	r.mustWrite(116, le32(before-5)...)
	time.Sleep(50 * time.Millisecond)
	if after := r.read4s(132); after != before {
		t.Errorf("moved from %d to %d for a goal inside the deadband", before, after)
	}
}

func TestProfileVelocitySetsMoveTime(t *testing.T) {
	r := newRig(t, sim.Config{Deadband: -1})
	r.torqueOnMode(xseries.ModePosition)
	r.mustWrite(112, le32(50)...) // upstream default_speed: 68.7°/s
	start := time.Now()
	r.mustWrite(116, le32(int(xseries.Degrees(90).Pulses()))...)
	testenv.Eventually(t, 5*time.Second, "the move to end", func() bool { return r.read1(123)&0x02 == 0 })
	took := time.Since(start)
	// 90° at 68.7°/s is 1.31 s.
	if took < 1200*time.Millisecond || took > 2*time.Second {
		t.Errorf("90° at profile velocity 50 took %v, want about 1.3 s", took)
	}
	if got := r.read4s(132); got != int(xseries.Degrees(90).Pulses()) {
		t.Errorf("without deadband stopped at %d, want %d", got, xseries.Degrees(90).Pulses())
	}
	if r.read1(123)&0x01 == 0 {
		t.Error("in-position bit not set at the goal")
	}
}

func TestTorqueOffStaysPut(t *testing.T) {
	r := newRig(t, sim.Config{})
	r.torqueOnMode(xseries.ModePosition)
	r.mustWrite(116, le32(3000)...)
	time.Sleep(30 * time.Millisecond)
	r.mustWrite(64, 0)
	p := r.read4s(132)
	time.Sleep(60 * time.Millisecond)
	if q := r.read4s(132); q != p {
		t.Errorf("position changed from %d to %d with torque off", p, q)
	}
	if r.read1(122) != 0 {
		t.Error("Moving set with torque off")
	}
}

// pulse applies one upstream-style PWM pulse and returns how far it moved.
func (r *rig) pulse(pwm int, on, rest time.Duration) xseries.Degrees {
	r.t.Helper()
	before := r.read4s(132)
	r.mustWrite(100, le16(pwm)...)
	time.Sleep(on)
	r.mustWrite(100, le16(0)...)
	time.Sleep(rest)
	return deg(r.read4s(132) - before)
}

func TestPWMPulsesMove(t *testing.T) {
	r := newRig(t, sim.Config{Seed: 7})
	r.torqueOnMode(xseries.ModePWM)
	if d := r.pulse(120, 300*time.Millisecond, 100*time.Millisecond); d != 0 {
		t.Errorf("pwm 120 (below static friction) moved %.3f°", d)
	}
	d180 := r.pulse(180, 300*time.Millisecond, 200*time.Millisecond)
	if d180 < 0.2 || d180 > 0.45 {
		t.Errorf("pwm 180 for 0.3 s moved %.3f°, want 0.2-0.4°", d180)
	}
	d400 := r.pulse(400, 300*time.Millisecond, 200*time.Millisecond)
	if d400 <= 2*d180 {
		t.Errorf("pwm 400 moved %.3f°, not clearly more than pwm 180 (%.3f°)", d400, d180)
	}
	if dn := r.pulse(-300, 300*time.Millisecond, 200*time.Millisecond); dn >= 0 {
		t.Errorf("negative pwm moved %+.3f°, want backwards", dn)
	}
	if r.read2s(126) != 0 {
		t.Error("Present Current not 0 at rest")
	}
}

// TestUpstreamPreciseMoveConverges runs upstream's two-stage move (docs/dynamixel.md
// §8, defaults.yaml values) against the simulator with raw packets.
func TestUpstreamPreciseMoveConverges(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		r := newRig(t, sim.Config{Seed: seed, InitialPosition: 289})
		target := xseries.Degrees(19)
		r.torqueOnMode(xseries.ModePosition)
		r.mustWrite(116, le32(int(target.Pulses()))...)
		testenv.Eventually(t, 5*time.Second, "stage 1", func() bool { return r.read1(123)&0x02 == 0 })
		r.torqueOnMode(xseries.ModePWM)
		pwm, pulses, errDeg := 180, 0, xseries.Degrees(0)
		for ; pulses < 25; pulses++ {
			errDeg = xseries.Diff(deg(r.read4s(132)), target)
			if math.Abs(float64(errDeg)) <= 0.5 {
				break
			}
			d := r.pulse(int(math.Copysign(float64(pwm), float64(errDeg))), 300*time.Millisecond, 200*time.Millisecond)
			if math.Abs(float64(errDeg)) < 3 && math.Abs(float64(d)) > 0.75 {
				pwm = max(180, pwm-60)
			}
			if math.Abs(float64(d)) < 0.12 {
				pwm = min(pwm+25, 600)
			}
		}
		if math.Abs(float64(errDeg)) > 0.5 {
			t.Errorf("seed %d: no convergence after %d pulses, error %.2f°", seed, pulses, errDeg)
		} else if pulses > 8 {
			t.Errorf("seed %d: took %d pulses, want a handful", seed, pulses)
		}
		t.Logf("seed %d: converged in %d pulses, error %.2f°", seed, pulses, errDeg)
	}
}

func TestNegativePositionAndResetOnTorqueOn(t *testing.T) {
	r := newRig(t, sim.Config{InitialPosition: 0.2})
	r.torqueOnMode(xseries.ModePWM)
	r.mustWrite(100, le16(-400)...)
	testenv.Eventually(t, 2*time.Second, "position below 0", func() bool { return r.read4s(132) < -20 })
	r.mustWrite(100, le16(0)...)
	neg := r.read4s(132)
	r.mustWrite(64, 0)
	r.mustWrite(11, xseries.ModePosition)
	r.mustWrite(64, 1)
	got := r.read4s(132)
	if got < 0 || got > 4095 || got != neg+4096 && got != neg+4096+1 && got != neg+4096-1 {
		t.Errorf("after torque-on in mode 3 position %d (was %d), want %d", got, neg, neg+4096)
	}
}

func TestOverloadLatchesUntilReboot(t *testing.T) {
	r := newRig(t, sim.Config{BootTime: 50 * time.Millisecond})
	r.torqueOnMode(xseries.ModePosition)
	r.s.TriggerOverload()
	st := r.do(protocol.Read(1, 70, 1))
	if st.Error != protocol.AlertBit || st.Data[0] != 0x20 {
		t.Errorf("after overload: error byte 0x%02X, register 70 = 0x%02X; want alert only and 0x20", st.Error, st.Data)
	}
	if r.read1(64) != 0 {
		t.Error("torque still on after overload")
	}
	// Torque cannot come back; a ping carries the alert too.
	if st := r.write(64, 1); protocol.ErrorCode(st.Error&^protocol.AlertBit) != protocol.CodeResultFail || !st.Alert() {
		t.Errorf("torque-on during shutdown: error 0x%02X, want result fail with alert", st.Error)
	}
	if st := r.do(protocol.Ping(1)); !st.Alert() {
		t.Error("ping reply without alert bit")
	}
	// Writing 0 to Torque Enable or anything else does not clear it.
	r.write(64, 0)
	if r.read1(70) != 0x20 {
		t.Error("hardware error cleared without reboot")
	}
	got := r.raw(hexBytes(t, v11Reboot), time.Second)
	if len(got) == 0 {
		t.Fatal("no reply to reboot")
	}
	if b := r.raw(protocol.Ping(1).Marshal(), 20*time.Millisecond); b != nil {
		t.Errorf("answered % X while booting", b)
	}
	time.Sleep(60 * time.Millisecond)
	st = r.do(protocol.Read(1, 70, 1))
	if st.Error != 0 || st.Data[0] != 0 {
		t.Errorf("after reboot: error 0x%02X, register 70 = 0x%02X, want 0/0", st.Error, st.Data[0])
	}
	r.mustWrite(64, 1)
}

func TestOverheatFault(t *testing.T) {
	r := newRig(t, sim.Config{})
	r.torqueOnMode(xseries.ModePosition)
	r.s.TriggerOverheat()
	st := r.do(protocol.Read(1, 70, 1))
	if !st.Alert() || st.Data[0] != 0x04 {
		t.Errorf("overheat: error 0x%02X, reg 70 0x%02X", st.Error, st.Data[0])
	}
	if s := r.s.Snapshot(); s.Torque || s.HWError != xseries.HWOverheating {
		t.Errorf("snapshot %+v", s)
	}
}

func TestStallRaisesOverloadAfterPushing(t *testing.T) {
	r := newRig(t, sim.Config{InitialPosition: 10})
	r.s.StallAt(40, true)
	r.torqueOnMode(xseries.ModePosition)
	r.mustWrite(116, le32(int(xseries.Degrees(90).Pulses()))...)
	testenv.Eventually(t, 2*time.Second, "the carousel to hit the obstacle", func() bool { return r.s.Snapshot().Pushing })
	if p := r.s.Snapshot().Position; p > 40 || p < 39.5 {
		t.Errorf("stopped at %.2f°, want just before 40°", p)
	}
	if cur := r.read2s(126); float64(cur)*xseries.CurrentUnitMA < 1000 {
		t.Errorf("pushing draws %d (x2.69 mA), want > 1 A", cur)
	}
	if r.read1(70) != 0 {
		t.Error("overload before 2 s of pushing")
	}
	testenv.Eventually(t, 4*time.Second, "overload", func() bool { return r.s.Snapshot().HWError&xseries.HWOverload != 0 })
	if r.s.Snapshot().Torque {
		t.Error("torque on after stall overload")
	}
	// Remove it, reboot, and the move goes through.
	r.s.StallAt(40, false)
	r.do(protocol.Reboot(1))
	time.Sleep(350 * time.Millisecond)
	r.mustWrite(64, 1)
	r.mustWrite(116, le32(int(xseries.Degrees(90).Pulses()))...)
	testenv.Eventually(t, 3*time.Second, "the move past 40°", func() bool { return r.s.Snapshot().Position > 80 })
}

func TestUnpluggedStopsAnswering(t *testing.T) {
	r := newRig(t, sim.Config{})
	r.s.SetUnplugged(true)
	if b := r.raw(protocol.Write(1, 65, []byte{1}).Marshal(), 100*time.Millisecond); b != nil {
		t.Errorf("unplugged servo answered % X", b)
	}
	r.s.SetUnplugged(false)
	if r.read1(65) != 0 {
		t.Error("unplugged servo applied a write")
	}
}

func TestOnWriteHookAndCounts(t *testing.T) {
	r := newRig(t, sim.Config{})
	type call struct {
		addr uint16
		data []byte
	}
	calls := make(chan call, 4)
	r.s.OnWrite(func(addr uint16, data []byte, at time.Time) {
		if at.IsZero() {
			t.Error("zero timestamp")
		}
		_ = r.s.Snapshot() // the hook may observe the servo
		calls <- call{addr, data}
	})
	r.mustWrite(64, 1)
	r.mustWrite(64, 0)
	r.write(11, 2) // refused: no hook, no count
	if n := r.s.WriteCount(64); n != 2 {
		t.Errorf("WriteCount(64) = %d, want 2", n)
	}
	if n := r.s.WriteCount(11); n != 0 {
		t.Errorf("WriteCount(11) = %d after a refused write", n)
	}
	if len(calls) != 2 {
		t.Fatalf("%d hook calls, want 2", len(calls))
	}
	if c := <-calls; c.addr != 64 || len(c.data) != 1 || c.data[0] != 1 {
		t.Errorf("first hook call %+v", c)
	}
	if n := r.s.Requests()[protocol.InstWrite]; n != 3 {
		t.Errorf("Requests()[write] = %d, want 3", n)
	}
}

func TestPipeTimingFollowsBaud(t *testing.T) {
	r := newRig(t, sim.Config{Baud: 57600})
	start := time.Now()
	r.read(132, 4)
	// 14 + 15 bytes at 57600 plus 500 µs return delay = 5.53 ms.
	if took := time.Since(start); took < 5500*time.Microsecond {
		t.Errorf("4-byte read took %v, less than its wire time", took)
	}
}
