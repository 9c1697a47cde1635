package sim

import (
	"math"
	"time"

	"github.com/plate-resort/plate-resort/driver/xseries"
)

// The carousel model. Time advances in fixed steps from the wall clock
// whenever the servo is observed (a request, a Snapshot) and, while
// something moves, on Serve's 5 ms ticker, so behaviour does not depend on
// how often it is polled.
const (
	stepDT = time.Millisecond
	// maxCatchUp bounds the work of one advance after a long idle gap; the
	// rest of the gap is skipped (nothing moves while idle anyway).
	maxCatchUp = 10 * time.Second

	pulsesPerDeg = xseries.PulsesPerRev / 360.0
	// velUnit is 0.229 rpm in pulses per second.
	velUnit = xseries.VelocityUnitRPM * xseries.PulsesPerRev / 60
	// accUnit is 214.577 rev/min² in pulses per second².
	accUnit = xseries.AccelerationUnitRPM2 * xseries.PulsesPerRev / 3600

	// PWM mode: above the static-friction threshold the carousel turns at
	// pwmDegPerSec per PWM unit over the threshold, so a 0.30 s pulse at
	// 180 moves about 0.3° and one at 600 about 4.5° (docs/dynamixel.md §8 pulse
	// stage). The speed follows the drive with a short lag (inertia).
	pwmDegPerSec = 1.0 / 30
	pwmLag       = 20 * time.Millisecond

	// Electrical and thermal model (a plausible XM430 under a loaded
	// carousel, not a datasheet fit).
	holdMA        = 25.0            // holding still with torque on
	frictionMA    = 160.0           // turning the carousel
	stallMA       = 1400.0          // pushing against an obstacle
	pwmFullMA     = 1500.0          // drive at PWM 885 with the rotor held
	sagVPerA      = 0.3             // supply sag under load
	heatPerA2     = 40.0 / 300      // °C/s per A², so 1 A settles ~40 °C above ambient
	coolTau       = 300.0           // s, thermal time constant
	overloadAfter = 2 * time.Second // pushing this long raises Overload

	// inPositionPulses is the window of the Moving Status in-position bit.
	inPositionPulses = 4
)

// advance runs the physics up to now. While the servo is still (quiet),
// the only thing that changes is the temperature, whose 1 ms Euler steps
// have a closed form, so an idle gap of any length costs one step: that is
// what lets Serve stop its ticker while nothing moves.
func (s *Servo) advance(now time.Time) {
	if s.quiet() {
		s.fastForward(now)
	}
	gap := now.Sub(s.lastStep)
	if gap > maxCatchUp {
		s.lastStep = now.Add(-maxCatchUp)
	}
	for !s.lastStep.Add(stepDT).After(now) {
		s.step(stepDT.Seconds())
		s.lastStep = s.lastStep.Add(stepDT)
	}
}

// quiet reports whether the physics cannot move anything by itself: no
// speed, no push, not booting, and nothing driving (torque off, or a
// position mode with no profile running, a PWM goal at or below the
// static-friction threshold, a zero velocity goal, or current mode, which
// holds). A quiet servo stays quiet until a write or a fault call changes
// it; only its temperature keeps relaxing.
func (s *Servo) quiet() bool {
	if s.vel != 0 || s.pushing || s.lastStep.Before(s.silentTil) {
		return false
	}
	if !s.torque {
		return true
	}
	switch mode := s.tab.get(aMode); {
	case isPositionMode(mode):
		return !s.profiling
	case mode == xseries.ModePWM:
		pwm := s.tab.get(aGoalPWM)
		return max(pwm, -pwm) <= int64(s.cfg.PWMThreshold)
	case mode == xseries.ModeVelocity:
		return s.tab.get(aGoalVelocity) == 0
	default:
		return true
	}
}

// fastForward does the whole steps up to now of a quiet servo at once. One
// real step fixes the current (hold or nothing); the temperature's Euler
// recurrence T' = T(1-dt/tau) + (h + Ta/tau)dt then has the closed form
// T_n = Teq + (T_0-Teq)(1-dt/tau)^n with Teq = Ta + h*tau. When Teq reaches
// the temperature limit the Overheating latch could fire mid-gap, so that
// case is left to the ordinary steps.
func (s *Servo) fastForward(now time.Time) {
	n := int64(now.Sub(s.lastStep) / stepDT)
	if n < 2 {
		return
	}
	dt := stepDT.Seconds()
	s.step(dt)
	s.lastStep = s.lastStep.Add(stepDT)
	n--
	amps := math.Abs(s.currentMA) / 1000
	teq := s.cfg.AmbientC + heatPerA2*amps*amps*coolTau
	if teq >= float64(s.tab.get(aTempLimit)) || !s.quiet() {
		return
	}
	s.tempC = teq + (s.tempC-teq)*math.Pow(1-dt/coolTau, float64(n))
	s.lastStep = s.lastStep.Add(time.Duration(n) * stepDT)
	s.pushFor = 0
	s.checkWatchdog() // it measures silence up to lastStep; a trip moves nothing
}

