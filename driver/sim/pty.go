//go:build linux

package sim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// PTY serves a Servo on a pseudo-terminal, the stand-in for a U2D2 adapter:
// the host opens Path() (or the stable symlink) with go.bug.st/serial.
type PTY struct {
	s    *Servo
	link string
	ctx  context.Context

	mu     sync.Mutex
	master *os.File
	slave  *os.File // kept open: without it master reads fail with EIO when the host closes (docs/dynamixel.md §7)
	path   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the last serve loop ended
}

// ListenPTY creates a pty, serves s on it until ctx is done or Close, and
// keeps link (if not empty) pointing at the slave device.
func ListenPTY(ctx context.Context, s *Servo, link string) (*PTY, error) {
	p := &PTY{s: s, link: link, ctx: ctx}
	if err := p.plug(); err != nil {
		return nil, err
	}
	return p, nil
}

// Path is the current slave device, e.g. /dev/pts/3 ("" while unplugged).
func (p *PTY) Path() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.path
}

// Link is the symlink kept pointing at the slave ("" when none).
func (p *PTY) Link() string { return p.link }

// Unplug makes the adapter vanish: the pty is closed, so a host reading it
// gets an error (go.bug.st/serial: PortClosed on Read, EIO on Write), and
// the symlink is removed as udev removes /dev/serial/by-id links.
func (p *PTY) Unplug() error {
	p.mu.Lock()
	master, slave, cancel, done := p.master, p.slave, p.cancel, p.done
	p.master, p.slave, p.path, p.cancel, p.done = nil, nil, "", nil, nil
	p.mu.Unlock()
	if master == nil {
		return nil // already unplugged
	}
	cancel()
	err := errors.Join(master.Close(), slave.Close())
	<-done
	if p.link != "" {
		if rerr := os.Remove(p.link); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	if err != nil {
		return fmt.Errorf("unplug simulated adapter: %w", err)
	}
	return nil
}

// Replug plugs a new adapter: a fresh pty (its path usually differs, as a
// ttyUSB number can) with the symlink re-pointed at it.
func (p *PTY) Replug() error {
	if err := p.Unplug(); err != nil {
		return err
	}
	return p.plug()
}

// Close unplugs for good.
func (p *PTY) Close() error { return p.Unplug() }

// Err is why the most recent serve loop ended (nil while serving or after a
// clean unplug).
func (p *PTY) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *PTY) plug() error {
	if err := p.ctx.Err(); err != nil {
		return fmt.Errorf("simulated adapter: %w", err)
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		return fmt.Errorf("open a pseudo-terminal for the simulated servo: %w", err)
	}
	// Raw mode now, so nothing echoes or is line-edited before the host
	// opens the port and sets its own mode (docs/dynamixel.md §7).
	if _, err := term.MakeRaw(int(tty.Fd())); err != nil {
		ptmx.Close()
		tty.Close()
		return fmt.Errorf("put %s into raw mode: %w", tty.Name(), err)
	}
	master, err := pollable(ptmx)
	if err != nil {
		tty.Close()
		return err
	}
	if p.link != "" {
		if err := repoint(p.link, tty.Name()); err != nil {
			master.Close()
			tty.Close()
			return err
		}
	}
	ctx, cancel := context.WithCancel(p.ctx)
	done := make(chan struct{})
	p.mu.Lock()
	p.master, p.slave, p.path, p.cancel, p.done, p.err = master, tty, tty.Name(), cancel, done, nil
	p.mu.Unlock()
	go func() {
		defer close(done)
		err := p.s.Serve(ctx, master)
		if err != nil && ctx.Err() == nil {
			p.mu.Lock()
			p.err = err
			p.mu.Unlock()
		}
	}()
	return nil
}

// pollable returns the master as a non-blocking *os.File in Go's poller:
// creack/pty hands out a blocking file (it calls Fd()), whose Read ignores
// deadlines and whose Close does not wake a blocked Read, so Unplug could not
// release the device. A duplicate fd set non-blocking behaves.
func pollable(f *os.File) (*os.File, error) {
	defer f.Close()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		return nil, fmt.Errorf("duplicate pty master: %w", err)
	}
	unix.CloseOnExec(fd)
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pty master non-blocking: %w", err)
	}
	return os.NewFile(uintptr(fd), "/dev/ptmx"), nil
}

// repoint makes link a symlink to target atomically (rename over the old
// one), so a host never sees the link missing or half-written.
func repoint(link, target string) error {
	tmp := filepath.Join(filepath.Dir(link), fmt.Sprintf(".%s.%d.tmp", filepath.Base(link), os.Getpid()))
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("create symlink %s -> %s: %w", link, target, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("point %s at %s: %w", link, target, err)
	}
	return nil
}
