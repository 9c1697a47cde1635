package sim

import (
	"encoding/binary"
	"slices"
	"time"

	"github.com/plate-resort/plate-resort/driver/protocol"
)

// outcome is what one request produces: at most one status packet (a single
// servo never sends more), the Return Delay Time to wait before it, and the
// OnWrite calls to make.
type outcome struct {
	reply []byte
	delay time.Duration
	hooks []hookCall
}

// handle processes one decoded instruction packet received at now.
func (s *Servo) handle(p protocol.Packet, now time.Time) outcome {
	out := s.handleLocked(p, now)
	if len(out.hooks) > 0 {
		s.mu.Lock()
		fn := s.onWrite
		s.mu.Unlock()
		for _, h := range out.hooks {
			if fn != nil {
				fn(h.addr, h.data, h.at)
			}
		}
	}
	return out
}

func (s *Servo) handleLocked(p protocol.Packet, now time.Time) outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(now)
	if s.unplugged || now.Before(s.silentTil) {
		return outcome{} // nobody is listening
	}
	id := byte(s.tab.get(aID))
	broadcast := p.ID == protocol.BroadcastID
	if p.ID != id && !broadcast {
		return outcome{}
	}
	s.requests[p.Instruction]++
	s.lastRequest = now
	var hooks []hookCall
	// The level in force when the request arrived decides its reply, even
	// if the request changes it.
	level := s.tab.get(aReturnLevel)
	code, data, isRead := s.dispatch(p, id, now, &hooks)
	out := outcome{hooks: hooks, delay: time.Duration(s.tab.get(aReturnDelay)) * 2 * time.Microsecond}
	if !replies(p, level, isRead) {
		return out
	}
	errByte := byte(code)
	if s.hwErr != 0 {
		errByte |= protocol.AlertBit
	}
	if code != 0 {
		data = nil
	}
	out.reply = s.marshalReply(protocol.Status(id, errByte, data))
	return out
}

// replies applies the reply rules [e-Manual protocol2 "Status Packet",
// control table "Status Return Level"]: broadcast instructions get no reply
// except Ping, Sync Read and Bulk Read (only from a listed id); level 0
// answers Ping only, level 1 Ping and reads, level 2 everything.
func replies(p protocol.Packet, level int64, isRead bool) bool {
	switch p.Instruction {
	case protocol.InstPing:
		return true
	case protocol.InstSyncRead, protocol.InstBulkRead:
		return isRead && level >= 1
	}
	if p.ID == protocol.BroadcastID {
		return false
	}
	if isRead {
		return level >= 1
	}
	return level >= 2
}

// marshalReply encodes a status packet, flipping its CRC when a
// CorruptNextReplies fault is pending.
func (s *Servo) marshalReply(p protocol.Packet) []byte {
	b := p.Marshal()
	if s.silenceAfter > 0 {
		s.silenceAfter--
		if s.silenceAfter == 0 {
			s.unplugged = true
		}
	}
	if s.corruptNext > 0 {
		s.corruptNext--
		b[len(b)-1] ^= 0xFF
	}
	return b
}

// dispatch runs one instruction. isRead reports that a reply carries data
// this servo was asked for (for Sync/Bulk Read: that it is in the list).
func (s *Servo) dispatch(p protocol.Packet, id byte, now time.Time, hooks *[]hookCall) (code protocol.ErrorCode, data []byte, isRead bool) {
	prm := p.Params
	switch p.Instruction {
	case protocol.InstPing:
		// Model Number (2 bytes LE) and Firmware Version [e-Manual, Ping].
		return 0, []byte{byte(s.cfg.Model), byte(s.cfg.Model >> 8), byte(s.tab.get(aFirmware))}, true
	case protocol.InstRead:
		if len(prm) != 4 {
			return protocol.CodeDataLength, nil, true
		}
		code, data := s.read(le16(prm[0:]), le16(prm[2:]), now)
		return code, data, true
	case protocol.InstWrite, protocol.InstRegWrite:
		if len(prm) < 3 {
			return protocol.CodeDataLength, nil, false
		}
		addr, val := le16(prm), prm[2:]
		if code := s.checkWrite(addr, val); code != 0 {
			return code, nil, false
		}
		if p.Instruction == protocol.InstRegWrite {
			s.registered = &regWrite{addr, append([]byte(nil), val...)}
			s.tab.set(aRegistered, 1)
			return 0, nil, false
		}
		s.applyWrite(addr, val, now, hooks)
		return 0, nil, false
	case protocol.InstAction:
		rw := s.registered
		if rw == nil {
			return protocol.CodeInstruction, nil, false // Action without Reg Write
		}
		s.registered = nil
		s.tab.set(aRegistered, 0)
		if code := s.checkWrite(rw.addr, rw.data); code != 0 {
			return code, nil, false // e.g. torque enabled since the Reg Write
		}
		s.applyWrite(rw.addr, rw.data, now, hooks)
		return 0, nil, false
	case protocol.InstReboot:
		s.reboot(now)
		return 0, nil, false
	case protocol.InstFactoryReset:
		return s.factoryReset(p, now), nil, false
	case protocol.InstClear:
		return s.clearMultiTurn(prm), nil, false
	case protocol.InstSyncRead:
		if len(prm) < 4 || !slices.Contains(prm[4:], id) {
			return 0, nil, false
		}
		code, data := s.read(le16(prm[0:]), le16(prm[2:]), now)
		return code, data, true
	case protocol.InstSyncWrite:
		s.syncWrite(prm, id, now, hooks)
		return 0, nil, false
	case protocol.InstBulkRead:
		for i := 0; i+5 <= len(prm); i += 5 {
			if prm[i] == id {
				code, data := s.read(le16(prm[i+1:]), le16(prm[i+3:]), now)
				return code, data, true
			}
		}
		return 0, nil, false
	case protocol.InstBulkWrite:
		s.bulkWrite(prm, id, now, hooks)
		return 0, nil, false
	}
	return protocol.CodeInstruction, nil, false
}

