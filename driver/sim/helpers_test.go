package sim_test

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/driver/protocol"
	"github.com/plate-resort/plate-resort/driver/sim"
)

// rig is a servo on an in-memory pipe with raw-packet helpers.
type rig struct {
	t    *testing.T
	s    *sim.Servo
	port *sim.PipePort
}

func newRig(t *testing.T, cfg sim.Config) *rig {
	t.Helper()
	s := sim.New(cfg)
	port, stop := sim.Pipe(s)
	t.Cleanup(stop)
	if err := port.SetReadTimeout(20 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, s: s, port: port}
}

// raw writes req and returns the raw bytes of one reply, or nil when none
// arrives within wait.
func (r *rig) raw(req []byte, wait time.Duration) []byte {
	r.t.Helper()
	if err := r.port.ResetInputBuffer(); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.port.Write(req); err != nil {
		r.t.Fatalf("write: %v", err)
	}
	var buf []byte
	deadline := time.Now().Add(wait)
	tmp := make([]byte, 256)
	for time.Now().Before(deadline) {
		n, err := r.port.Read(tmp)
		if err != nil {
			r.t.Fatalf("read: %v", err)
		}
		buf = append(buf, tmp[:n]...)
		_, m, err := protocol.Decode(buf)
		switch {
		case err == nil:
			return buf[:m] // the packet (and any garbage before it)
		case !errors.Is(err, protocol.ErrIncomplete):
			return buf // a corrupt packet: the caller inspects it
		}
	}
	if len(buf) > 0 {
		r.t.Fatalf("incomplete reply % X", buf)
	}
	return nil
}

// do sends p and returns the decoded status; it fails the test when no
// valid reply arrives.
func (r *rig) do(p protocol.Packet) protocol.StatusReply {
	r.t.Helper()
	b := r.raw(p.Marshal(), time.Second)
	if b == nil {
		r.t.Fatalf("%v: no reply", p)
	}
	rp, _, err := protocol.Decode(b)
	if err != nil {
		r.t.Fatalf("%v: reply % X: %v", p, b, err)
	}
	st, err := rp.AsStatus()
	if err != nil {
		r.t.Fatal(err)
	}
	return st
}

func (r *rig) write(addr uint16, data ...byte) protocol.StatusReply {
	r.t.Helper()
	return r.do(protocol.Write(1, addr, data))
}

// mustWrite writes and fails on any error number.
func (r *rig) mustWrite(addr uint16, data ...byte) {
	r.t.Helper()
	if st := r.write(addr, data...); st.Err() != nil {
		r.t.Fatalf("write %d % X: %v", addr, data, st.Err())
	}
}

func (r *rig) read(addr, n uint16) []byte {
	r.t.Helper()
	st := r.do(protocol.Read(1, addr, n))
	if st.Err() != nil {
		r.t.Fatalf("read %d: %v", addr, st.Err())
	}
	if len(st.Data) != int(n) {
		r.t.Fatalf("read %d: got %d bytes, want %d", addr, len(st.Data), n)
	}
	return st.Data
}

func (r *rig) read1(addr uint16) int { return int(r.read(addr, 1)[0]) }
func (r *rig) read2s(addr uint16) int {
	return int(int16(binary.LittleEndian.Uint16(r.read(addr, 2))))
}
func (r *rig) read4s(addr uint16) int {
	return int(int32(binary.LittleEndian.Uint32(r.read(addr, 4))))
}

func le16(v int) []byte { return binary.LittleEndian.AppendUint16(nil, uint16(int16(v))) }
func le32(v int) []byte { return binary.LittleEndian.AppendUint32(nil, uint32(int32(v))) }

func hexBytes(t *testing.T, s string) []byte {
	t.Helper()
	var out []byte
	var cur byte
	digits := 0
	for _, c := range s {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = byte(c - '0')
		case c >= 'A' && c <= 'F':
			v = byte(c-'A') + 10
		case c == ' ':
			continue
		default:
			t.Fatalf("bad hex %q", s)
		}
		cur = cur<<4 | v
		digits++
		if digits == 2 {
			out = append(out, cur)
			cur, digits = 0, 0
		}
	}
	return out
}
