package sim_test

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/driver/protocol"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// e-Manual Protocol 2.0 vectors (docs/dynamixel.md §2).
const (
	v1PingID1     = "FF FF FD 00 01 03 00 01 19 4E"
	v2PingReply   = "FF FF FD 00 01 07 00 55 00 06 04 26 65 5D"
	v3PingBcast   = "FF FF FD 00 FE 03 00 01 31 42"
	v4ReadPos     = "FF FF FD 00 01 07 00 02 84 00 04 00 1D 15"
	v5PosReply166 = "FF FF FD 00 01 08 00 55 00 A6 00 00 00 8C C0"
	v6WriteGoal   = "FF FF FD 00 01 09 00 03 74 00 00 02 00 00 CA 89"
	v7EmptyOK     = "FF FF FD 00 01 04 00 55 00 A1 0C"
	v11Reboot     = "FF FF FD 00 01 03 00 08 2F 4E"
)

func TestPingMatchesEManualVector(t *testing.T) {
	r := newRig(t, sim.Config{Model: 1030, Firmware: 38})
	for _, req := range []string{v1PingID1, v3PingBcast} {
		got := r.raw(hexBytes(t, req), time.Second)
		if want := hexBytes(t, v2PingReply); !bytes.Equal(got, want) {
			t.Errorf("ping %s: reply % X, want % X", req, got, want)
		}
	}
}

func TestReadAndWriteMatchEManualVectors(t *testing.T) {
	r := newRig(t, sim.Config{Firmware: 38, InitialPosition: xseries.PulsesToDegrees(166)})
	if got, want := r.raw(hexBytes(t, v4ReadPos), time.Second), hexBytes(t, v5PosReply166); !bytes.Equal(got, want) {
		t.Errorf("read present position: % X, want % X", got, want)
	}
	if got, want := r.raw(hexBytes(t, v6WriteGoal), time.Second), hexBytes(t, v7EmptyOK); !bytes.Equal(got, want) {
		t.Errorf("write goal position: % X, want % X", got, want)
	}
	if n := r.s.WriteCount(116); n != 1 {
		t.Errorf("WriteCount(116) = %d, want 1", n)
	}
	if got := r.read4s(116); got != 512 {
		t.Errorf("goal position reads %d, want 512", got)
	}
}

func TestOtherIDsAndBroadcastWritesGetNoReply(t *testing.T) {
	r := newRig(t, sim.Config{})
	if b := r.raw(protocol.Ping(2).Marshal(), 100*time.Millisecond); b != nil {
		t.Errorf("ping to id 2 answered: % X", b)
	}
	if b := r.raw(protocol.Write(protocol.BroadcastID, 65, []byte{1}).Marshal(), 100*time.Millisecond); b != nil {
		t.Errorf("broadcast write answered: % X", b)
	}
	if r.read1(65) != 1 {
		t.Error("broadcast write of LED was not applied")
	}
}

