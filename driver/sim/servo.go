package sim

import (
	"math"
	"math/rand"
	"strconv"
	"sync"
	"time"

	"github.com/plate-resort/plate-resort/driver/protocol"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

// Servo is one simulated X-series servo. All methods are safe for concurrent
// use; one Servo may serve several streams in turn (a pty that is replugged).
type Servo struct {
	cfg Config
	md  modelDefaults

	mu  sync.Mutex
	tab *table
	rng *rand.Rand

	// Mechanics, in pulses (4096 per turn). pos is the continuous Present
	// Position: it keeps counting turns until reset into 0..4095.
	pos, vel  float64
	target    float64 // where a position move stops (goal minus deadband)
	profiling bool    // a position profile is running toward target
	torque    bool
	hwErr     xseries.HardwareError
	pushFor   time.Duration // time pushed against an obstacle with torque on
	pushing   bool
	obstacles []float64 // stall angles in pulses, 0..4095
	pwmGain   float64   // per-pulse variation of PWM moves
	currentMA float64
	tempC     float64
	lastStep  time.Time
	ticks     int // Serve's physics ticks, for tests of the idle ticker
	bootAt    time.Time
	silentTil time.Time
	// lastRequest is when the last instruction packet for this servo
	// arrived: the Bus Watchdog (98) measures silence from it.
	lastRequest     time.Time
	watchdogTripped bool

	registered *regWrite // pending Reg Write, applied by Action

	// Faults and observation.
	unplugged   bool
	corruptNext int
	// silenceAfter > 0 counts the replies left before the servo falls
	// silent (SilenceAfter).
	silenceAfter int
	writeCount   map[uint16]int
	requests     map[protocol.Instruction]int
	onWrite      func(addr uint16, data []byte, at time.Time)
}

// regWrite is a validated Reg Write waiting for Action.
type regWrite struct {
	addr uint16
	data []byte
}

// New powers up a servo.
func New(cfg Config) *Servo {
	cfg = cfg.withDefaults()
	now := time.Now()
	s := &Servo{
		cfg:        cfg,
		md:         defaultsFor(cfg.Model),
		rng:        rand.New(rand.NewSource(cfg.Seed)),
		pos:        float64(cfg.InitialPosition.Pulses()),
		tempC:      cfg.AmbientC,
		pwmGain:    1,
		lastStep:   now,
		bootAt:     now,
		writeCount: map[uint16]int{},
		requests:   map[protocol.Instruction]int{},
	}
	s.tab = newTable(s.md)
	s.resetEEPROM(false, false)
	s.tab.set(aID, int64(cfg.ID))
	if code, ok := xseries.BaudCodes[cfg.Baud]; ok {
		s.tab.set(aBaud, int64(code))
	}
	s.resetRAM()
	s.syncPresent(now)
	return s
}

// State is what a test or benchmark observes without going through the bus.
type State struct {
	Position     xseries.Degrees // Present Position (may be outside 0..360 after turns)
	Goal         xseries.Degrees
	Torque       bool
	Mode         int
	GoalPWM      int
	HWError      xseries.HardwareError
	TemperatureC float64
	CurrentMA    float64
	VoltageV     float64
	Moving       bool
	Pushing      bool // pressing against a StallAt obstacle with torque on
	Unplugged    bool
	ID           byte
}

// Snapshot advances the physics to now and returns the state.
func (s *Servo) Snapshot() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.advance(now)
	s.syncPresent(now)
	t := s.tab
	return State{
		Position:     xseries.PulsesToDegrees(t.get(aPresentPos)),
		Goal:         xseries.PulsesToDegrees(t.get(aGoalPos)),
		Torque:       s.torque,
		Mode:         int(t.get(aMode)),
		GoalPWM:      int(t.get(aGoalPWM)),
		HWError:      s.hwErr,
		TemperatureC: math.Round(s.tempC*10) / 10,
		CurrentMA:    s.currentMA,
		VoltageV:     float64(t.get(aVoltage)) / 10,
		Moving:       t.get(aMoving) != 0,
		Pushing:      s.pushing,
		Unplugged:    s.unplugged,
		ID:           byte(t.get(aID)),
	}
}

// WriteCount is how many applied writes (Write, Reg Write + Action, Sync
// Write, Bulk Write) covered addr. Refused writes are not counted.
func (s *Servo) WriteCount(addr uint16) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeCount[addr]
}

// Requests returns how many instruction packets addressed to this servo (or
// broadcast) arrived, per instruction, including refused ones.
func (s *Servo) Requests() map[protocol.Instruction]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[protocol.Instruction]int, len(s.requests))
	for k, v := range s.requests {
		out[k] = v
	}
	return out
}

// OnWrite installs a hook called after each applied write with its start
// address, data and the time it was applied. It runs on the serving
// goroutine, outside the servo's lock, so it may call Snapshot; keep it short.
func (s *Servo) OnWrite(fn func(addr uint16, data []byte, at time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onWrite = fn
}

// String names the servo for logs.
func (s *Servo) String() string {
	name := xseries.ModelName(s.cfg.Model)
	if name == "" {
		name = "model " + strconv.Itoa(int(s.cfg.Model))
	}
	return "simulated " + name + " id " + strconv.Itoa(int(s.cfg.ID))
}
