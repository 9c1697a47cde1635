package bus

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

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

// RegWrite stages a write that Action applies.
func (b *Bus) RegWrite(ctx context.Context, id byte, addr uint16, data []byte) error {
	_, err := b.do(ctx, request{pkt: protocol.RegWrite(id, addr, data)})
	return err
}

// Action applies staged RegWrites. The SDK waits for no reply to Action.
func (b *Bus) Action(ctx context.Context, id byte) error {
	_, err := b.do(ctx, request{pkt: protocol.Action(id), noReply: true})
	return err
}

// Reboot restarts the servo: the only way, short of a power cycle, to clear
// a hardware error shutdown (overload, overheating; dynamixel.md §5).
func (b *Bus) Reboot(ctx context.Context, id byte) error {
	_, err := b.do(ctx, request{pkt: protocol.Reboot(id), noReply: id == protocol.BroadcastID})
	return err
}

// FactoryReset erases the servo's settings. It is refused unless force is
// true, because it also resets the baud rate and id unless option keeps them.
func (b *Bus) FactoryReset(ctx context.Context, id, option byte, force bool) error {
	if !force {
		return fmt.Errorf("factory reset of id %d: %w (it erases calibration, limits and possibly id and baud rate)", id, ErrForceRequired)
	}
	_, err := b.do(ctx, request{pkt: protocol.FactoryReset(id, option), noReply: id == protocol.BroadcastID})
	return err
}

// SyncRead reads the same item from several servos with one packet; each
// answers in turn, in the order of ids [e-Manual, "Sync Read"].
func (b *Bus) SyncRead(ctx context.Context, addr uint16, n int, ids ...byte) (map[byte][]byte, error) {
	if len(ids) == 0 || n <= 0 || n > protocol.MaxLength-4 {
		return nil, fmt.Errorf("sync read %d bytes at %d from %d ids: bad request", n, addr, len(ids))
	}
	if err := b.acquire(ctx, false); err != nil {
		return nil, err
	}
	defer b.release()
	b.mu.Lock()
	p, lat := b.port, b.latency
	b.mu.Unlock()
	if p == nil || !b.connected.Load() {
		return nil, ErrDisconnected
	}
	b.transactions.Add(1)
	_ = p.ResetInputBuffer()
	wire := protocol.SyncRead(addr, uint16(n), ids...).Marshal()
	if _, err := p.Write(wire); err != nil {
		if isDisconnect(err) {
			return nil, b.lost(err)
		}
		return nil, fmt.Errorf("sync read: write: %w", err)
	}
	// The SDK's wait: every reply's bytes, plus the latency.
	replyBytes := protocol.Status(0, 0, make([]byte, n)).WireLen()
	deadline := time.Now().Add(transactionTimeout(len(wire), replyBytes*len(ids), b.cfg.Baud, lat) + time.Duration(len(ids))*maxReturnDelay)
	out := make(map[byte][]byte, len(ids))
	for _, id := range ids {
		st, err := b.receive(p, id, n, deadline)
		if err != nil {
			b.errs.Add(1)
			return out, fmt.Errorf("sync read id %d: %w", id, err)
		}
		out[id] = st.Data
	}
	return out, nil
}

// SyncWrite writes the same item on several servos; nobody replies.
func (b *Bus) SyncWrite(ctx context.Context, addr uint16, items ...protocol.SyncData) error {
	pkt, err := protocol.SyncWrite(addr, items...)
	if err != nil {
		return err
	}
	_, err = b.do(ctx, request{pkt: pkt, noReply: true})
	return err
}