func TestWriteRules(t *testing.T) {
	r := newRig(t, sim.Config{})
	r.mustWrite(64, 1) // torque on
	cases := []struct {
		name string
		addr uint16
		data []byte
		want protocol.ErrorCode
	}{
		{"EEPROM with torque on", 11, []byte{16}, protocol.CodeAccess},
		{"read-only Present Position", 132, le32(100), protocol.CodeAccess},
		{"read-only Hardware Error Status", 70, []byte{0}, protocol.CodeAccess},
		{"middle of an item", 117, []byte{1, 2, 3}, protocol.CodeAccess},
		{"undefined address", 14, []byte{1}, protocol.CodeAccess},
		{"past the table", 700, []byte{1}, protocol.CodeAccess},
		{"short Goal Position", 116, []byte{0x00, 0x02}, protocol.CodeDataLength},
		{"no data", 116, nil, protocol.CodeDataLength},
		{"Goal Position above Max Position Limit", 116, le32(5000), protocol.CodeDataLimit},
		{"negative Goal Position in mode 3", 116, le32(-1), protocol.CodeDataLimit},
		{"Goal PWM above PWM Limit", 100, le16(886), protocol.CodeDataRange},
		{"Profile Velocity above 32767", 112, le32(32768), protocol.CodeDataRange},
		{"Torque Enable 2", 64, []byte{2}, protocol.CodeDataRange},
		{"Status Return Level 3", 68, []byte{3}, protocol.CodeDataRange},
	}
	for _, c := range cases {
		st := r.write(c.addr, c.data...)
		if got := protocol.ErrorCode(st.Error &^ protocol.AlertBit); got != c.want {
			t.Errorf("%s: error 0x%02X, want 0x%02X", c.name, got, c.want)
		}
	}
	if got := r.read4s(116); got == 5000 || got == -1 {
		t.Errorf("a refused write changed Goal Position to %d", got)
	}

	r.mustWrite(64, 0) // torque off: EEPROM writable
	eeprom := []struct {
		name string
		addr uint16
		data []byte
		want protocol.ErrorCode
	}{
		{"Operating Mode 2", 11, []byte{2}, protocol.CodeDataRange},
		{"Current Limit 2000 (upstream bug, docs/dynamixel.md §8.4)", 38, le16(2000), protocol.CodeDataRange},
		{"Current Limit 1194", 38, le16(1194), protocol.CodeDataRange},
		{"Max Position Limit 4096", 48, le32(4096), protocol.CodeDataRange},
		{"Operating Mode 16", 11, []byte{16}, 0},
		{"PWM Limit 300", 36, le16(300), 0},
		{"Goal PWM 400 over the new PWM Limit", 100, le16(400), protocol.CodeDataLimit},
		{"Goal PWM -301", 100, le16(-301), protocol.CodeDataLimit},
		{"Goal PWM -300", 100, le16(-300), 0},
		{"Return Delay Time 0", 9, []byte{0}, 0},
	}
	for _, c := range eeprom {
		st := r.write(c.addr, c.data...)
		if got := protocol.ErrorCode(st.Error); got != c.want {
			t.Errorf("%s: error 0x%02X, want 0x%02X", c.name, got, c.want)
		}
	}
}

func TestXL430HasNoCurrentItems(t *testing.T) {
	r := newRig(t, sim.Config{Model: 1060})
	if st := r.write(38, le16(100)...); protocol.ErrorCode(st.Error) != protocol.CodeAccess {
		t.Errorf("XL430 Current Limit write: error 0x%02X, want access error", st.Error)
	}
	if st := r.write(11, 0); protocol.ErrorCode(st.Error) != protocol.CodeDataRange {
		t.Errorf("XL430 current mode 0: error 0x%02X, want data range", st.Error)
	}
	if got := r.read1(31); got != 72 {
		t.Errorf("XL430 Temperature Limit %d, want 72", got)
	}
}

func TestUnknownInstructionAndMalformedParams(t *testing.T) {
	r := newRig(t, sim.Config{})
	cases := []struct {
		p    protocol.Packet
		want protocol.ErrorCode
	}{
		{protocol.Packet{ID: 1, Instruction: 0x7F}, protocol.CodeInstruction},
		{protocol.Packet{ID: 1, Instruction: protocol.InstAction}, protocol.CodeInstruction}, // no Reg Write
		{protocol.Packet{ID: 1, Instruction: protocol.InstRead, Params: []byte{132, 0}}, protocol.CodeDataLength},
		{protocol.Packet{ID: 1, Instruction: protocol.InstWrite, Params: []byte{64}}, protocol.CodeDataLength},
		{protocol.Read(1, 600, 100), protocol.CodeAccess},
		{protocol.FactoryReset(1, 0x33), protocol.CodeDataRange},
	}
	for _, c := range cases {
		if st := r.do(c.p); protocol.ErrorCode(st.Error) != c.want {
			t.Errorf("%v: error 0x%02X, want 0x%02X", c.p, st.Error, c.want)
		}
	}
	if n := r.s.Requests()[0x7F]; n != 1 {
		t.Errorf("Requests()[0x7F] = %d, want 1", n)
	}
}

func TestReadsAnyRangeUnknownBytesZero(t *testing.T) {
	r := newRig(t, sim.Config{})
	b := r.read(0, 148)
	if b[0] != 0x06 || b[1] != 0x04 {
		t.Errorf("model number bytes % X, want 06 04", b[:2])
	}
	if b[14] != 0 || b[15] != 0 {
		t.Errorf("undefined bytes 14-15 read % X, want 0", b[14:16])
	}
	if got := r.read(600, 62); len(got) != 62 {
		t.Errorf("indirect area read %d bytes", len(got))
	}
}

