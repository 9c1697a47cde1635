package sim

import "github.com/plate-resort/plate-resort/driver/xseries"

// resetEEPROM loads the factory EEPROM values [e-Manual control table,
// "Initial Value"]. keepID and keepBaud implement the Factory Reset options
// 0x01 and 0x02 [e-Manual protocol2, "Factory Reset"].
func (s *Servo) resetEEPROM(keepID, keepBaud bool) {
	t, md := s.tab, s.md
	id, baud := t.get(aID), t.get(aBaud)
	t.set(aModel, int64(s.cfg.Model))
	t.set(aFirmware, int64(s.cfg.Firmware))
	t.set(aID, 1)
	t.set(aBaud, 1) // 57600
	t.set(aReturnDelay, 250)
	t.set(aDriveMode, 0)
	t.set(aMode, xseries.ModePosition)
	t.set(aSecondaryID, 255)
	t.set(aProtocol, 2)
	t.set(aHoming, 0)
	t.set(aMovingThresh, 10)
	t.set(aTempLimit, int64(md.tempLimit))
	t.set(aMaxVoltage, int64(md.maxVoltage))
	t.set(aMinVoltage, int64(md.minVoltage))
	t.set(aPWMLimit, 885)
	t.set(aCurrentLimit, 1193)
	t.set(aVelLimit, int64(md.velocityLimit))
	t.set(aMaxPos, 4095)
	t.set(aMinPos, 0)
	t.set(aStartup, 0)
	t.set(aShutdown, int64(xseries.DefaultShutdown))
	if keepID {
		t.set(aID, id)
	}
	if keepBaud {
		t.set(aBaud, baud)
	}
}

// resetRAM loads the power-up RAM values; it runs at power-up and after
// Reboot. Hardware Error Status is RAM, so a reboot clears it (the only way
// out of a shutdown, docs/dynamixel.md §5).
func (s *Servo) resetRAM() {
	s.watchdogTripped = false
	t := s.tab
	for addr := aTorque; addr < tableSize; addr++ {
		t.mem[addr] = 0
	}
	t.set(aReturnLevel, 2)
	if s.md.hasCurrent { // XM430 gains
		t.set(aVelI, 1920)
		t.set(aVelP, 100)
		t.set(aPosD, 0)
		t.set(aPosP, 800)
	} else { // XL430 gains
		t.set(aVelI, 1000)
		t.set(aVelP, 100)
		t.set(aPosD, 4000)
		t.set(aPosP, 640)
	}
	t.set(aGoalPWM, t.get(aPWMLimit))
	t.set(aGoalCurrent, t.get(aCurrentLimit))
	s.hwErr = 0
	s.registered = nil
	s.torque = false
	s.vel = 0
	// Present Position is reset into one turn at power-up [e-Manual,
	// Present Position note], and the goal starts where the servo stands.
	s.pos = wrapTurn(s.pos)
	t.set(aGoalPos, int64(roundPulses(s.pos)))
	s.target, s.profiling = s.pos, false
}
