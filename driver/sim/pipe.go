package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// ErrPortClosed is returned by PipePort after Close or stop.
// It wraps io.ErrClosedPipe so the bus recognises a vanished adapter.
var ErrPortClosed = fmt.Errorf("simulated serial port is closed: %w", io.ErrClosedPipe)

// PipePort is the host end of an in-memory serial link to a Servo. It
// satisfies the driver's bus.Port (io.ReadWriteCloser, SetReadTimeout with
// Read returning (0, nil) on timeout, ResetInputBuffer) without importing the
// bus package, so bus tests may import sim without a cycle.
type PipePort struct {
	toServo, toHost *byteQueue

	mu      sync.Mutex
	timeout time.Duration // < 0: block (go.bug.st/serial's NoTimeout)
}

// Pipe connects a new in-memory port to s and serves it until stop is
// called (stop is idempotent and waits for the servo loop to end).
func Pipe(s *Servo) (host *PipePort, stop func()) {
	toServo, toHost := newByteQueue(), newByteQueue()
	host = &PipePort{toServo: toServo, toHost: toHost, timeout: -1}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ctx, servoEnd{toServo, toHost})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			toServo.close()
			toHost.close()
			<-done
		})
	}
	return host, stop
}

// Read returns what the servo sent, waiting at most the read timeout.
func (p *PipePort) Read(b []byte) (int, error) {
	p.mu.Lock()
	t := p.timeout
	p.mu.Unlock()
	n, err := p.toHost.read(b, t)
	if errors.Is(err, io.EOF) {
		err = ErrPortClosed // as a serial port reports a vanished adapter
	}
	return n, err
}

// Write sends bytes to the servo.
func (p *PipePort) Write(b []byte) (int, error) { return p.toServo.write(b) }

// Close closes both directions; the servo loop sees EOF.
func (p *PipePort) Close() error {
	p.toServo.close()
	p.toHost.close()
	return nil
}

// SetReadTimeout bounds each Read; a negative value blocks forever.
func (p *PipePort) SetReadTimeout(t time.Duration) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timeout = t
	return nil
}

// ResetInputBuffer drops bytes the servo sent that were not read yet.
func (p *PipePort) ResetInputBuffer() error {
	p.toHost.reset()
	return nil
}

// servoEnd is the servo's side: blocking reads, EOF once closed.
type servoEnd struct{ in, out *byteQueue }

func (e servoEnd) Read(b []byte) (int, error)  { return e.in.read(b, -1) }
func (e servoEnd) Write(b []byte) (int, error) { return e.out.write(b) }

// byteQueue is an unbounded byte FIFO with a wake-up channel.
type byteQueue struct {
	mu     sync.Mutex
	buf    []byte
	closed bool
	wake   chan struct{} // closed and replaced whenever data arrives or on close
}

func newByteQueue() *byteQueue { return &byteQueue{wake: make(chan struct{})} }

func (q *byteQueue) write(b []byte) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, ErrPortClosed
	}
	q.buf = append(q.buf, b...)
	close(q.wake)
	q.wake = make(chan struct{})
	return len(b), nil
}

// read waits up to timeout (forever when negative) for data. It returns
// (0, nil) on timeout and io.EOF once closed and empty.
func (q *byteQueue) read(b []byte, timeout time.Duration) (int, error) {
	var deadline <-chan time.Time
	if timeout >= 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	for {
		q.mu.Lock()
		if len(q.buf) > 0 {
			n := copy(b, q.buf)
			q.buf = append(q.buf[:0], q.buf[n:]...)
			q.mu.Unlock()
			return n, nil
		}
		if q.closed {
			q.mu.Unlock()
			return 0, io.EOF
		}
		wake := q.wake
		q.mu.Unlock()
		select {
		case <-wake:
		case <-deadline:
			return 0, nil
		}
	}
}

func (q *byteQueue) reset() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.buf = q.buf[:0]
}

func (q *byteQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.wake)
	}
}
