package agent_test

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// env is one agent on a real broker, with the simulated servo on a real
// pseudo-terminal opened through go.bug.st/serial.
type env struct {
	t       *testing.T
	host    string
	port    string
	servo   *sim.Servo
	pty     *sim.PTY
	cfg     agent.Config
	cancel  context.CancelFunc
	done    chan error
	mosq    *testenv.Mosquitto
	lastErr error
}

type opts struct {
	mosquitto bool
	sim       sim.Config
	mut       func(*agent.Config)
}

func startEmbedded(t *testing.T) string {
	t.Helper()
	cfg := broker.DefaultConfig()
	cfg.Listeners.TCP.Address = "127.0.0.1:0"
	return startBroker(t, cfg).TCPAddr()
}

// startBroker runs an embedded broker with cfg until the test ends; its
// log goes to the test log.
func startBroker(t *testing.T, cfg broker.Config) *broker.Broker {
	t.Helper()
	// The broker logs into a buffer shown only when the test failed: mochi's
	// event loop logs after Close returns, and writing to t after the test
	// ended is a data race in the testing package.
	logs := &testenv.LockedBuffer{}
	b, err := broker.New(cfg, zerolog.New(logs).With().Str("part", "broker").Logger().Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Close()
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	})
	return b
}

// agentOnBroker runs an agent with the simulated servo on a pty until the
// test ends; mut points it at the test's broker (URL, credentials, CA).
func agentOnBroker(t *testing.T, mut func(*agent.Config)) *sim.Servo {
	t.Helper()
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("no /dev/ptmx")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	servo := sim.New(sim.Config{})
	link := filepath.Join(t.TempDir(), "servo")
	p, err := sim.ListenPTY(ctx, servo, link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	cfg := agent.Defaults()
	cfg.JournalFile = filepath.Join(t.TempDir(), "journal.db")
	cfg.Resort.Device, cfg.Resort.DefaultSpeed, cfg.Resort.LatencyMS = link, 300, 2
	cfg.Resort.PulseDuration, cfg.Resort.PulseRest = 0.15, 0.05
	mut(&cfg)
	a, err := agent.New(cfg, zerolog.New(zerolog.NewTestWriter(t)), agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(actx) }()
	t.Cleanup(func() { acancel(); <-done })
	return servo
}

func newEnv(t *testing.T, o opts) *env {
	t.Helper()
	testenv.NeedBinary(t, "mosquitto_pub")
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("no /dev/ptmx")
	}
	e := &env{t: t}
	var addr string
	if o.mosquitto {
		e.mosq = testenv.StartMosquitto(t)
		addr = e.mosq.Addr
	} else {
		addr = startEmbedded(t)
	}
	var err error
	e.host, e.port, err = net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.servo = sim.New(o.sim)
	link := filepath.Join(t.TempDir(), "servo")
	e.pty, err = sim.ListenPTY(ctx, e.servo, link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.pty.Close() })

	cfg := agent.Defaults()
	cfg.JournalFile = filepath.Join(t.TempDir(), "journal.db") // kept across restarts of this agent
	cfg.MQTT.URL = "mqtt://" + addr
	cfg.Resort.Device = link
	cfg.Resort.DefaultSpeed = 300
	cfg.Resort.PulseDuration, cfg.Resort.PulseRest = 0.15, 0.05
	cfg.Resort.LatencyMS = 2
	cfg.Resort.RebootWait = 0.35
	cfg.HealthInterval = 500 * time.Millisecond
	cfg.ReconnectInterval = 100 * time.Millisecond
	cfg.Log.Format = "console"
	if o.mut != nil {
		o.mut(&cfg)
	}
	e.cfg = cfg
	e.start()
	return e
}

func (e *env) start() {
	e.t.Helper()
	a, err := agent.New(e.cfg, zerolog.New(zerolog.NewTestWriter(e.t)).Level(zerolog.InfoLevel), agent.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- a.Run(ctx) }()
	e.t.Cleanup(e.stop)
	e.waitRetained("availability", func(s string) bool { return s == "online" })
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		e.t.Error("agent did not stop within 10 s")
	}
	e.cancel = nil
}

func (e *env) base() string { return e.cfg.Topics().Base }

func (e *env) conn() []string { return []string{"-h", e.host, "-p", e.port} }

// pub sends a command with mosquitto_pub; extra are more mosquitto_pub args.
func (e *env) pub(cmd, payload string, extra ...string) {
	e.t.Helper()
	args := append(e.conn(), "-q", "1", "-t", e.cfg.Topics().Command(cmd))
	if payload == "" {
		args = append(args, "-n")
	} else {
		args = append(args, "-m", payload)
	}
	args = append(args, extra...)
	if _, err := testenv.Run(e.t, 10*time.Second, "mosquitto_pub", args...); err != nil {
		e.t.Fatal(err)
	}
}

// replies subscribes to every reply of this device.
func (e *env) replies() *testenv.Sub {
	return testenv.StartSub(e.t, append(e.conn(), "-q", "1", "-v", "-t", e.cfg.Topics().ReplyFilter())...)
}

// reply is a decoded reply line.
type reply struct {
	Topic     string
	ID        *string         `json:"id"`
	Command   string          `json:"command"`
	Status    string          `json:"status"`
	Result    json.RawMessage `json:"result"`
	Error     *struct{ Code, Message string }
	Duplicate bool `json:"duplicate"`
}

func parseLine(t *testing.T, line string) reply {
	t.Helper()
	topic, payload, _ := strings.Cut(line, " ")
	var r reply
	if err := json.Unmarshal([]byte(payload), &r); err != nil {
		t.Fatalf("reply %q is not JSON: %v", line, err)
	}
	r.Topic = topic
	return r
}

// waitReply waits for the reply to command with id (any id when "").
func waitReply(t *testing.T, s *testenv.Sub, command, id string, timeout time.Duration) reply {
	t.Helper()
	line := s.Wait(t, timeout, func(l string) bool {
		topic, payload, _ := strings.Cut(l, " ")
		if !strings.HasSuffix(topic, "/"+contract.LevelReply+"/"+command) {
			return false
		}
		return id == "" || strings.Contains(payload, `"id":"`+id+`"`)
	})
	return parseLine(t, line)
}

// retained reads the current retained value of <base>/<leaf>.
func (e *env) retained(leaf string) string {
	e.t.Helper()
	out, err := testenv.Run(e.t, 5*time.Second, "mosquitto_sub", append(e.conn(), "-t", e.base()+"/"+leaf, "-C", "1", "-W", "3")...)
	if err != nil {
		e.lastErr = err
		return ""
	}
	return strings.TrimSpace(out)
}

func (e *env) waitRetained(leaf string, ok func(string) bool) string {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		last = e.retained(leaf)
		if ok(last) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("retained %s never matched; last %q (last mosquitto_sub error: %v)", leaf, last, e.lastErr)
	return ""
}

type state struct {
	Connected   bool     `json:"connected"`
	Torque      bool     `json:"torque"`
	Moving      bool     `json:"moving"`
	PositionDeg *float64 `json:"position_deg"`
	ActiveHotel *string  `json:"active_hotel"`
	EStop       bool     `json:"estop"`
	Queue       int      `json:"queue"`
	Speed       int      `json:"speed"`
	Busy        *struct {
		ID      *string `json:"id"`
		Command string  `json:"command"`
	} `json:"busy"`
}

func decodeState(t *testing.T, s string) state {
	t.Helper()
	var st state
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		t.Fatalf("state %q: %v", s, err)
	}
	return st
}

func goalWrites(s *sim.Servo) int { return s.WriteCount(xseries.GoalPosition.Addr) }
