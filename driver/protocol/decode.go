package protocol

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// Decode errors. ErrIncomplete is not a failure: the caller should read more
// bytes and call Decode again with the longer buffer.
var (
	ErrIncomplete = errors.New("incomplete packet")
	ErrCRC        = errors.New("packet CRC mismatch")
	ErrLength     = errors.New("impossible packet length")
)

// Decode looks for one packet at the start of buf, skipping any garbage in
// front of a header, the way the ROBOTIS SDK receiver resynchronises
// [SDK protocol2_packet_handler rxPacket]. It returns the packet, the number of
// bytes of buf consumed, and an error:
//
//   - nil: p is valid; drop buf[:n].
//   - ErrIncomplete: no complete packet yet; buf[:n] is garbage that may be
//     dropped, keep the rest and read more.
//   - ErrCRC or ErrLength: a corrupt packet; drop buf[:n] (at least one byte)
//     and call Decode again to resynchronise on the next header.
//
// Decode never panics and never allocates more than the packet it returns.
func Decode(buf []byte) (p Packet, n int, err error) {
	start := findHeader(buf)
	if start < 0 {
		// Keep a tail that may be the beginning of a header split across reads.
		keep := 0
		for k := min(3, len(buf)); k > 0; k-- {
			if bytes.HasPrefix(header[:], buf[len(buf)-k:]) {
				keep = k
				break
			}
		}
		return Packet{}, len(buf) - keep, ErrIncomplete
	}
	rest := buf[start:]
	if len(rest) < headerLen {
		return Packet{}, start, ErrIncomplete
	}
	// rest[3] is the reserved byte, guaranteed 0x00 by findHeader.
	id := rest[4]
	length := int(binary.LittleEndian.Uint16(rest[5:7]))
	// LENGTH counts instruction + params + 2 CRC bytes, so at least 3.
	if length < 3 || length > MaxLength || (id > MaxID && id != BroadcastID) {
		return Packet{}, start + 1, fmt.Errorf("%w: id %d, length %d", ErrLength, id, length)
	}
	total := headerLen + length
	if len(rest) < total {
		return Packet{}, start, ErrIncomplete
	}
	raw := rest[:total]
	want := binary.LittleEndian.Uint16(raw[total-2:])
	if got := CRC16(raw[:total-2]); got != want {
		return Packet{}, start + 1, fmt.Errorf("%w: id %d: computed 0x%04X, packet says 0x%04X", ErrCRC, id, got, want)
	}
	// The CRC covers the stuffed bytes; unstuff only after it matched.
	body := unstuff(raw[headerLen : total-2])
	params := make([]byte, len(body)-1)
	copy(params, body[1:])
	return Packet{ID: id, Instruction: Instruction(body[0]), Params: params}, start + total, nil
}

// findHeader returns the index of the first FF FF FD 00 in buf, or -1. A
// header whose reserved byte is not yet in buf is reported at its index so
// the caller waits for more bytes. FF FF FD FD is a stuffed data sequence, not
// a header, and the reserved byte is always 0x00 [e-Manual, "Header",
// "Reserved"].
func findHeader(buf []byte) int {
	off := 0
	for {
		i := bytes.Index(buf[off:], header[:])
		if i < 0 {
			return -1
		}
		i += off
		if i+3 >= len(buf) || buf[i+3] == 0x00 {
			return i
		}
		off = i + 1
	}
}
