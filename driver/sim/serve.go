package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/plate-resort/plate-resort/driver/protocol"
)

// Wire timing model. A pty (or the in-memory pipe) moves bytes instantly, so
// the simulator adds what a real half-duplex TTL bus at cfg.Baud costs
// (8N1 = 10 bits per byte, docs/dynamixel.md §7):
//
//	request first byte seen at t0   (the host writes the whole request at once)
//	request on the wire            t0 .. t0 + wire(request)
//	Return Delay Time (reg 9, 2 µs units, default 250 = 500 µs)
//	reply on the wire              .. + wire(reply)
//	reply written in one Write at  t0 + wire(request) + RDT + wire(reply)
//
// so a host that timestamps its Write and the end of its Read sees the same
// round trip as on a real bus with a zero-latency adapter (no FTDI latency
// timer). Sleeps use the Go timer, a nanosleep and a final spin
// (sleepUntil), which keeps the error near 0.1 ms.
const (
	spinWindow   = 200 * time.Microsecond
	coarseMargin = 3 * time.Millisecond
)

// tickEvery is the physics ticker while serving a servo that is not quiet.
const tickEvery = 5 * time.Millisecond

// wireTime is how long n bytes take at baud; 0 baud means no delay.
func wireTime(n, baud int) time.Duration {
	if baud <= 0 {
		return 0
	}
	return time.Duration(int64(n) * 10 * int64(time.Second) / int64(baud))
}

type chunk struct {
	b   []byte
	at  time.Time
	err error
}

// Serve answers Protocol 2.0 requests read from rw until ctx is done or rw
// fails; io.EOF from rw ends it with a nil error. Reads happen on a separate
// goroutine (a pty master ignores read deadlines, docs/dynamixel.md §7) that ends
// when rw is closed, so the caller must close rw after Serve returns.
func (s *Servo) Serve(ctx context.Context, rw io.ReadWriter) error {
	done := make(chan struct{})
	defer close(done)
	chunks := make(chan chunk, 64)
	go readChunks(rw, chunks, done)
	// The ticker runs only while the servo is not quiet (physics.go): an
	// idle simulator then sleeps in select until the host writes, instead
	// of waking 200 times a second (about 1% of a core each, which adds up
	// in a fleet of simulators). Only a request can make a quiet servo
	// move (the fault calls never start motion), and every request comes
	// through here, so checking after each one is enough. It also runs
	// while bytes of an incomplete packet wait, so drain can drop them
	// once stale even if the host sends nothing more.
	tick := time.NewTicker(tickEvery)
	defer tick.Stop()
	var tickC <-chan time.Time
	var rx rxBuf
	for {
		if len(rx.buf) == 0 && s.isQuiet() {
			if tickC != nil {
				tick.Stop()
				tickC = nil
			}
		} else if tickC == nil {
			tick.Reset(tickEvery)
			tickC = tick.C
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c := <-chunks:
			if c.err != nil {
				if errors.Is(c.err, io.EOF) {
					return nil
				}
				return fmt.Errorf("simulated servo: read from host: %w", c.err)
			}
			rx.add(c.b, c.at)
		case now := <-tickC:
			s.tick(now)
		}
		if err := s.drain(ctx, rw, &rx); err != nil {
			return err
		}
	}
}

// isQuiet brings the physics up to now and reports whether it is quiet.
func (s *Servo) isQuiet() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(time.Now())
	return s.quiet()
}

func readChunks(r io.Reader, out chan<- chunk, done <-chan struct{}) {
	for {
		b := make([]byte, 512)
		n, err := r.Read(b)
		at := time.Now()
		if n > 0 {
			select {
			case out <- chunk{b: b[:n], at: at}:
			case <-done:
				return
			}
		}
		if err != nil {
			select {
			case out <- chunk{err: err}:
			case <-done:
			}
			return
		}
		if n == 0 {
			time.Sleep(time.Millisecond) // a reader with a timeout: do not spin
		}
	}
}

func (s *Servo) tick(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ticks++
	s.advance(now)
}

// staleAfter is how long an incomplete packet may wait for its remaining
// bytes before its first byte is dropped to resynchronise (a corrupted
// LENGTH must not wedge the servo).
func (s *Servo) staleAfter() time.Duration {
	return 50*time.Millisecond + wireTime(protocol.MaxLength+7, s.cfg.Baud)
}

