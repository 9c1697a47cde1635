package sim

import (
	"time"

	"github.com/plate-resort/plate-resort/driver/xseries"
)

// Faults on demand. Each is safe to call while the servo is serving.

// SetUnplugged makes the servo stop answering at all (and ignore what it
// receives), as when its cable or 12 V supply is gone: the host sees
// timeouts. SetUnplugged(false) brings it back with its state unchanged.
func (s *Servo) SetUnplugged(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unplugged = on
}

// SilenceAfter lets the servo send n more status packets and then stop
// answering, as SetUnplugged(true): a link that dies in the middle of a
// sequence such as connect. SetUnplugged(false) brings it back.
func (s *Servo) SilenceAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silenceAfter = max(n, 0)
}

// CorruptNextReplies flips the CRC of the next n status packets.
func (s *Servo) CorruptNextReplies(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.corruptNext = max(n, 0)
}

// TriggerOverload raises Overload (Hardware Error Status bit 0x20): torque
// is forced off, every status packet carries the alert bit 0x80, and only
// the Reboot instruction clears it.
func (s *Servo) TriggerOverload() { s.trigger(xseries.HWOverload) }

// TriggerOverheat raises Overheating (bit 0x04) the same way.
func (s *Servo) TriggerOverheat() { s.trigger(xseries.HWOverheating) }

func (s *Servo) trigger(bits xseries.HardwareError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(time.Now())
	s.latch(bits)
}

// StallAt puts (on=true) or removes (on=false) a mechanical obstacle at an
// angle: the position cannot pass it, and pushing against it with torque on
// for more than 2 s raises Overload as the real servo would (when Shutdown
// has the overload bit, the factory default).
func (s *Servo) StallAt(deg xseries.Degrees, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(time.Now())
	p := float64(xseries.Normalize(deg)) * pulsesPerDeg
	out := s.obstacles[:0]
	for _, ob := range s.obstacles {
		if ob != p {
			out = append(out, ob)
		}
	}
	s.obstacles = out
	if on {
		s.obstacles = append(s.obstacles, p)
	}
}
