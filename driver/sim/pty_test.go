//go:build linux

package sim_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/plate-resort/plate-resort/driver/protocol"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

func openSerial(t testing.TB, path string, baud int) serial.Port {
	t.Helper()
	p, err := serial.Open(path, &serial.Mode{BaudRate: baud})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	if err := p.SetReadTimeout(50 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	return p
}

// transact writes req and reads one status packet through a real serial port.
func transact(p serial.Port, req []byte, buf []byte) (protocol.Packet, error) {
	if _, err := p.Write(req); err != nil {
		return protocol.Packet{}, err
	}
	buf = buf[:0]
	tmp := make([]byte, 64)
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		n, err := p.Read(tmp)
		if err != nil {
			return protocol.Packet{}, err
		}
		buf = append(buf, tmp[:n]...)
		pk, _, err := protocol.Decode(buf)
		if err == nil {
			return pk, nil
		}
		if !errors.Is(err, protocol.ErrIncomplete) {
			return protocol.Packet{}, err
		}
	}
	return protocol.Packet{}, errors.New("no reply")
}

func TestPTYWithRealSerialLibrary(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	link := filepath.Join(t.TempDir(), "servo")
	s := sim.New(sim.Config{Firmware: 38, Baud: 57600, InitialPosition: xseries.PulsesToDegrees(166)})
	pt, err := sim.ListenPTY(ctx, s, link)
	if err != nil {
		t.Fatal(err)
	}
	defer pt.Close()
	if target, err := os.Readlink(link); err != nil || target != pt.Path() {
		t.Fatalf("link -> %q (%v), want %q", target, err, pt.Path())
	}
	port := openSerial(t, link, 57600)
	buf := make([]byte, 0, 64)
	p, err := transact(port, protocol.Ping(1).Marshal(), buf)
	if err != nil || len(p.Params) != 4 || p.Params[1] != 0x06 || p.Params[2] != 0x04 || p.Params[3] != 38 {
		t.Fatalf("ping over pty: %v %v", p, err)
	}
	p, err = transact(port, protocol.Read(1, 132, 4).Marshal(), buf)
	if err != nil || len(p.Params) != 5 || p.Params[1] != 166 {
		t.Fatalf("read position over pty: %v %v", p, err)
	}

	// Unplug: the open port fails on read and on write.
	oldPath := pt.Path()
	if err := pt.Unplug(); err != nil {
		t.Fatal(err)
	}
	tmp := make([]byte, 16)
	if _, err := port.Read(tmp); err == nil {
		t.Error("read after unplug: no error")
	} else {
		t.Logf("read after unplug: %v", err)
	}
	if _, err := port.Write(protocol.Ping(1).Marshal()); err == nil {
		t.Error("write after unplug: no error")
	} else {
		t.Logf("write after unplug: %v", err)
	}
	port.Close()
	if _, err := os.Lstat(link); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("link still there after unplug: %v", err)
	}

	// Replug: the link points at the new pty and reopening works; the
	// servo kept its state.
	if err := pt.Replug(); err != nil {
		t.Fatal(err)
	}
	if target, _ := os.Readlink(link); target != pt.Path() {
		t.Errorf("link -> %q after replug, want %q (old %q)", target, pt.Path(), oldPath)
	}
	port = openSerial(t, link, 57600)
	defer port.Close()
	if p, err := transact(port, protocol.Ping(1).Marshal(), buf); err != nil || p.ID != 1 {
		t.Fatalf("ping after replug: %v %v", p, err)
	}
	// Closing the host side and reopening keeps the servo serving (the
	// simulator holds a slave fd open).
	port.Close()
	port = openSerial(t, link, 57600)
	defer port.Close()
	if _, err := transact(port, protocol.Ping(1).Marshal(), buf); err != nil {
		t.Fatalf("ping after host reopen: %v", err)
	}
	if err := pt.Err(); err != nil {
		t.Errorf("serve loop error: %v", err)
	}
}

func TestPTYCloseEndsOnContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pt, err := sim.ListenPTY(ctx, sim.New(sim.Config{}), "")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan error, 1)
	go func() { done <- pt.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close hung")
	}
	if err := pt.Replug(); err == nil {
		t.Error("replug after the context ended succeeded")
	}
}