// drain decodes and answers every complete request in rx.
func (s *Servo) drain(ctx context.Context, w io.Writer, rx *rxBuf) error {
	for len(rx.buf) > 0 {
		p, n, err := protocol.Decode(rx.buf)
		switch {
		case err == nil:
			size := p.WireLen()
			t0 := rx.timeAt(n - size)
			rx.consume(n)
			out := s.handle(p, time.Now())
			if err := s.reply(ctx, w, out, t0, size); err != nil {
				return err
			}
		case errors.Is(err, protocol.ErrIncomplete):
			rx.consume(n)
			if len(rx.buf) == 0 || time.Since(rx.last) < s.staleAfter() {
				return nil
			}
			rx.consume(1)
		case errors.Is(err, protocol.ErrCRC):
			// The header started at n-1. A packet for this id that fails
			// its CRC gets a CRC Error status [e-Manual protocol2, error 0x03].
			t0 := rx.timeAt(n - 1)
			size, id := 0, byte(0)
			if h := rx.buf[n-1:]; len(h) >= 7 {
				id, size = h[4], 7+(int(h[5])|int(h[6])<<8)
			}
			rx.consume(n)
			out := s.crcError(id, time.Now())
			if err := s.reply(ctx, w, out, t0, size); err != nil {
				return err
			}
		default: // ErrLength: not a packet; skip past the false header
			rx.consume(n)
		}
	}
	return nil
}

// crcError builds the status a corrupt request addressed to this servo gets.
func (s *Servo) crcError(id byte, now time.Time) outcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(now)
	if s.unplugged || now.Before(s.silentTil) || id != byte(s.tab.get(aID)) || s.tab.get(aReturnLevel) < 2 {
		return outcome{}
	}
	errByte := byte(protocol.CodeCRC)
	if s.hwErr != 0 {
		errByte |= protocol.AlertBit
	}
	return outcome{
		reply: s.marshalReply(protocol.Status(id, errByte, nil)),
		delay: time.Duration(s.tab.get(aReturnDelay)) * 2 * time.Microsecond,
	}
}

// reply waits out the wire timing model and writes the status packet.
func (s *Servo) reply(ctx context.Context, w io.Writer, out outcome, t0 time.Time, reqLen int) error {
	if out.reply == nil {
		return nil
	}
	if s.cfg.Baud > 0 {
		at := t0.Add(wireTime(reqLen, s.cfg.Baud) + out.delay + wireTime(len(out.reply), s.cfg.Baud))
		if err := sleepUntil(ctx, at); err != nil {
			return err
		}
	}
	if _, err := w.Write(out.reply); err != nil {
		return fmt.Errorf("simulated servo: write reply: %w", err)
	}
	return nil
}

// sleepUntil waits until t. The Go timer is only good to about a
// millisecond on some hosts (measured 0.5-2 ms late here), far more than the
// 0.17 ms a byte takes at 57600 baud, so it covers only the bulk of a long
// wait; a nanosleep syscall (good to ~0.1 ms) does the rest and a short spin
// the last spinWindow.
func sleepUntil(ctx context.Context, t time.Time) error {
	if d := time.Until(t) - coarseMargin; d > 0 {
		timer := time.NewTimer(d)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
	if d := time.Until(t) - spinWindow; d > 0 {
		preciseSleep(d)
	}
	for time.Now().Before(t) {
		runtime.Gosched()
	}
	return ctx.Err()
}

// rxBuf is the receive buffer with the arrival time of each chunk, so a
// request's first byte can be timestamped.
type rxBuf struct {
	buf   []byte
	marks []mark
	last  time.Time
}

type mark struct {
	off int
	at  time.Time
}

func (r *rxBuf) add(b []byte, at time.Time) {
	r.marks = append(r.marks, mark{len(r.buf), at})
	r.buf = append(r.buf, b...)
	r.last = at
}

// timeAt is when byte i arrived.
func (r *rxBuf) timeAt(i int) time.Time {
	at := r.last
	for _, m := range r.marks {
		if m.off > i {
			break
		}
		at = m.at
	}
	return at
}

func (r *rxBuf) consume(n int) {
	if n <= 0 {
		return
	}
	n = min(n, len(r.buf))
	r.buf = append(r.buf[:0], r.buf[n:]...)
	keep := r.marks[:0]
	for i, m := range r.marks {
		m.off -= n
		next := len(r.buf) + 1
		if i+1 < len(r.marks) {
			next = r.marks[i+1].off - n
		}
		if next <= 0 {
			continue // this chunk is fully consumed
		}
		m.off = max(m.off, 0)
		keep = append(keep, m)
	}
	r.marks = keep
	if len(r.buf) == 0 {
		r.marks = r.marks[:0]
	}
}
