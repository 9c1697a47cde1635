package protocol

import "fmt"

// Instruction is the instruction byte of a packet [e-Manual, "Instruction"].
type Instruction byte

const (
	InstPing         Instruction = 0x01
	InstRead         Instruction = 0x02
	InstWrite        Instruction = 0x03
	InstRegWrite     Instruction = 0x04
	InstAction       Instruction = 0x05
	InstFactoryReset Instruction = 0x06
	InstReboot       Instruction = 0x08
	InstClear        Instruction = 0x10
	InstStatus       Instruction = 0x55 // the instruction byte of every status (reply) packet
	InstSyncRead     Instruction = 0x82
	InstSyncWrite    Instruction = 0x83
	InstBulkRead     Instruction = 0x92
	InstBulkWrite    Instruction = 0x93
)

var instNames = map[Instruction]string{
	InstPing: "ping", InstRead: "read", InstWrite: "write", InstRegWrite: "reg write",
	InstAction: "action", InstFactoryReset: "factory reset", InstReboot: "reboot",
	InstClear: "clear", InstStatus: "status", InstSyncRead: "sync read",
	InstSyncWrite: "sync write", InstBulkRead: "bulk read", InstBulkWrite: "bulk write",
}

func (i Instruction) String() string {
	if n, ok := instNames[i]; ok {
		return n
	}
	return fmt.Sprintf("instruction 0x%02X", byte(i))
}

// Special ids [e-Manual, "ID"]: 0..252 address one device, 0xFE is broadcast.
// 0xFD and 0xFF never appear as ids because they would look like a header.
const (
	MaxID       = 0xFC
	BroadcastID = 0xFE
)

// FactoryReset options [e-Manual, "Factory Reset"].
const (
	ResetAll             byte = 0xFF
	ResetAllButID        byte = 0x01
	ResetAllButIDAndBaud byte = 0x02
)
