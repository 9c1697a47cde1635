package sim

import (
	"math"
	"slices"
	"time"

	"github.com/plate-resort/plate-resort/driver/protocol"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

// validModes are the Operating Mode values of the XM430; the XL430 has no
// current modes (0, 5) [e-Manual, "Operating Mode"].
var (
	validModesXM = []int64{0, 1, 3, 4, 5, 16}
	validModesXL = []int64{1, 3, 4, 16}
)

// checkWrite returns the status error number a write of data at addr gets,
// or 0 when it may be applied. Rules [e-Manual protocol2 Status Packet error
// table; control table EEPROM note; docs/dynamixel.md §9]:
//   - an address no item starts at, or a read-only item: Access Error;
//   - an EEPROM item while Torque Enable is 1: Access Error;
//   - fewer bytes than the last item needs: Data Length Error;
//   - a value outside the item's fixed range: Data Range Error;
//   - a value beyond the limit another register sets (Goal PWM vs PWM
//     Limit, Goal Position vs Min/Max Position Limit in mode 3...): Data
//     Limit Error.
//
// Nothing is written unless every item passes.
func (s *Servo) checkWrite(addr uint16, data []byte) protocol.ErrorCode {
	t := s.tab
	if len(data) == 0 {
		return protocol.CodeDataLength
	}
	end := int(addr) + len(data)
	if end > tableSize {
		return protocol.CodeAccess
	}
	for a := int(addr); a < end; {
		idx := t.owner[a]
		if idx < 0 {
			return protocol.CodeAccess
		}
		r := t.items[idx]
		if int(r.addr) != a || !r.writable {
			return protocol.CodeAccess
		}
		if r.eeprom && s.torque {
			return protocol.CodeAccess
		}
		if a+r.size > end {
			return protocol.CodeDataLength
		}
		v := decodeLE(data[a-int(addr):a-int(addr)+r.size], r.signed)
		if code := s.checkValue(r, v); code != 0 {
			return code
		}
		a += r.size
	}
	return 0
}

func (s *Servo) checkValue(r reg, v int64) protocol.ErrorCode {
	t := s.tab
	if v < r.lo || v > r.hi {
		return protocol.CodeDataRange
	}
	abs := v
	if abs < 0 {
		abs = -abs
	}
	if s.watchdogTripped {
		switch r.addr {
		case aGoalPWM, aGoalPos, aGoalVelocity, aGoalCurrent:
			// A tripped Bus Watchdog freezes the goals until 98 is
			// written 0 (e-Manual, "Bus Watchdog").
			return protocol.CodeResultFail
		}
	}
	switch r.addr {
	case aWatchdog:
		if v == 0 {
			s.watchdogTripped = false
		}
	case aTorque:
		if v == 1 && s.hwErr != 0 {
			// A shutdown holds torque off until Reboot (docs/dynamixel.md §9).
			return protocol.CodeResultFail
		}
	case aMode:
		modes := validModesXM
		if !s.md.hasCurrent {
			modes = validModesXL
		}
		if !slices.Contains(modes, v) {
			return protocol.CodeDataRange
		}
	case aDriveMode:
		if v&^0x0D != 0 { // bit 0 reverse, bit 2 time-based profile, bit 3 torque on by goal update
			return protocol.CodeDataRange
		}
	case aGoalPWM:
		if abs > t.get(aPWMLimit) {
			return protocol.CodeDataLimit
		}
	case aGoalCurrent:
		if abs > t.get(aCurrentLimit) {
			return protocol.CodeDataLimit
		}
	case aGoalVelocity:
		if abs > t.get(aVelLimit) {
			return protocol.CodeDataLimit
		}
	case aGoalPos:
		if t.get(aMode) == xseries.ModePosition && (v < t.get(aMinPos) || v > t.get(aMaxPos)) {
			return protocol.CodeDataLimit
		}
	}
	return 0
}

// hookCall is an OnWrite call deferred until the lock is released.
type hookCall struct {
	addr uint16
	data []byte
	at   time.Time
}

// applyWrite stores a checked write and runs each item's side effects.
func (s *Servo) applyWrite(addr uint16, data []byte, now time.Time, hooks *[]hookCall) {
	t := s.tab
	for a := int(addr); a < int(addr)+len(data); {
		r := t.items[t.owner[a]]
		old := t.get(r.addr)
		copy(t.mem[a:a+r.size], data[a-int(addr):])
		s.writeCount[r.addr]++
		s.afterWrite(r.addr, old, t.get(r.addr))
		a += r.size
	}
	if hooks != nil && s.onWrite != nil {
		*hooks = append(*hooks, hookCall{addr, append([]byte(nil), data...), now})
	}
}

// afterWrite is what the servo does when an item changes.
func (s *Servo) afterWrite(addr uint16, old, v int64) {
	t := s.tab
	switch addr {
	case aTorque:
		if v == 1 && !s.torque {
			s.enableTorque()
		} else if v == 0 {
			s.disableTorque()
		}
	case aMode:
		if v == old {
			return
		}
		// "If Operating Mode is changed, ... Profile Velocity and Profile
		// Acceleration are reset to 0 and Goal PWM to PWM Limit"
		// [e-Manual, Operating Mode note; docs/dynamixel.md §6]. Present
		// Position is reset into one turn when changing to (Extended)
		// Position mode.
		t.set(aGoalPWM, t.get(aPWMLimit))
		t.set(aProfileVel, 0)
		t.set(aProfileAcc, 0)
		if v == xseries.ModePosition || v == xseries.ModeExtendedPosition {
			s.pos = wrapTurn(s.pos)
		}
		s.profiling, s.target = false, s.pos
	case aGoalPos:
		if s.torque && isPositionMode(t.get(aMode)) {
			s.startMove(v)
		}
	case aGoalPWM:
		if v != 0 {
			// Each pulse lands a little differently (friction is not a
			// constant), but reproducibly for a given Seed.
			s.pwmGain = 1 + 0.15*(2*s.rng.Float64()-1)
		}
	}
}

func (s *Servo) enableTorque() {
	t := s.tab
	if s.hwErr != 0 {
		return // refused in dispatch; a shutdown holds torque off until Reboot
	}
	s.torque = true
	s.pushFor = 0
	mode := t.get(aMode)
	if mode == xseries.ModePosition {
		// Present Position is reset into 0..4095 when torque is enabled
		// in Position mode [e-Manual, Present Position note].
		s.pos = wrapTurn(s.pos)
	}
	if isPositionMode(mode) {
		// Hold where it stands rather than jump to a stale goal.
		t.set(aGoalPos, int64(roundPulses(s.pos)))
		s.target, s.profiling = s.pos, false
	}
}

func (s *Servo) disableTorque() {
	s.torque = false
	s.tab.set(aTorque, 0)
	s.vel, s.profiling, s.target = 0, false, s.pos
	s.pushFor, s.pushing = 0, false
}

// startMove begins a position profile. A loaded carousel with friction
// stops Deadband short of the goal in the direction of travel, and does not
// start at all when it is already within the deadband.
func (s *Servo) startMove(goal int64) {
	g := float64(goal)
	d := g - s.pos
	db := float64(s.cfg.Deadband) * xseries.PulsesPerRev / 360
	if math.Abs(d) <= db {
		s.target, s.profiling = s.pos, false
		return
	}
	s.target = g - math.Copysign(db, d)
	s.profiling = true
}

func isPositionMode(m int64) bool {
	return m == xseries.ModePosition || m == xseries.ModeExtendedPosition || m == xseries.ModeCurrentPosition
}

// wrapTurn maps a pulse count into 0..4095.
func wrapTurn(p float64) float64 {
	p = math.Mod(p, xseries.PulsesPerRev)
	if p < 0 {
		p += xseries.PulsesPerRev
	}
	if p >= xseries.PulsesPerRev-0.5 { // rounds to 4096: that is 0
		p = 0
	}
	return p
}

func roundPulses(p float64) int32 { return int32(math.Round(p)) }
