package protocol

import (
	"encoding/binary"
	"fmt"
)

// header is the fixed start of every packet, followed by the reserved byte 0x00.
var header = [3]byte{0xFF, 0xFF, 0xFD}

const (
	headerLen = 7 // FF FF FD 00 ID LEN_L LEN_H
	// MaxLength bounds the LENGTH field we accept. A single X-series device
	// never sends more than a few hundred bytes (the whole control table is
	// under 700); anything longer is line noise, not a packet.
	MaxLength = 1024
)

// Packet is one decoded packet with stuffing removed. For a status packet
// Instruction is InstStatus and Params[0] is the error byte.
type Packet struct {
	ID          byte
	Instruction Instruction
	Params      []byte
}

func (p Packet) String() string {
	return fmt.Sprintf("id %d %s % X", p.ID, p.Instruction, p.Params)
}

// Marshal returns the packet as sent on the wire: stuffed, with LENGTH
// counting the stuffed bytes and the CRC computed over them [e-Manual,
// "Packet Process", transmit steps 1-4].
func (p Packet) Marshal() []byte {
	body := make([]byte, 0, 1+len(p.Params)+len(p.Params)/3+1)
	body = append(body, byte(p.Instruction))
	body = append(body, p.Params...)
	body = stuff(body)
	n := len(body) + 2 // + CRC
	out := make([]byte, 0, headerLen+n)
	out = append(out, header[0], header[1], header[2], 0x00, p.ID)
	out = binary.LittleEndian.AppendUint16(out, uint16(n))
	out = append(out, body...)
	return binary.LittleEndian.AppendUint16(out, CRC16(out))
}

// WireLen is the number of bytes Marshal produces, without building it.
func (p Packet) WireLen() int {
	body := make([]byte, 0, 1+len(p.Params))
	body = append(body, byte(p.Instruction))
	body = append(body, p.Params...)
	return headerLen + len(stuff(body)) + 2
}

// Builders for the instruction packets [e-Manual, "Instruction Details"].
// Addresses and lengths are 16-bit little-endian.

func Ping(id byte) Packet { return Packet{ID: id, Instruction: InstPing} }

func Read(id byte, addr, length uint16) Packet {
	return Packet{ID: id, Instruction: InstRead, Params: le16s(addr, length)}
}

func Write(id byte, addr uint16, data []byte) Packet {
	return Packet{ID: id, Instruction: InstWrite, Params: append(le16s(addr), data...)}
}

func RegWrite(id byte, addr uint16, data []byte) Packet {
	return Packet{ID: id, Instruction: InstRegWrite, Params: append(le16s(addr), data...)}
}

func Action(id byte) Packet { return Packet{ID: id, Instruction: InstAction} }

func Reboot(id byte) Packet { return Packet{ID: id, Instruction: InstReboot} }

func FactoryReset(id, option byte) Packet {
	return Packet{ID: id, Instruction: InstFactoryReset, Params: []byte{option}}
}

// SyncRead reads the same item from several devices; it is always broadcast
// and each device answers with its own status packet in id order.
func SyncRead(addr, length uint16, ids ...byte) Packet {
	return Packet{ID: BroadcastID, Instruction: InstSyncRead, Params: append(le16s(addr, length), ids...)}
}

// SyncData is one device's part of a Sync Write.
type SyncData struct {
	ID   byte
	Data []byte
}

// SyncWrite writes the same item on several devices; no device replies.
// Every Data must have the same length.
func SyncWrite(addr uint16, items ...SyncData) (Packet, error) {
	if len(items) == 0 {
		return Packet{}, fmt.Errorf("sync write: no devices")
	}
	n := len(items[0].Data)
	params := le16s(addr, uint16(n))
	for _, it := range items {
		if len(it.Data) != n {
			return Packet{}, fmt.Errorf("sync write: id %d has %d data bytes, id %d has %d", items[0].ID, n, it.ID, len(it.Data))
		}
		params = append(params, it.ID)
		params = append(params, it.Data...)
	}
	return Packet{ID: BroadcastID, Instruction: InstSyncWrite, Params: params}, nil
}

// Status builds a status packet (used by the simulated servo).
func Status(id, errByte byte, data []byte) Packet {
	return Packet{ID: id, Instruction: InstStatus, Params: append([]byte{errByte}, data...)}
}

func le16s(vs ...uint16) []byte {
	b := make([]byte, 0, 2*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}
