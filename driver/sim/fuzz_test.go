package sim

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/driver/protocol"
)

// FuzzServeBytes feeds arbitrary bytes into the servo's request handling:
// it must never panic, never hold more than one maximal packet of backlog,
// always resynchronise once a partial packet goes stale, and only ever send
// well-formed status packets.
func FuzzServeBytes(f *testing.F) {
	seeds := [][]byte{
		protocol.Ping(1).Marshal(),
		protocol.Read(1, 132, 4).Marshal(),
		protocol.Read(1, 0, 662).Marshal(),
		protocol.Write(1, 64, []byte{1}).Marshal(),
		protocol.Write(1, 116, []byte{0xFF, 0xFF, 0xFD, 0x00}).Marshal(), // needs stuffing
		protocol.Write(1, 11, []byte{16}).Marshal(),
		protocol.Reboot(1).Marshal(),
		protocol.FactoryReset(1, 0xFF).Marshal(),
		protocol.SyncRead(132, 4, 1, 2).Marshal(),
		{0xFF, 0xFF, 0xFD, 0x00, 0x01, 0xFF, 0xFF, 0x02},
		{0xFF, 0xFF, 0xFD, 0x00, 0x01, 0x03, 0x00, 0x92, 0x00, 0x00},
		{0xFF, 0xFF, 0xFD, 0xFD, 0x00, 0x01},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := New(Config{BootTime: time.Millisecond})
		var out bytes.Buffer
		var rx rxBuf
		rx.add(data, time.Now())
		if err := s.drain(context.Background(), &out, &rx); err != nil {
			t.Fatalf("drain: %v", err)
		}
		if len(rx.buf) > protocol.MaxLength+7 {
			t.Fatalf("backlog of %d bytes", len(rx.buf))
		}
		// Let whatever is pending go stale: the buffer must empty.
		rx.last = time.Now().Add(-time.Hour)
		if err := s.drain(context.Background(), &out, &rx); err != nil {
			t.Fatalf("drain stale: %v", err)
		}
		if len(rx.buf) != 0 {
			t.Fatalf("%d bytes left after going stale", len(rx.buf))
		}
		for b := out.Bytes(); len(b) > 0; {
			p, n, err := protocol.Decode(b)
			if err != nil && !errors.Is(err, protocol.ErrIncomplete) || err == nil && p.Instruction != protocol.InstStatus {
				t.Fatalf("servo sent a bad packet % X: %v", b, err)
			}
			if err != nil {
				t.Fatalf("servo sent a partial packet % X", b)
			}
			b = b[n:]
		}
		_ = s.Snapshot()
	})
}
