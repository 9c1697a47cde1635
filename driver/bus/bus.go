package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.bug.st/serial"

	"github.com/plate-resort/plate-resort/driver/protocol"
)

// Config describes one serial bus.
type Config struct {
	// Port is the device path; prefer a stable /dev/serial/by-id/... path
	// because ttyUSB numbers change after a replug.
	Port string
	Baud int
	// Latency is the adapter latency assumed in deadlines when the real
	// latency timer cannot be read (16 ms is the FTDI default).
	Latency time.Duration
	// ReadRetries is how many times a read (never a write) is repeated after
	// a timeout or corrupt reply.
	ReadRetries int
	// Open replaces the real serial opener (tests).
	Open func(path string, baud int) (Port, error)
	// Observe, when set, is called after every attempt that went on the
	// wire, with its round trip and one of the Result* outcomes. It runs
	// on the caller's goroutine and must return at once (the agent feeds
	// its Prometheus histogram with it; the driver imports no metrics
	// library).
	Observe Observer
}

// Observer receives one serial transaction attempt: its duration (write
// through the end of the reply or the deadline) and its result.
type Observer func(d time.Duration, result string)

// Results passed to an Observer.
const (
	ResultOK = "ok"
	// ResultHardwareError: a valid status with the Hardware Error alert
	// bit (ROBOTIS e-Manual, Protocol 2.0 "Status Packet": Error field
	// bit 7), docs/dynamixel.md.
	ResultHardwareError = "hardware_error"
	ResultDeviceError   = "device_error" // a status packet with a non-zero error number
	ResultTimeout       = "timeout"      // no status packet before the deadline
	ResultCRC           = "crc"          // bytes that never formed a valid packet (CRC or length)
	ResultDisconnected  = "disconnected" // the adapter went away
	ResultIOError       = "io_error"     // any other read or write error
)

// resultOf classifies one attempt for an Observer.
func resultOf(st protocol.StatusReply, err error) string {
	var se *protocol.StatusError
	switch {
	case err == nil && st.Alert():
		return ResultHardwareError
	case err == nil:
		return ResultOK
	case errors.Is(err, ErrTimeout):
		return ResultTimeout
	case errors.Is(err, ErrCorrupt):
		return ResultCRC
	case errors.Is(err, ErrDisconnected):
		return ResultDisconnected
	case errors.As(err, &se):
		if st.Alert() {
			return ResultHardwareError
		}
		return ResultDeviceError
	}
	return ResultIOError
}

func (c *Config) defaults() {
	if c.Baud == 0 {
		c.Baud = 57600
	}
	if c.Latency == 0 {
		c.Latency = 16 * time.Millisecond
	}
	if c.ReadRetries < 0 {
		c.ReadRetries = 0
	}
	if c.Open == nil {
		c.Open = OpenSerial
	}
}