// read returns length bytes of the table from addr; bytes no modelled item
// covers read as 0. A range past the end of the table is an Access Error.
func (s *Servo) read(addr, length uint16, now time.Time) (protocol.ErrorCode, []byte) {
	end := int(addr) + int(length)
	if end > tableSize {
		return protocol.CodeAccess, nil
	}
	s.syncPresent(now)
	return 0, append([]byte(nil), s.tab.mem[addr:end]...)
}

func (s *Servo) syncWrite(prm []byte, id byte, now time.Time, hooks *[]hookCall) {
	if len(prm) < 4 {
		return
	}
	addr, n := le16(prm), int(le16(prm[2:]))
	for i := 4; i+1+n <= len(prm); i += 1 + n {
		if prm[i] == id {
			if s.checkWrite(addr, prm[i+1:i+1+n]) == 0 {
				s.applyWrite(addr, prm[i+1:i+1+n], now, hooks)
			}
			return
		}
	}
}

func (s *Servo) bulkWrite(prm []byte, id byte, now time.Time, hooks *[]hookCall) {
	for i := 0; i+5 <= len(prm); {
		addr, n := le16(prm[i+1:]), int(le16(prm[i+3:]))
		if i+5+n > len(prm) {
			return
		}
		if prm[i] == id {
			if data := prm[i+5 : i+5+n]; s.checkWrite(addr, data) == 0 {
				s.applyWrite(addr, data, now, hooks)
			}
			return
		}
		i += 5 + n
	}
}

// reboot resets RAM (clearing Hardware Error Status and torque) and keeps
// the servo silent for BootTime. The reply is already built by then: the
// servo answers first, then restarts [e-Manual protocol2, "Reboot"].
func (s *Servo) reboot(now time.Time) {
	s.advance(now)
	s.resetRAM()
	s.bootAt = now.Add(s.cfg.BootTime)
	s.silentTil = s.bootAt
}

// factoryReset implements the three options; a broadcast Reset All is
// ignored [e-Manual protocol2, "Factory Reset"].
func (s *Servo) factoryReset(p protocol.Packet, now time.Time) protocol.ErrorCode {
	if len(p.Params) != 1 {
		return protocol.CodeDataLength
	}
	opt := p.Params[0]
	switch opt {
	case protocol.ResetAll, protocol.ResetAllButID, protocol.ResetAllButIDAndBaud:
	default:
		return protocol.CodeDataRange
	}
	if p.ID == protocol.BroadcastID && opt == protocol.ResetAll {
		return 0
	}
	s.resetEEPROM(opt != protocol.ResetAll, opt == protocol.ResetAllButIDAndBaud)
	s.reboot(now)
	return 0
}

// clearMultiTurn is the Clear instruction with its fixed key 01 44 58 4C 22;
// it only works while the servo is stopped [e-Manual protocol2, "Clear"].
func (s *Servo) clearMultiTurn(prm []byte) protocol.ErrorCode {
	if !slices.Equal(prm, []byte{0x01, 0x44, 0x58, 0x4C, 0x22}) {
		return protocol.CodeDataRange
	}
	if s.vel != 0 || s.profiling {
		return protocol.CodeResultFail
	}
	s.pos = wrapTurn(s.pos)
	return 0
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
