package sim

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/driver/protocol"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

// An idle gap done in one closed-form jump must leave the servo where the
// 1 ms steps would: same temperature, same everything else.
func TestFastForwardMatchesSteps(t *testing.T) {
	for _, torque := range []bool{false, true} {
		mk := func() *Servo {
			s := New(Config{InitialPosition: 10})
			s.tempC = 60 // hot after a stall
			if torque {
				s.tab.set(aTorque, 1)
				s.enableTorque()
			}
			return s
		}
		stepped, jumped := mk(), mk()
		stepped.lastStep, jumped.lastStep = time.Time{}.Add(time.Hour), time.Time{}.Add(time.Hour)
		if !jumped.quiet() {
			t.Fatalf("torque %v: a servo at rest is not quiet", torque)
		}
		const n = 90_000 // 90 s, past maxCatchUp
		for range n {
			stepped.step(stepDT.Seconds())
			stepped.lastStep = stepped.lastStep.Add(stepDT)
		}
		jumped.advance(jumped.lastStep.Add(n * stepDT))
		if !jumped.lastStep.Equal(stepped.lastStep) {
			t.Fatalf("torque %v: clock %v, want %v", torque, jumped.lastStep, stepped.lastStep)
		}
		if math.Abs(jumped.tempC-stepped.tempC) > 1e-6 || jumped.tempC >= 59 {
			t.Errorf("torque %v: %.9f °C after the jump, %.9f stepped", torque, jumped.tempC, stepped.tempC)
		}
		if jumped.pos != stepped.pos || jumped.currentMA != stepped.currentMA {
			t.Errorf("torque %v: pos %v / %v mA, stepped %v / %v mA", torque, jumped.pos, jumped.currentMA, stepped.pos, stepped.currentMA)
		}
	}
}

func TestQuietOnlyWhenNothingDrives(t *testing.T) {
	s := New(Config{})
	s.tab.set(aTorque, 1)
	s.enableTorque()
	if !s.quiet() {
		t.Fatal("holding still is not quiet")
	}
	s.startMove(int64(xseries.Degrees(90).Pulses()))
	if s.quiet() {
		t.Fatal("a running profile is quiet")
	}
	s.advance(s.lastStep.Add(30 * time.Second))
	if !s.quiet() || math.Abs(s.pos-s.target) > 0.5 {
		t.Fatalf("after the move: quiet %v, pos %.1f target %.1f", s.quiet(), s.pos, s.target)
	}
	s.disableTorque()
	s.tab.set(aMode, xseries.ModePWM)
	s.tab.set(aTorque, 1)
	s.enableTorque()
	s.tab.set(aGoalPWM, int64(s.cfg.PWMThreshold))
	if !s.quiet() {
		t.Fatal("PWM at the friction threshold is not quiet")
	}
	s.tab.set(aGoalPWM, int64(s.cfg.PWMThreshold)+1)
	if s.quiet() {
		t.Fatal("PWM above the threshold is quiet")
	}
}

// Serve must not tick while the servo is quiet, tick while a move runs,
// and stop again once it ends.
func TestServeTicksOnlyWhileMoving(t *testing.T) {
	s := New(Config{Baud: 0})
	port, stop := Pipe(s)
	defer stop()
	if err := port.SetReadTimeout(20 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ticks := func() int { s.mu.Lock(); defer s.mu.Unlock(); return s.ticks }
	time.Sleep(100 * time.Millisecond)
	if n := ticks(); n != 0 {
		t.Fatalf("%d ticks while idle", n)
	}
	send := func(p protocol.Packet) {
		t.Helper()
		if _, err := port.Write(p.Marshal()); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		deadline := time.Now().Add(time.Second)
		var got []byte
		for time.Now().Before(deadline) {
			n, _ := port.Read(buf)
			got = append(got, buf[:n]...)
			if _, _, err := protocol.Decode(got); err == nil {
				return
			}
		}
		t.Fatalf("%v: no reply", p)
	}
	send(protocol.Write(1, 64, []byte{1}))                                // torque on
	send(protocol.Write(1, 116, le32(int(xseries.Degrees(20).Pulses())))) // a short move
	time.Sleep(50 * time.Millisecond)
	if n := ticks(); n == 0 {
		t.Fatal("no ticks while moving")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		s.mu.Lock()
		q := s.quiet()
		s.mu.Unlock()
		if q {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the move never ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(30 * time.Millisecond) // the serving loop sees the end at its next tick
	before := ticks()
	time.Sleep(100 * time.Millisecond)
	if n := ticks() - before; n != 0 {
		t.Fatalf("%d ticks after the move ended", n)
	}
}

func le32(v int) []byte {
	return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
}
