package sim

import (
	"math"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/driver/xseries"
)

// These tests drive the model's clock directly instead of sleeping.

func run(s *Servo, d time.Duration) {
	end := s.lastStep.Add(d)
	for s.lastStep.Before(end) {
		s.advance(minTime(end, s.lastStep.Add(5*time.Second)))
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func TestTemperatureRisesWithLoadAndCools(t *testing.T) {
	s := New(Config{InitialPosition: 10})
	s.obstacles = []float64{float64(xseries.Degrees(20).Pulses())}
	s.tab.set(aShutdown, 0) // no overload shutdown: keep pushing
	s.tab.set(aTorque, 1)
	s.enableTorque()
	s.startMove(int64(xseries.Degrees(90).Pulses()))
	run(s, 120*time.Second)
	s.syncPresent(s.lastStep)
	hot := s.tempC
	if hot < s.cfg.AmbientC+10 {
		t.Errorf("after 2 min at %.0f mA the temperature is %.1f °C", s.currentMA, hot)
	}
	if v := s.tab.get(aVoltage); v >= 120 || v < 110 {
		t.Errorf("voltage under load %d (0.1 V), want a small sag below 120", v)
	}
	if c := s.tab.get(aPresentCur); float64(c)*xseries.CurrentUnitMA < 1000 {
		t.Errorf("present current %d units while stalled", c)
	}
	s.disableTorque()
	run(s, 10*time.Minute)
	if s.tempC > hot-5 || s.tempC < s.cfg.AmbientC {
		t.Errorf("after 10 min off: %.1f °C (was %.1f)", s.tempC, hot)
	}
	s.syncPresent(s.lastStep)
	if v := s.tab.get(aVoltage); v != 120 {
		t.Errorf("idle voltage %d, want 120", v)
	}
}

func TestOverheatShutdownAtTemperatureLimit(t *testing.T) {
	s := New(Config{AmbientC: 79})
	s.obstacles = []float64{100}
	s.tab.set(aShutdown, int64(xseries.HWOverheating)) // pushing does not trip overload
	s.tab.set(aTorque, 1)
	s.enableTorque()
	s.tab.set(aGoalPos, 3000)
	s.startMove(3000)
	run(s, 30*time.Second)
	if s.hwErr&xseries.HWOverheating == 0 || s.torque {
		t.Errorf("at %.1f °C: hw error %v torque %v", s.tempC, s.hwErr, s.torque)
	}
}

func TestProfileAccelerationSlowsStart(t *testing.T) {
	s := New(Config{Deadband: -1})
	s.tab.set(aTorque, 1)
	s.enableTorque()
	s.tab.set(aProfileVel, 100)
	s.tab.set(aProfileAcc, 10) // 2441 pulses/s²
	s.startMove(2048)
	run(s, 100*time.Millisecond)
	// After 0.1 s at 2441 pulses/s² it has gone about 12 pulses, not the
	// 156 of an instant start at 1563 pulses/s.
	if math.Abs(s.pos-12.2) > 3 {
		t.Errorf("after 0.1 s position %.1f, want ~12", s.pos)
	}
	run(s, 3*time.Second)
	if math.Abs(s.pos-2048) > 0.5 || s.profiling {
		t.Errorf("final position %.1f profiling %v", s.pos, s.profiling)
	}
}

func TestRxBufTimestamps(t *testing.T) {
	var r rxBuf
	t0 := time.Unix(100, 0)
	r.add([]byte{1, 2, 3}, t0)
	r.add([]byte{4, 5}, t0.Add(time.Second))
	if !r.timeAt(3).Equal(t0.Add(time.Second)) || !r.timeAt(2).Equal(t0) {
		t.Fatal("timeAt before consume")
	}
	r.consume(2)
	if !r.timeAt(0).Equal(t0) || !r.timeAt(1).Equal(t0.Add(time.Second)) {
		t.Errorf("timeAt after consume: %v %v", r.timeAt(0), r.timeAt(1))
	}
	r.consume(10)
	if len(r.buf) != 0 || len(r.marks) != 0 {
		t.Errorf("consume all left %v %v", r.buf, r.marks)
	}
}
