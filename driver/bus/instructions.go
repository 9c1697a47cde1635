package bus

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/plate-resort/plate-resort/driver/protocol"
)

// PingInfo is what a Ping returns [e-Manual, "Ping"].
type PingInfo struct {
	ID       byte
	Model    uint16
	Firmware byte
}

// Ping asks id for its model number and firmware version. Ping is answered
// whatever the Status Return Level.
func (b *Bus) Ping(ctx context.Context, id byte) (PingInfo, error) {
	st, err := b.do(ctx, request{pkt: protocol.Ping(id), replyLen: 3, retries: b.cfg.ReadRetries})
	if err != nil {
		return PingInfo{}, err
	}
	return PingInfo{ID: st.ID, Model: binary.LittleEndian.Uint16(st.Data[:2]), Firmware: st.Data[2]}, nil
}

// Read reads n bytes from addr. Reads are retried on timeout or corruption
// because repeating them changes nothing.
func (b *Bus) Read(ctx context.Context, id byte, addr uint16, n int) ([]byte, error) {
	if n <= 0 || n > protocol.MaxLength-4 {
		return nil, fmt.Errorf("read %d bytes at %d: length out of range", n, addr)
	}
	st, err := b.do(ctx, request{pkt: protocol.Read(id, addr, uint16(n)), replyLen: n, retries: b.cfg.ReadRetries})
	if err != nil {
		return nil, err
	}
	return st.Data, nil
}

// Write writes data at addr and waits for the status. Never retried: a lost
// reply does not mean the write was not applied.
func (b *Bus) Write(ctx context.Context, id byte, addr uint16, data []byte) error {
	_, err := b.do(ctx, request{pkt: protocol.Write(id, addr, data)})
	return err
}

// WriteIf is Write, refused with gate's error when gate fails once this
// caller holds the wire.
func (b *Bus) WriteIf(ctx context.Context, id byte, addr uint16, data []byte, gate func() error) error {
	_, err := b.do(ctx, request{pkt: protocol.Write(id, addr, data), gate: gate})
	return err
}

// WriteNow is Write ahead of every other waiting caller: the emergency stop.
// It still waits for a transaction already on the wire (at most one).
func (b *Bus) WriteNow(ctx context.Context, id byte, addr uint16, data []byte) error {
	_, err := b.do(ctx, request{pkt: protocol.Write(id, addr, data), priority: true})
	return err
}

// Reboot restarts the servo: the only way, short of a power cycle, to clear
// a hardware error shutdown (overload, overheating; docs/dynamixel.md §5).
func (b *Bus) Reboot(ctx context.Context, id byte) error {
	_, err := b.do(ctx, request{pkt: protocol.Reboot(id), noReply: id == protocol.BroadcastID})
	return err
}
