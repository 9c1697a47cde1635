package sim

import (
	"encoding/binary"
	"slices"
)

// tableSize covers the whole X-series control table up to the last Indirect
// Data byte (661) [e-Manual xm430-w210 "Control Table of RAM Area"]. Reads
// anywhere inside it work; bytes of items the simulator does not model
// (Model Information, indirect address/data) read as 0.
const tableSize = 662

// reg is one control-table item as the simulator enforces it. lo/hi is the
// item's fixed range from the e-Manual table; writes outside it get Data
// Range Error (0x04). Items whose range is another register (Goal PWM,
// Goal Current, Goal Velocity, Goal Position) are checked in limitOf and get
// Data Limit Error (0x06): "data to be written exceeds the limit value"
// [e-Manual protocol2, Status Packet error table].
type reg struct {
	name     string
	addr     uint16
	size     int
	signed   bool
	eeprom   bool
	writable bool
	lo, hi   int64
}

// Addresses the simulator acts on (docs/dynamixel.md §6).
const (
	aModel        = 0
	aFirmware     = 6
	aID           = 7
	aBaud         = 8
	aReturnDelay  = 9
	aDriveMode    = 10
	aMode         = 11
	aSecondaryID  = 12
	aProtocol     = 13
	aHoming       = 20
	aMovingThresh = 24
	aTempLimit    = 31
	aMaxVoltage   = 32
	aMinVoltage   = 34
	aPWMLimit     = 36
	aCurrentLimit = 38
	aVelLimit     = 44
	aMaxPos       = 48
	aMinPos       = 52
	aStartup      = 60
	aShutdown     = 63
	aTorque       = 64
	aLED          = 65
	aReturnLevel  = 68
	aRegistered   = 69
	aHWError      = 70
	aVelI         = 76
	aVelP         = 78
	aPosD         = 80
	aPosI         = 82
	aPosP         = 84
	aFF2          = 88
	aFF1          = 90
	aWatchdog     = 98
	aGoalPWM      = 100
	aGoalCurrent  = 102
	aGoalVelocity = 104
	aProfileAcc   = 108
	aProfileVel   = 112
	aGoalPos      = 116
	aTick         = 120
	aMoving       = 122
	aMovingStatus = 123
	aPresentPWM   = 124
	aPresentCur   = 126
	aPresentVel   = 128
	aPresentPos   = 132
	aVelTraj      = 136
	aPosTraj      = 140
	aVoltage      = 144
	aTemperature  = 146
	aBackupReady  = 147
)

const (
	ro = false
	rw = true
)