func TestModeChangeResetsGoalPWMAndProfiles(t *testing.T) {
	r := newRig(t, sim.Config{})
	r.mustWrite(112, le32(50)...)
	r.mustWrite(108, le32(10)...)
	r.mustWrite(100, le16(0)...)
	r.mustWrite(11, 16) // position -> PWM
	if got := r.read2s(100); got != 885 {
		t.Errorf("Goal PWM after mode change = %d, want PWM Limit 885", got)
	}
	if pv, pa := r.read4s(112), r.read4s(108); pv != 0 || pa != 0 {
		t.Errorf("profiles after mode change = %d/%d, want 0/0", pv, pa)
	}
	// Rewriting the same mode changes nothing.
	r.mustWrite(100, le16(0)...)
	r.mustWrite(11, 16)
	if got := r.read2s(100); got != 0 {
		t.Errorf("Goal PWM after writing the same mode = %d, want 0", got)
	}
}

// TestPWMKickWhenTorqueEnabledBeforeZeroingGoalPWM is upstream bug, docs/dynamixel.md §8.13:
// enabling torque right after the mode change drives at PWM Limit.
func TestPWMKickWhenTorqueEnabledBeforeZeroingGoalPWM(t *testing.T) {
	r := newRig(t, sim.Config{Deadband: -1})
	r.mustWrite(11, 16)
	start := r.s.Snapshot().Position
	r.mustWrite(64, 1)
	time.Sleep(60 * time.Millisecond)
	r.mustWrite(100, le16(0)...)
	if moved := r.s.Snapshot().Position - start; moved < 0.5 {
		t.Errorf("full-PWM kick moved only %.2f°", moved)
	}
}

func TestRegWriteAction(t *testing.T) {
	r := newRig(t, sim.Config{})
	if st := r.do(protocol.RegWrite(1, 65, []byte{1})); st.Err() != nil {
		t.Fatal(st.Err())
	}
	if r.read1(69) != 1 || r.read1(65) != 0 {
		t.Fatal("reg write applied early or Registered Instruction not set")
	}
	if st := r.do(protocol.Action(1)); st.Err() != nil {
		t.Fatal(st.Err())
	}
	if r.read1(69) != 0 || r.read1(65) != 1 {
		t.Error("action did not apply the registered write")
	}
}

