package resort

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/driver/bus"
	"github.com/plate-resort/plate-resort/driver/protocol"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

// Observer receives every position the driver reads, so the agent can
// publish live state without extra bus traffic.
type Observer func(position xseries.Degrees, moving bool)

// Options are the seams of a Resort.
type Options struct {
	// Open replaces the serial opener (tests, the simulator's pipe).
	Open func(path string, baud int) (bus.Port, error)
	// Sleep waits d or until ctx ends; tests may shorten it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Observe is called with every position read.
	Observe Observer
	// Started is called when a move has passed its checks (connected, no
	// latched e-stop, no hardware error) and is about to write its goal; a
	// move refused before that never calls it.
	Started func(target xseries.Degrees)
	// SerialObserve is handed to the serial bus (bus.Config.Observe): one
	// call per transaction attempt, for the agent's metrics.
	SerialObserve bus.Observer
}

// Resort drives one carousel servo. Its methods are safe for concurrent use,
// but moves are meant to run one at a time (the agent's executor does that);
// EmergencyStop may be called at any moment from any goroutine.
type Resort struct {
	log  zerolog.Logger
	opts Options

	mu      sync.Mutex // guards the fields below
	cfg     Config
	bus     *bus.Bus
	id      byte
	model   uint16
	fw      byte
	speed   int
	velLim  int
	mode    int
	torque  bool
	lastPos xseries.Degrees

	estop atomic.Bool
	// prepared is true once the connect sequence completed on the open
	// bus; a connect that failed half-way leaves it false, so the servo
	// counts as not connected and the agent keeps retrying.
	prepared atomic.Bool
	estopGen atomic.Uint64 // counts emergency stops; a move started before one may never write again
	connMu   sync.Mutex    // serialises Connect, Reconnect and Disconnect (never EmergencyStop)
	lastHW   atomic.Int32  // last hardware error logged, to log changes only
}