// OpenSerial opens path with go.bug.st/serial at baud 8N1. DTR and RTS stay
// low: raising DTR on open resets Arduino-class adapters (docs/dynamixel.md §7).
func OpenSerial(path string, baud int) (Port, error) {
	mode := &serial.Mode{
		BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit,
		InitialStatusBits: &serial.ModemOutputBits{DTR: false, RTS: false},
	}
	p, err := serial.Open(path, mode)
	var pe *serial.PortError
	if errors.As(err, &pe) && pe.Code() == serial.InvalidSerialPort {
		// No modem control lines (a pseudo-terminal, some CDC adapters):
		// open without touching DTR/RTS.
		mode.InitialStatusBits = nil
		p, err = serial.Open(path, mode)
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Stats are cumulative link counters, reported in the agent's health.
type Stats struct {
	Transactions uint64
	Errors       uint64
	Timeouts     uint64
	Corrupt      uint64
	Retries      uint64
	Reconnects   uint64
	// Stray counts status packets discarded because they could not answer
	// the request (late replies of earlier ones).
	Stray uint64
}

// Bus runs one transaction at a time over a Port.
type Bus struct {
	cfg Config
	log zerolog.Logger

	token chan struct{} // holds the right to use the wire
	prio  atomic.Int32  // priority callers waiting for the token

	mu        sync.Mutex // guards port and latency
	port      Port
	latency   time.Duration
	connected atomic.Bool
	alert     atomic.Bool

	buf []byte // receive buffer, used only while holding token
	// clean (used only while holding token) counts the transactions in a
	// row that took exactly one whole status packet off the line and
	// nothing after it. From two on, no byte can be waiting that the next
	// request's reply could be mistaken for, and the input flush before
	// the next write is skipped. A timeout, a corrupt reply, leftover
	// bytes, a request that gets no status and every (re)open set it to
	// 0; the second clean transaction is asked because the first after a
	// timeout may have taken the late reply of the one before for its own
	// (same id and size), its own reply still on its way.
	clean int
	whole bool // receive's last status was one whole packet with nothing after it

	transactions, errs, timeouts, corrupt, retries, reconnects, stray atomic.Uint64
}

// Open opens the serial port and tunes the adapter latency timer.
func Open(cfg Config, log zerolog.Logger) (*Bus, error) {
	cfg.defaults()
	b := newBus(cfg, log)
	if err := b.open(); err != nil {
		return nil, err
	}
	return b, nil
}

// New wraps an already open port (the simulator's pipe, tests). Reopen then
// uses cfg.Open.
func New(p Port, cfg Config, log zerolog.Logger) *Bus {
	cfg.defaults()
	b := newBus(cfg, log)
	b.port = p
	b.latency = cfg.Latency
	b.connected.Store(true)
	return b
}

func newBus(cfg Config, log zerolog.Logger) *Bus {
	b := &Bus{cfg: cfg, log: log.With().Str("component", "bus").Str("port", cfg.Port).Logger(), token: make(chan struct{}, 1), buf: make([]byte, 0, 256)}
	b.token <- struct{}{}
	return b
}

func (b *Bus) open() error {
	p, err := b.cfg.Open(b.cfg.Port, b.cfg.Baud)
	if err != nil {
		return fmt.Errorf("open %s at %d baud: %w", b.cfg.Port, b.cfg.Baud, err)
	}
	lat, found, lerr := tuneLatencyTimer(b.cfg.Port)
	switch {
	case lerr != nil:
		b.log.Warn().Err(lerr).Msg("adapter latency timer")
		if lat == 0 {
			lat, found = b.cfg.Latency, false // unreadable value: assume the configured latency
		}
	case found:
		b.log.Info().Dur("latency_timer", lat).Msg("adapter latency timer")
	default:
		lat = b.cfg.Latency
		b.log.Debug().Dur("assumed_latency", lat).Msg("no FTDI latency timer on this port")
	}
	if found && lat > 0 {
		// Deadlines follow the real timer; keep at least 1 ms of slack.
		lat = max(lat, time.Millisecond)
	} else if found {
		lat = time.Millisecond
	}
	b.mu.Lock()
	b.port, b.latency = p, lat
	b.mu.Unlock()
	b.clean = 0
	b.connected.Store(true)
	return nil
}

// Reopen closes the port and opens it again by path: the way back after an
// unplug. It waits for any transaction in progress.
func (b *Bus) Reopen(ctx context.Context) error {
	if err := b.acquire(ctx, false); err != nil {
		return err
	}
	defer b.release()
	b.mu.Lock()
	if b.port != nil {
		_ = b.port.Close()
	}
	b.mu.Unlock()
	b.connected.Store(false)
	if err := b.open(); err != nil {
		return err
	}
	b.reconnects.Add(1)
	b.log.Info().Msg("serial port reopened")
	return nil
}

// Close closes the port; later calls fail with ErrDisconnected.
func (b *Bus) Close() error {
	b.connected.Store(false)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.port == nil {
		return nil
	}
	err := b.port.Close()
	b.port = nil
	return err
}

// Connected reports whether the port is open and has not failed.
func (b *Bus) Connected() bool { return b.connected.Load() }

// Latency is the adapter latency used in deadlines.
func (b *Bus) Latency() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.latency
}

// TakeAlert reports, and clears, whether any status packet since the last
// call carried the hardware alert bit. The motion layer then reads Hardware
// Error Status (70) to say which error it is.
func (b *Bus) TakeAlert() bool { return b.alert.Swap(false) }

// Stats returns the link counters.
func (b *Bus) Stats() Stats {
	return Stats{
		Transactions: b.transactions.Load(), Errors: b.errs.Load(), Timeouts: b.timeouts.Load(),
		Corrupt: b.corrupt.Load(), Retries: b.retries.Load(), Reconnects: b.reconnects.Load(), Stray: b.stray.Load(),
	}
}

// acquire takes the wire. A priority caller (emergency stop) is served
// before any ordinary caller waiting at the same time: ordinary callers that
// win the token while a priority caller waits hand it straight back. Nobody
// can preempt a transaction already on the wire, because a half-duplex bus
// garbles a request sent while the servo is still answering.
func (b *Bus) acquire(ctx context.Context, priority bool) error {
	// A cancelled caller never gets the wire, even when the token is free
	// (select would pick at random between the two).
	if err := ctx.Err(); err != nil {
		return err
	}
	if priority {
		b.prio.Add(1)
		defer b.prio.Add(-1)
	}
	for {
		select {
		case <-b.token:
		case <-ctx.Done():
			return ctx.Err()
		}
		if ctx.Err() != nil {
			b.token <- struct{}{}
			return ctx.Err()
		}
		if priority || b.prio.Load() == 0 {
			return nil
		}
		b.token <- struct{}{}
		select {
		case <-time.After(100 * time.Microsecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *Bus) release() { b.token <- struct{}{} }

// request describes one transaction.
type request struct {
	pkt      protocol.Packet
	replyLen int  // data bytes expected in the status packet
	noReply  bool // broadcast, or an instruction that gets no status
	priority bool
	retries  int
	// gate, when set, is checked while holding the wire; an error refuses
	// the transaction. The e-stop latch uses it so a write that lost the
	// race against an emergency stop never follows it onto the wire.
	gate func() error
}

// do runs a transaction with retries and returns the status reply. The
// wire is released between attempts, so an emergency stop waits for at most
// one attempt, never for a whole retry sequence.
func (b *Bus) do(ctx context.Context, r request) (protocol.StatusReply, error) {
	var st protocol.StatusReply
	var err error
	for attempt := 0; attempt <= r.retries; attempt++ {
		if attempt > 0 {
			b.retries.Add(1)
		}
		if aerr := b.acquire(ctx, r.priority); aerr != nil {
			if err == nil {
				err = fmt.Errorf("waiting for the bus: %w", aerr)
			}
			break
		}
		if r.gate != nil {
			if gerr := r.gate(); gerr != nil {
				b.release()
				return protocol.StatusReply{}, gerr
			}
		}
		began := time.Now()
		st, err = b.once(r)
		b.release()
		if b.cfg.Observe != nil && !errors.As(err, new(notSent)) {
			b.cfg.Observe(time.Since(began), resultOf(st, err))
		}
		if err == nil || !(errors.Is(err, ErrTimeout) || errors.Is(err, ErrCorrupt)) {
			break
		}
	}
	if err != nil {
		b.errs.Add(1)
		return st, fmt.Errorf("%s id %d: %w", r.pkt.Instruction, r.pkt.ID, err)
	}
	return st, nil
}

// once writes the request and waits for the reply. It deliberately ignores
// cancellation once the request is on the wire (see acquire); it is bounded
// by the transaction deadline instead.
func (b *Bus) once(r request) (protocol.StatusReply, error) {
	b.mu.Lock()
	p, lat := b.port, b.latency
	b.mu.Unlock()
	if p == nil || !b.connected.Load() {
		return protocol.StatusReply{}, notSent{ErrDisconnected}
	}
	b.transactions.Add(1)
	// Drop stale bytes first, as the SDK's clearPort does before each write
	// (docs/dynamixel.md §1), unless the line is known to be quiet (see
	// clean): the flush is a syscall (TCFLSH) per transaction, and stale
	// bytes come only from a transaction that did not end on one whole
	// status packet (a servo answers only when asked, ROBOTIS e-Manual,
	// Protocol 2.0 "Status Packet").
	if b.clean < 2 {
		if err := p.ResetInputBuffer(); err != nil && isDisconnect(err) {
			return protocol.StatusReply{}, b.lost(err)
		}
	}
	wasClean := b.clean
	b.clean = 0
	b.whole = false
	wire := r.pkt.Marshal()
	if _, err := p.Write(wire); err != nil {
		if isDisconnect(err) {
			return protocol.StatusReply{}, b.lost(err)
		}
		return protocol.StatusReply{}, fmt.Errorf("write: %w", err)
	}
	if r.noReply {
		return protocol.StatusReply{}, nil
	}
	replyBytes := protocol.Status(r.pkt.ID, 0, make([]byte, r.replyLen)).WireLen()
	deadline := time.Now().Add(transactionTimeout(len(wire), replyBytes, b.cfg.Baud, lat))
	st, err := b.receive(p, r.pkt.ID, r.replyLen, deadline)
	if b.whole {
		b.clean = min(wasClean+1, 2)
	}
	if errors.Is(err, ErrTimeout) || errors.Is(err, ErrCorrupt) {
		// A late reply may still be on its way; let the line go quiet
		// before flushing, or it would be taken for the next request's.
		time.Sleep(lat + WireTime(replyBytes, b.cfg.Baud) + maxReturnDelay)
		_ = p.ResetInputBuffer()
	}
	return st, err
}

// receive reads until a status packet from id arrives or the deadline passes.
func (b *Bus) receive(p Port, id byte, replyLen int, deadline time.Time) (protocol.StatusReply, error) {
	buf := b.buf[:0]
	defer func() { b.buf = buf[:0] }()
	sawCorrupt := false
	var chunk [64]byte
	for {
		remaining := time.Until(deadline)
		if remaining <= 0 {
			_ = p.ResetInputBuffer()
			if sawCorrupt {
				b.corrupt.Add(1)
				return protocol.StatusReply{}, ErrCorrupt
			}
			b.timeouts.Add(1)
			return protocol.StatusReply{}, ErrTimeout
		}
		if err := p.SetReadTimeout(remaining); err != nil {
			return protocol.StatusReply{}, fmt.Errorf("set read timeout: %w", err)
		}
		n, err := p.Read(chunk[:])
		if err != nil {
			if isDisconnect(err) {
				return protocol.StatusReply{}, b.lost(err)
			}
			return protocol.StatusReply{}, fmt.Errorf("read: %w", err)
		}
		buf = append(buf, chunk[:n]...)
		for len(buf) > 0 {
			pkt, used, derr := protocol.Decode(buf)
			buf = buf[used:]
			if errors.Is(derr, protocol.ErrIncomplete) {
				break
			}
			if derr != nil {
				sawCorrupt = true
				continue
			}
			st, serr := pkt.AsStatus()
			if serr != nil || st.ID != id {
				// Not ours (an echo on a half-duplex adapter, another
				// device's late reply): keep waiting, as the SDK does.
				continue
			}
			if len(st.Data) != replyLen && st.Err() == nil {
				// A status of the wrong size cannot answer this request: it
				// is the late reply of an earlier one (after a timeout on a
				// loaded host or a slow adapter). Discard it and wait for
				// ours until the deadline.
				b.stray.Add(1)
				continue
			}
			if st.Alert() {
				b.alert.Store(true)
			}
			b.whole = len(buf) == 0
			return st, st.Err()
		}
	}
}

func (b *Bus) lost(err error) error {
	if b.connected.Swap(false) {
		b.log.Warn().Err(err).Msg("serial adapter lost")
	}
	return fmt.Errorf("%w: %v", ErrDisconnected, err)
}