func TestSyncAndBulk(t *testing.T) {
	r := newRig(t, sim.Config{InitialPosition: xseries.PulsesToDegrees(2079)})
	got := r.raw(protocol.SyncRead(132, 4, 3, 1).Marshal(), time.Second)
	p, _, err := protocol.Decode(got)
	if err != nil || p.ID != 1 || !bytes.Equal(p.Params, []byte{0, 0x1F, 0x08, 0, 0}) {
		t.Errorf("sync read reply % X (%v)", got, err)
	}
	if b := r.raw(protocol.SyncRead(132, 4, 2, 3).Marshal(), 100*time.Millisecond); b != nil {
		t.Errorf("sync read without our id answered % X", b)
	}
	sw, err := protocol.SyncWrite(65, protocol.SyncData{ID: 2, Data: []byte{0}}, protocol.SyncData{ID: 1, Data: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	if b := r.raw(sw.Marshal(), 100*time.Millisecond); b != nil {
		t.Errorf("sync write answered % X", b)
	}
	if r.read1(65) != 1 {
		t.Error("sync write not applied")
	}
	// Bulk Read: id 1 reads 144 (2 bytes): V15 asks id 1 for voltage.
	bulk := hexBytes(t, "FF FF FD 00 FE 0D 00 92 01 90 00 02 00 02 92 00 01 00 1A 05")
	p, _, err = protocol.Decode(r.raw(bulk, time.Second))
	if err != nil || len(p.Params) != 3 || p.Params[1] != 120 {
		t.Errorf("bulk read voltage reply %v (%v), want 120 (12.0 V)", p, err)
	}
}

func TestStatusReturnLevel(t *testing.T) {
	r := newRig(t, sim.Config{})
	r.mustWrite(68, 1) // ping and read only
	if b := r.raw(protocol.Write(1, 65, []byte{1}).Marshal(), 100*time.Millisecond); b != nil {
		t.Errorf("write answered at level 1: % X", b)
	}
	if r.read1(65) != 1 {
		t.Error("write not applied at level 1")
	}
	// Back to level 2 (the write itself is silent), then writes answer again.
	if b := r.raw(protocol.Write(1, 68, []byte{2}).Marshal(), 100*time.Millisecond); b != nil {
		t.Errorf("write answered at level 1: % X", b)
	}
	r.mustWrite(65, 0)
	r.mustWrite(68, 0) // level 0: only ping answers
	if b := r.raw(protocol.Read(1, 65, 1).Marshal(), 100*time.Millisecond); b != nil {
		t.Errorf("read answered at level 0: % X", b)
	}
	if st := r.do(protocol.Ping(1)); st.Err() != nil {
		t.Errorf("ping at level 0: %v", st.Err())
	}
}

func TestCorruptReplies(t *testing.T) {
	r := newRig(t, sim.Config{})
	r.s.CorruptNextReplies(2)
	for i := range 2 {
		b := r.raw(protocol.Ping(1).Marshal(), time.Second)
		if _, _, err := protocol.Decode(b); !errors.Is(err, protocol.ErrCRC) {
			t.Errorf("reply %d: % X decodes with %v, want CRC error", i, b, err)
		}
	}
	if st := r.do(protocol.Ping(1)); st.Err() != nil {
		t.Errorf("third reply: %v", st.Err())
	}
}

func TestGarbageBeforeRequestIsSkipped(t *testing.T) {
	r := newRig(t, sim.Config{Firmware: 38})
	req := append([]byte{0x00, 0xFF, 0x12, 0xFF, 0xFF, 0xFD, 0xFD, 0x55, 0xFF}, hexBytes(t, v1PingID1)...)
	if got, want := r.raw(req, time.Second), hexBytes(t, v2PingReply); !bytes.Equal(got, want) {
		t.Errorf("reply % X, want % X", got, want)
	}
}

func TestBadCRCRequestGetsCRCError(t *testing.T) {
	r := newRig(t, sim.Config{})
	req := hexBytes(t, v6WriteGoal)
	req[len(req)-1] ^= 0x01
	b := r.raw(req, time.Second)
	p, _, err := protocol.Decode(b)
	if err != nil {
		t.Fatalf("reply % X: %v", b, err)
	}
	s, _ := p.AsStatus()
	if protocol.ErrorCode(s.Error) != protocol.CodeCRC {
		t.Errorf("error 0x%02X, want CRC error 0x03", s.Error)
	}
	if r.s.WriteCount(116) != 0 {
		t.Error("a corrupt write was applied")
	}
}

func TestHostileStreamNeverWedges(t *testing.T) {
	r := newRig(t, sim.Config{})
	rng := rand.New(rand.NewSource(1))
	junk := make([]byte, 64<<10)
	rng.Read(junk)
	// Sprinkle headers with huge and tiny lengths and wrong ids.
	for i := 0; i+7 < len(junk); i += 997 {
		copy(junk[i:], []byte{0xFF, 0xFF, 0xFD, 0x00, byte(rng.Intn(256)), 0xFF, 0xFF})
	}
	if _, err := r.port.Write(junk); err != nil {
		t.Fatal(err)
	}
	// An incomplete packet may be pending; it goes stale and the servo
	// resynchronises on the next request.
	testenv.Eventually(t, 5*time.Second, "a ping answered after the junk", func() bool {
		b := r.raw(protocol.Ping(1).Marshal(), 100*time.Millisecond)
		p, _, err := protocol.Decode(b)
		return err == nil && p.ID == 1 && len(p.Params) == 4 && p.Params[0] == 0
	})
}

func TestFactoryResetRestoresTable(t *testing.T) {
	r := newRig(t, sim.Config{BootTime: 20 * time.Millisecond})
	r.mustWrite(9, 0)
	r.mustWrite(7, 5)
	if st := r.do(protocol.FactoryReset(5, protocol.ResetAllButID)); st.Err() != nil {
		t.Fatal(st.Err())
	}
	time.Sleep(40 * time.Millisecond)
	st := r.do(protocol.Read(5, 9, 1))
	if st.Err() != nil || st.Data[0] != 250 {
		t.Errorf("Return Delay Time after reset: %v %v, want 250", st.Data, st.Err())
	}
	if st := r.do(protocol.FactoryReset(5, protocol.ResetAll)); st.Err() != nil {
		t.Fatal(st.Err())
	}
	time.Sleep(40 * time.Millisecond)
	if st := r.do(protocol.Ping(1)); st.Err() != nil || st.ID != 1 {
		t.Errorf("after Reset All the id is not 1: %+v", st)
	}
}