func (s *Servo) step(dt float64) {
	t := s.tab
	mode := t.get(aMode)
	s.pushing = false
	s.checkWatchdog()
	if now := s.lastStep; now.Before(s.silentTil) {
		s.vel = 0 // booting: the controller is not driving
	} else if s.torque {
		switch {
		case isPositionMode(mode):
			s.stepPosition(dt)
		case mode == xseries.ModePWM:
			s.stepPWM(dt)
		case mode == xseries.ModeVelocity:
			s.stepVelocity(dt)
		default: // current mode: no model, it holds
			s.vel = 0
		}
	} else {
		s.vel = 0 // torque off: the loaded carousel stays where it is
	}
	s.stepLoad(dt, mode)
}

func (s *Servo) stepPosition(dt float64) {
	t := s.tab
	if !s.profiling {
		s.vel = 0
		return
	}
	vmax := float64(t.get(aVelLimit))
	if pv := float64(t.get(aProfileVel)); pv > 0 && pv < vmax {
		vmax = pv // Profile Velocity 0 means "up to Velocity Limit"
	}
	vmax *= velUnit
	acc := float64(t.get(aProfileAcc)) * accUnit // 0: infinite
	d := s.target - s.pos
	dir := math.Copysign(1, d)
	want := vmax
	if acc > 0 {
		want = math.Min(vmax, math.Sqrt(2*acc*math.Abs(d)))
	}
	speed := s.vel * dir // current speed toward the target
	if acc > 0 {
		speed = math.Min(want, speed+acc*dt)
		speed = math.Max(speed, math.Min(want, acc*dt))
	} else {
		speed = want
	}
	move := speed * dt
	if move >= math.Abs(d) {
		s.moveTo(s.target)
		if !s.pushing {
			s.vel, s.profiling = 0, false
		}
		return
	}
	s.vel = dir * speed
	s.moveTo(s.pos + dir*move)
}

// checkWatchdog trips the Bus Watchdog (98): when it is 1..127 and no
// instruction packet arrived for that many 20 ms units, the servo stops
// driving (PWM output 0 in PWM mode, holding in position mode) and the
// register reads -1 until the host writes 0 [e-Manual, X-series "Bus
// Watchdog"]. It is the backstop for a host that vanished mid-pulse.
func (s *Servo) checkWatchdog() {
	wd := s.tab.get(aWatchdog)
	if s.watchdogTripped || wd <= 0 || wd > 127 || s.lastRequest.IsZero() {
		return
	}
	if s.lastStep.Sub(s.lastRequest) > time.Duration(wd)*20*time.Millisecond {
		s.watchdogTripped = true
		s.tab.set(aWatchdog, 0xFF) // -1 as a signed byte
		s.tab.set(aGoalPWM, 0)
		s.target = s.pos
		s.profiling = false
	}
}

func (s *Servo) stepPWM(dt float64) {
	pwm := float64(s.tab.get(aGoalPWM))
	drive := math.Abs(pwm) - float64(s.cfg.PWMThreshold)
	want := 0.0
	if drive > 0 {
		want = math.Copysign(drive*pwmDegPerSec*pulsesPerDeg*s.pwmGain, pwm)
	}
	s.vel += (want - s.vel) * math.Min(1, dt/pwmLag.Seconds())
	if drive > 0 || math.Abs(s.vel) > 0.05 { // below 0.05 pulse/s friction holds it
		s.moveTo(s.pos + s.vel*dt)
	} else {
		s.vel = 0
	}
	if s.pushing && drive <= 0 {
		s.pushing = false // leaning on the obstacle below friction is not pushing
	}
}

func (s *Servo) stepVelocity(dt float64) {
	want := float64(s.tab.get(aGoalVelocity)) * velUnit
	if acc := float64(s.tab.get(aProfileAcc)) * accUnit; acc > 0 {
		step := acc * dt
		s.vel += math.Max(-step, math.Min(step, want-s.vel))
	} else {
		s.vel = want
	}
	s.moveTo(s.pos + s.vel*dt)
}

// moveTo moves to p unless an obstacle is in the way, in which case the
// carousel stops just before it and is pushing.
func (s *Servo) moveTo(p float64) {
	for _, ob := range s.obstacles {
		// The obstacle repeats every turn of the continuous position.
		lo, hi := math.Min(s.pos, p), math.Max(s.pos, p)
		k := math.Ceil((lo - ob) / xseries.PulsesPerRev)
		b := ob + k*xseries.PulsesPerRev
		if b == lo && s.pos == lo {
			b += xseries.PulsesPerRev // standing exactly on it, moving away
		}
		if b > lo && b <= hi || (b == lo && p < s.pos) {
			const gap = 0.01
			if p > s.pos {
				p = b - gap
			} else {
				p = b + gap
			}
			s.vel = 0
			s.pushing = true
		}
	}
	s.pos = p
}