// regs is the table of the XM430-W210 e-Manual page; the XL430 lacks Current
// Limit and Goal Current (removed per model in newTable).
var regs = []reg{
	{"Model Number", aModel, 2, false, true, ro, 0, 0},
	{"Firmware Version", aFirmware, 1, false, true, ro, 0, 0},
	{"ID", aID, 1, false, true, rw, 0, 252},
	{"Baud Rate", aBaud, 1, false, true, rw, 0, 7},
	{"Return Delay Time", aReturnDelay, 1, false, true, rw, 0, 254},
	{"Drive Mode", aDriveMode, 1, false, true, rw, 0, 13}, // bits 0, 2, 3; checked in validate
	{"Operating Mode", aMode, 1, false, true, rw, 0, 16},  // only 0,1,3,4,5,16; checked in validate
	{"Secondary ID", aSecondaryID, 1, false, true, rw, 0, 255},
	{"Protocol Type", aProtocol, 1, false, true, rw, 1, 2},
	{"Homing Offset", aHoming, 4, true, true, rw, -1044479, 1044479},
	{"Moving Threshold", aMovingThresh, 4, false, true, rw, 0, 1023},
	{"Temperature Limit", aTempLimit, 1, false, true, rw, 0, 100},
	{"Max Voltage Limit", aMaxVoltage, 2, false, true, rw, 95, 160},
	{"Min Voltage Limit", aMinVoltage, 2, false, true, rw, 95, 160},
	{"PWM Limit", aPWMLimit, 2, false, true, rw, 0, 885},
	{"Current Limit", aCurrentLimit, 2, false, true, rw, 0, 1193},
	{"Velocity Limit", aVelLimit, 4, false, true, rw, 0, 1023},
	{"Max Position Limit", aMaxPos, 4, false, true, rw, 0, 4095},
	{"Min Position Limit", aMinPos, 4, false, true, rw, 0, 4095},
	{"Startup Configuration", aStartup, 1, false, true, rw, 0, 3},
	{"Shutdown", aShutdown, 1, false, true, rw, 0, 255},
	{"Torque Enable", aTorque, 1, false, false, rw, 0, 1},
	{"LED", aLED, 1, false, false, rw, 0, 1},
	{"Status Return Level", aReturnLevel, 1, false, false, rw, 0, 2},
	{"Registered Instruction", aRegistered, 1, false, false, ro, 0, 0},
	{"Hardware Error Status", aHWError, 1, false, false, ro, 0, 0},
	{"Velocity I Gain", aVelI, 2, false, false, rw, 0, 16383},
	{"Velocity P Gain", aVelP, 2, false, false, rw, 0, 16383},
	{"Position D Gain", aPosD, 2, false, false, rw, 0, 16383},
	{"Position I Gain", aPosI, 2, false, false, rw, 0, 16383},
	{"Position P Gain", aPosP, 2, false, false, rw, 0, 16383},
	{"Feedforward 2nd Gain", aFF2, 2, false, false, rw, 0, 16383},
	{"Feedforward 1st Gain", aFF1, 2, false, false, rw, 0, 16383},
	{"Bus Watchdog", aWatchdog, 1, false, false, rw, 0, 127},
	{"Goal PWM", aGoalPWM, 2, true, false, rw, -885, 885},
	{"Goal Current", aGoalCurrent, 2, true, false, rw, -1193, 1193},
	{"Goal Velocity", aGoalVelocity, 4, true, false, rw, -1023, 1023},
	{"Profile Acceleration", aProfileAcc, 4, false, false, rw, 0, 32767},
	{"Profile Velocity", aProfileVel, 4, false, false, rw, 0, 32767},
	{"Goal Position", aGoalPos, 4, true, false, rw, -1048575, 1048575},
	{"Realtime Tick", aTick, 2, false, false, ro, 0, 0},
	{"Moving", aMoving, 1, false, false, ro, 0, 0},
	{"Moving Status", aMovingStatus, 1, false, false, ro, 0, 0},
	{"Present PWM", aPresentPWM, 2, true, false, ro, 0, 0},
	{"Present Current", aPresentCur, 2, true, false, ro, 0, 0},
	{"Present Velocity", aPresentVel, 4, true, false, ro, 0, 0},
	{"Present Position", aPresentPos, 4, true, false, ro, 0, 0},
	{"Velocity Trajectory", aVelTraj, 4, true, false, ro, 0, 0},
	{"Position Trajectory", aPosTraj, 4, true, false, ro, 0, 0},
	{"Present Input Voltage", aVoltage, 2, false, false, ro, 0, 0},
	{"Present Temperature", aTemperature, 1, false, false, ro, 0, 0},
	{"Backup Ready", aBackupReady, 1, false, false, ro, 0, 0},
}

// table is the register memory plus, for every byte, the item that owns it.
type table struct {
	mem   [tableSize]byte
	owner [tableSize]int16 // index into items, -1 for bytes no item covers
	items []reg
}

func newTable(md modelDefaults) *table {
	t := &table{}
	for _, r := range regs {
		if !md.hasCurrent && (r.addr == aCurrentLimit || r.addr == aGoalCurrent) {
			continue // XL430: these addresses do not exist (access error)
		}
		if r.addr == aMaxVoltage || r.addr == aMinVoltage {
			// XM430 95-160, XL430 60-140: the factory limits are the range ends.
			r.lo, r.hi = int64(md.minVoltage), int64(md.maxVoltage)
		}
		t.items = append(t.items, r)
	}
	for i := range t.owner {
		t.owner[i] = -1
	}
	for i, r := range t.items {
		for b := range r.size {
			t.owner[int(r.addr)+b] = int16(i)
		}
	}
	return t
}

func (t *table) item(addr uint16) (reg, bool) {
	i := slices.IndexFunc(t.items, func(r reg) bool { return r.addr == addr })
	if i < 0 {
		return reg{}, false
	}
	return t.items[i], true
}

// get decodes the item at addr (sign-extended when signed).
func (t *table) get(addr uint16) int64 {
	r, ok := t.item(addr)
	if !ok {
		return 0
	}
	return decodeLE(t.mem[addr:int(addr)+r.size], r.signed)
}

// set stores v into the item at addr, truncating to its size.
func (t *table) set(addr uint16, v int64) {
	r, ok := t.item(addr)
	if !ok {
		return
	}
	putLE(t.mem[addr:int(addr)+r.size], v)
}

func decodeLE(b []byte, signed bool) int64 {
	switch len(b) {
	case 1:
		if signed {
			return int64(int8(b[0]))
		}
		return int64(b[0])
	case 2:
		v := binary.LittleEndian.Uint16(b)
		if signed {
			return int64(int16(v))
		}
		return int64(v)
	case 4:
		v := binary.LittleEndian.Uint32(b)
		if signed {
			return int64(int32(v))
		}
		return int64(v)
	}
	return 0
}

func putLE(b []byte, v int64) {
	switch len(b) {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	}
}