// New returns a disconnected Resort. cfg must have passed Validate.
func New(cfg Config, log zerolog.Logger, opts Options) *Resort {
	if opts.Sleep == nil {
		opts.Sleep = sleepCtx
	}
	return &Resort{cfg: cfg, log: log.With().Str("component", "resort").Logger(), opts: opts, speed: cfg.DefaultSpeed, id: byte(cfg.MotorID)}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Config returns the configuration in force.
func (r *Resort) Config() Config {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cfg
}

// ConnectOptions override the configured port, baud rate and id (upstream's
// connect flow takes them). Zero values keep the configuration.
type ConnectOptions struct {
	Device   string
	Baudrate int
	MotorID  int // 0..252; 0 is a valid id, so HasID says whether it is set
	HasID    bool
	// KeepEStop keeps a latched emergency stop (the agent's automatic
	// reconnect); a connect command clears it.
	KeepEStop bool
}

// ConnectResult describes the servo found.
type ConnectResult struct {
	Device       string
	Baudrate     int
	MotorID      int
	ModelNumber  uint16
	Model        string
	Firmware     int
	Position     xseries.Degrees
	Speed        int
	LatencyMS    float64
	HardwareErrs []string
}

// Connect opens the port (or reopens it), pings the servo, checks the model,
// and prepares position mode with torque on, as upstream's connect() does but
// checking every result: torque off, operating mode 3, profile velocity and
// acceleration, goal = present position (so enabling torque never jumps to a
// stale goal), torque on. It clears a latched emergency stop.
func (r *Resort) Connect(ctx context.Context, o ConnectOptions) (ConnectResult, error) {
	r.connMu.Lock()
	defer r.connMu.Unlock()
	// Clear a latched e-stop first: one that arrives from here on must stay
	// latched, whatever this connect does next.
	if !o.KeepEStop {
		r.estop.Store(false)
	}
	r.mu.Lock()
	cfg := r.cfg
	if o.Device != "" {
		cfg.Device = o.Device
	}
	if o.Baudrate != 0 {
		cfg.Baudrate = o.Baudrate
	}
	if o.HasID {
		cfg.MotorID = o.MotorID
	}
	old := r.bus
	r.mu.Unlock()
	if err := cfg.Validate(); err != nil {
		return ConnectResult{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if old != nil {
		_ = old.Close()
	}
	b, err := bus.Open(bus.Config{
		Port: cfg.Device, Baud: cfg.Baudrate, Latency: time.Duration(cfg.LatencyMS) * time.Millisecond,
		ReadRetries: cfg.ReadRetries, Open: r.opts.Open, Observe: r.opts.SerialObserve,
	}, r.log)
	if err != nil {
		return ConnectResult{}, err
	}
	r.prepared.Store(false)
	r.mu.Lock()
	r.cfg, r.bus, r.id = cfg, b, byte(cfg.MotorID)
	r.mu.Unlock()
	res, err := r.prepare(ctx)
	if err != nil {
		// All or nothing: a servo whose model, return delay or mode was
		// never confirmed is not connected. Close the port, so Opened and
		// Connected both say so and the reconnect loop starts over.
		r.mu.Lock()
		r.bus = nil
		r.mu.Unlock()
		_ = b.Close()
		return res, fmt.Errorf("connect did not complete: %w", err)
	}
	r.prepared.Store(true)
	if !o.KeepEStop && r.estop.Load() {
		return res, fmt.Errorf("%w: an emergency stop arrived during connect; torque is off", ErrEStopLatched)
	}
	return res, nil
}

// prepare runs the connect sequence on an open bus.
func (r *Resort) prepare(ctx context.Context) (ConnectResult, error) {
	b, id, cfg := r.handle()
	info, err := b.Ping(ctx, id)
	if err != nil {
		return ConnectResult{}, fmt.Errorf("ping servo id %d on %s at %d baud: %w", id, cfg.Device, cfg.Baudrate, err)
	}
	name := xseries.ModelName(info.Model)
	if name == "" {
		r.log.Warn().Uint16("model_number", info.Model).Msg("unknown model number; assuming the X-series control table")
		name = fmt.Sprintf("unknown (model number %d)", info.Model)
	} else {
		r.log.Info().Str("model", name).Uint8("firmware", info.Firmware).Msg("servo found")
	}
	velLim, err := r.readInt(ctx, xseries.VelocityLimit)
	if err != nil {
		return ConnectResult{}, err
	}
	r.mu.Lock()
	r.model, r.fw, r.velLim = info.Model, info.Firmware, int(velLim)
	if r.speed > int(velLim) && velLim > 0 {
		r.speed = int(velLim)
	}
	r.mu.Unlock()
	if err := r.applyReturnDelay(ctx, cfg.ReturnDelayUS); err != nil {
		return ConnectResult{}, err
	}
	if r.estop.Load() {
		// Latched: make sure torque is off, also when the e-stop's own write
		// never reached the servo (link down at that moment).
		if err := r.write(ctx, xseries.TorqueEnable, 0); err != nil {
			return ConnectResult{}, err
		}
		r.setTorque(false)
	} else if err := r.enterPositionMode(ctx); err != nil {
		return ConnectResult{}, err
	}
	pos, err := r.Position(ctx)
	if err != nil {
		return ConnectResult{}, err
	}
	hw, _ := r.hardwareError(ctx)
	r.mu.Lock()
	speed := r.speed
	r.mu.Unlock()
	return ConnectResult{
		Device: cfg.Device, Baudrate: cfg.Baudrate, MotorID: int(id), ModelNumber: info.Model, Model: name,
		Firmware: int(info.Firmware), Position: pos, Speed: speed,
		LatencyMS: float64(b.Latency()) / float64(time.Millisecond), HardwareErrs: hw.Names(),
	}, nil
}

// applyReturnDelay writes Return Delay Time when it differs from us
// (EEPROM: only with torque off, and only when needed, to spare the EEPROM).
func (r *Resort) applyReturnDelay(ctx context.Context, us int) error {
	if us < 0 || r.estop.Load() {
		return nil
	}
	want := int64(us / xseries.ReturnDelayUnitMicros)
	have, err := r.readInt(ctx, xseries.ReturnDelayTime)
	if err != nil || have == want {
		return err
	}
	if err := r.write(ctx, xseries.TorqueEnable, 0); err != nil {
		return err
	}
	r.setTorque(false)
	if err := r.write(ctx, xseries.ReturnDelayTime, want); err != nil {
		return err
	}
	r.log.Info().Int64("from_us", have*xseries.ReturnDelayUnitMicros).Int("to_us", us).Msg("return delay time set")
	return nil
}

// Reconnect reopens the port after an unplug and re-applies the connect
// sequence; the agent calls it with backoff while the link is down.
func (r *Resort) Reconnect(ctx context.Context) error {
	r.connMu.Lock()
	defer r.connMu.Unlock()
	b, _, _ := r.handle()
	if b == nil {
		return ErrNotConnected
	}
	r.prepared.Store(false)
	if err := b.Reopen(ctx); err != nil {
		return err
	}
	// prepare keeps a latched e-stop: the servo stays torque-off. Until it
	// completes the servo counts as not connected, and the agent calls
	// Reconnect again.
	if _, err := r.prepare(ctx); err != nil {
		return fmt.Errorf("reconnect did not complete: %w", err)
	}
	r.prepared.Store(true)
	return nil
}

// Disconnect releases torque and closes the port (upstream's disconnect flow
// was a no-op on a fresh instance; docs/dynamixel.md §8.15).
func (r *Resort) Disconnect(ctx context.Context) error {
	r.connMu.Lock()
	defer r.connMu.Unlock()
	b, id, _ := r.handle()
	if b == nil {
		return nil
	}
	err := b.WriteNow(ctx, id, xseries.TorqueEnable.Addr, []byte{0})
	r.prepared.Store(false)
	r.mu.Lock()
	r.bus, r.torque = nil, false
	r.mu.Unlock()
	cerr := b.Close()
	if err != nil && !errors.Is(err, bus.ErrDisconnected) {
		return fmt.Errorf("torque off before disconnect: %w", err)
	}
	return cerr
}

// Connected reports whether the connect sequence completed and the bus is
// open and answering.
func (r *Resort) Connected() bool {
	b, _, _ := r.handle()
	return b != nil && b.Connected() && r.prepared.Load()
}

// Opened reports whether Connect succeeded and Disconnect was not called
// (the link itself may be down).
func (r *Resort) Opened() bool {
	b, _, _ := r.handle()
	return b != nil
}

// Link describes the serial link for health reports.
type Link struct {
	Port      string
	Baudrate  int
	Connected bool
	LatencyMS float64
	Stats     bus.Stats
}

// Link returns the link state.
func (r *Resort) Link() Link {
	b, _, cfg := r.handle()
	l := Link{Port: cfg.Device, Baudrate: cfg.Baudrate}
	if b != nil {
		l.Connected = b.Connected() && r.prepared.Load()
		l.LatencyMS = float64(b.Latency()) / float64(time.Millisecond)
		l.Stats = b.Stats()
	}
	return l
}

// Identity is what Connect learned about the servo.
type Identity struct {
	ModelNumber uint16
	Model       string
	Firmware    int
	MotorID     int
}

// Identity returns the servo found by the last Connect.
func (r *Resort) Identity() Identity {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Identity{ModelNumber: r.model, Model: xseries.ModelName(r.model), Firmware: int(r.fw), MotorID: int(r.id)}
}

func (r *Resort) handle() (*bus.Bus, byte, Config) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.bus, r.id, r.cfg
}

func (r *Resort) connectedBus() (*bus.Bus, byte, error) {
	b, id, _ := r.handle()
	if b == nil {
		return nil, 0, ErrNotConnected
	}
	return b, id, nil
}

// write is every motion/config write: refused while an e-stop is latched,
// except the two that only ever make the carousel safer (torque off, zero
// PWM). The latch check runs again inside the bus (see WriteIf) so a write
// that raced the e-stop cannot follow it onto the wire. A write made on
// behalf of a move started before the latest e-stop is refused even after
// reset (see withGen).
func (r *Resort) write(ctx context.Context, it xseries.Item, v int64) error {
	safe := v == 0 && (it == xseries.TorqueEnable || it == xseries.GoalPWM)
	gate := r.gateFor(ctx)
	if safe {
		gate = nil
	}
	if gate != nil {
		if err := gate(); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b, id, err := r.connectedBus()
	if err != nil {
		return err
	}
	data, err := it.Encode(v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err := b.WriteIf(ctx, id, it.Addr, data, gate); err != nil {
		return r.classify(ctx, fmt.Errorf("write %s = %d: %w", it.Name, v, err))
	}
	r.checkAlert(ctx)
	return nil
}

type genKey struct{}

// withGen marks ctx as belonging to a move that started under the current
// e-stop generation.
func (r *Resort) withGen(ctx context.Context) context.Context {
	return context.WithValue(ctx, genKey{}, r.estopGen.Load())
}

// stale reports whether ctx belongs to a move that an e-stop interrupted.
func (r *Resort) stale(ctx context.Context) bool {
	g, ok := ctx.Value(genKey{}).(uint64)
	return ok && g != r.estopGen.Load()
}

func (r *Resort) gateFor(ctx context.Context) func() error {
	return func() error {
		if r.estop.Load() || r.stale(ctx) {
			return ErrEStopLatched
		}
		return nil
	}
}

func (r *Resort) readInt(ctx context.Context, it xseries.Item) (int64, error) {
	b, id, err := r.connectedBus()
	if err != nil {
		return 0, err
	}
	data, err := b.Read(ctx, id, it.Addr, it.Size)
	if err != nil {
		return 0, r.classify(ctx, fmt.Errorf("read %s: %w", it.Name, err))
	}
	return it.Decode(data)
}

// classify adds the hardware error behind an alert to a device error.
func (r *Resort) classify(ctx context.Context, err error) error {
	var se *protocol.StatusError
	if errors.As(err, &se) && se.Alert {
		if hw, herr := r.hardwareError(ctx); herr == nil && hw != 0 {
			return fmt.Errorf("%w: %s (%v)", ErrHardware, hw, err)
		}
	}
	return err
}

// checkAlert reads Hardware Error Status when the last status carried the
// alert bit and logs it. An alert alone is not a failure: the data is valid
// (docs/dynamixel.md §4; upstream treated it as one, §8.12).
func (r *Resort) checkAlert(ctx context.Context) {
	b, _, _ := r.handle()
	if b == nil || !b.TakeAlert() {
		return
	}
	if hw, err := r.hardwareError(ctx); err == nil && int32(hw) != r.lastHW.Swap(int32(hw)) && hw != 0 {
		r.log.Warn().Str("hardware_error", hw.String()).Msg("servo alert")
	}
}

func (r *Resort) hardwareError(ctx context.Context) (xseries.HardwareError, error) {
	b, id, err := r.connectedBus()
	if err != nil {
		return 0, err
	}
	data, err := b.Read(ctx, id, xseries.HardwareErrorStat.Addr, 1)
	if err != nil {
		return 0, err
	}
	b.TakeAlert()
	return xseries.HardwareError(data[0]), nil
}

// Position reads Present Position as a signed int32 (upstream decoded it
// unsigned, so -5 became 4294967291; docs/dynamixel.md §8.6) and normalises it to [0, 360).
func (r *Resort) Position(ctx context.Context) (xseries.Degrees, error) {
	raw, err := r.readInt(ctx, xseries.PresentPosition)
	if err != nil {
		return 0, err
	}
	deg := xseries.Normalize(xseries.PulsesToDegrees(raw))
	r.mu.Lock()
	r.lastPos = deg
	r.mu.Unlock()
	r.checkAlert(ctx)
	return deg, nil
}

func (r *Resort) observe(pos xseries.Degrees, moving bool) {
	if r.opts.Observe != nil {
		r.opts.Observe(pos, moving)
	}
}

// EStopped reports whether an emergency stop is latched.
func (r *Resort) EStopped() bool { return r.estop.Load() }

// Speed is the Profile Velocity in force.
func (r *Resort) Speed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.speed
}

// Torque reports the last torque state the driver set or read.
func (r *Resort) Torque() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.torque
}