// stepLoad updates current, temperature, the push timer and the shutdown
// conditions (Shutdown register 63 selects which errors switch torque off).
func (s *Servo) stepLoad(dt float64, mode int64) {
	t := s.tab
	i := 0.0
	switch {
	case !s.torque:
	case s.pushing:
		i = stallMA
	case mode == xseries.ModePWM:
		i = math.Abs(float64(t.get(aGoalPWM))) / 885 * pwmFullMA
		if s.vel != 0 {
			i = math.Max(i*0.5, frictionMA)
		}
	case s.vel != 0:
		i = frictionMA
	default:
		i = holdMA
	}
	if limit := float64(t.get(aCurrentLimit)) * xseries.CurrentUnitMA; s.md.hasCurrent && i > limit {
		i = limit
	}
	if s.vel < 0 || (s.vel == 0 && t.get(aGoalPWM) < 0 && mode == xseries.ModePWM) {
		i = -i
	}
	s.currentMA = i
	amps := math.Abs(i) / 1000
	s.tempC += (heatPerA2*amps*amps - (s.tempC-s.cfg.AmbientC)/coolTau) * dt
	shutdown := xseries.HardwareError(t.get(aShutdown))
	if s.pushing && s.torque {
		s.pushFor += time.Duration(dt * float64(time.Second))
		if s.pushFor > overloadAfter && shutdown&xseries.HWOverload != 0 {
			s.latch(xseries.HWOverload)
		}
	} else {
		s.pushFor = 0
	}
	if s.tempC >= float64(t.get(aTempLimit)) && shutdown&xseries.HWOverheating != 0 {
		s.latch(xseries.HWOverheating)
	}
}

// latch records a hardware error and forces torque off; only Reboot clears
// it [e-Manual, "Shutdown"; docs/dynamixel.md §5].
func (s *Servo) latch(bits xseries.HardwareError) {
	s.hwErr |= bits
	s.disableTorque()
}

// syncPresent writes the present values into the table before a read.
func (s *Servo) syncPresent(now time.Time) {
	t := s.tab
	mode := t.get(aMode)
	pos := int64(roundPulses(s.pos))
	t.set(aPresentPos, pos)
	t.set(aPosTraj, pos)
	vel := int64(math.Round(s.vel / velUnit))
	t.set(aPresentVel, vel)
	t.set(aVelTraj, vel)
	if s.md.hasCurrent {
		t.set(aPresentCur, int64(math.Round(s.currentMA/xseries.CurrentUnitMA)))
	} else { // XL430 Present Load, 0.1 % of the maximum
		t.set(aPresentCur, int64(math.Round(s.currentMA/pwmFullMA*1000)))
	}
	pwm := int64(0)
	switch {
	case !s.torque:
	case mode == xseries.ModePWM:
		pwm = t.get(aGoalPWM)
	default:
		pwm = int64(math.Round(s.currentMA / pwmFullMA * 885))
	}
	t.set(aPresentPWM, pwm)
	v := s.cfg.SupplyV - sagVPerA*math.Abs(s.currentMA)/1000
	t.set(aVoltage, int64(math.Round(v*10)))
	t.set(aTemperature, int64(math.Round(s.tempC)))
	t.set(aHWError, int64(s.hwErr))
	t.set(aTorque, boolInt(s.torque))
	ms := now.Sub(s.bootAt).Milliseconds()
	t.set(aTick, max(ms, 0)%32768)
	moving := math.Abs(s.vel) > float64(t.get(aMovingThresh))*velUnit
	t.set(aMoving, boolInt(moving))
	t.set(aMovingStatus, int64(s.movingStatus(mode)))
}

// movingStatus is register 123: bit 0 in-position, bit 1 profile ongoing,
// bit 3 following error, bits 4-5 profile type (0 step, 1 rectangle,
// 3 trapezoid) [e-Manual, "Moving Status"].
func (s *Servo) movingStatus(mode int64) byte {
	t := s.tab
	if !isPositionMode(mode) {
		return 0
	}
	var st byte
	pv, pa := t.get(aProfileVel), t.get(aProfileAcc)
	switch {
	case pv > 0 && pa > 0:
		st |= 0x30
	case pv > 0:
		st |= 0x10
	}
	if !s.torque {
		return st
	}
	if s.profiling {
		return st | 0x02
	}
	if math.Abs(float64(t.get(aGoalPos))-s.pos) <= inPositionPulses {
		return st | 0x01
	}
	return st | 0x08 // stopped off the goal: following error
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
