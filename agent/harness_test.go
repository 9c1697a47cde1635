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
	"golang.org/x/crypto/bcrypt"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/testenv"
	"github.com/plate-resort/plate-resort/internal/testenv/brokertest"
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
	halt    func() // stops the running agent; nil when none runs
	mosq    *testenv.Mosquitto
	lastErr error
}

type opts struct {
	mosquitto bool
	sim       sim.Config
	mut       func(*agent.Config)
}

// startEmbedded runs the embedded broker with anonymous access on a free
// loopback port until the test ends.
func startEmbedded(t *testing.T) string {
	t.Helper()
	return brokertest.Start(t, brokertest.Anonymous()).TCPAddr()
}

// simAgentConfig is an agent's config (agent.Defaults) with the simulated
// servo, configured by sc, on a real pseudo-terminal opened through
// go.bug.st/serial, and a journal in a temp dir; both last until the test
// ends. The caller points it at its broker.
func simAgentConfig(t *testing.T, sc sim.Config) (agent.Config, *sim.Servo, *sim.PTY) {
	t.Helper()
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("no /dev/ptmx")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	servo := sim.New(sc)
	link := filepath.Join(t.TempDir(), "servo")
	p, err := sim.ListenPTY(ctx, servo, link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	cfg := agent.Defaults()
	cfg.JournalFile = filepath.Join(t.TempDir(), "journal.db") // kept across restarts of this agent
	cfg.Resort.Device, cfg.Resort.DefaultSpeed, cfg.Resort.LatencyMS = link, 300, 2
	cfg.Resort.PulseDuration, cfg.Resort.PulseRest = 0.15, 0.05
	return cfg, servo, p
}

// runAgent runs an agent with cfg, logging to log, until the test ends or
// stop is called (stop waits up to 10 s and may be called again).
func runAgent(t *testing.T, cfg agent.Config, log zerolog.Logger) (stop func()) {
	t.Helper()
	a, err := agent.New(cfg, log, agent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("agent did not stop within 10 s")
		}
	}
	t.Cleanup(stop)
	return stop
}

// agentOnBroker runs an agent with the simulated servo on a pty until the
// test ends; mut points it at the test's broker (URL, credentials, CA).
func agentOnBroker(t *testing.T, mut func(*agent.Config)) *sim.Servo {
	t.Helper()
	cfg, servo, _ := simAgentConfig(t, sim.Config{})
	mut(&cfg)
	runAgent(t, cfg, zerolog.New(zerolog.NewTestWriter(t)))
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
	var cfg agent.Config
	cfg, e.servo, e.pty = simAgentConfig(t, o.sim)
	cfg.MQTT.URL = "mqtt://" + addr
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
	e.halt = runAgent(e.t, e.cfg, zerolog.New(zerolog.NewTestWriter(e.t)).Level(zerolog.InfoLevel))
	e.waitRetained("availability", func(s string) bool { return s == "online" })
}

func (e *env) stop() {
	if e.halt != nil {
		e.halt()
		e.halt = nil
	}
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

// mqttUsers is an embedded broker with users and roles (usersBroker),
// reached with the mosquitto clients as one of them.
type mqttUsers struct{ host, port string }

// usersBroker runs the embedded broker with users and no anonymous access,
// as configs/broker-production.yaml; every password is <user>-pw (hashed
// at bcrypt's lowest cost, so the suite stays fast).
func usersBroker(t *testing.T, users map[string]broker.UserConfig) mqttUsers {
	t.Helper()
	bcfg := brokertest.Anonymous()
	bcfg.Anonymous = broker.AnonymousConfig{}
	bcfg.Users = map[string]broker.UserConfig{}
	for name, u := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(name+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		u.PasswordHash = string(h)
		bcfg.Users[name] = u
	}
	b := brokertest.Start(t, bcfg)
	host, port, _ := strings.Cut(b.TCPAddr(), ":")
	return mqttUsers{host, port}
}

// url is the broker's mqtt:// URL.
func (m mqttUsers) url() string { return "mqtt://" + m.host + ":" + m.port }

// as are the mosquitto client arguments to connect as user, with MQTT 5.
func (m mqttUsers) as(user string) []string {
	return []string{"-h", m.host, "-p", m.port, "-u", user, "-P", user + "-pw", "-V", "mqttv5"}
}

// rr sends cmd as user to tp's device with mosquitto_rr and returns the
// reply from the user's private response topic (payload "" sends none).
func (m mqttUsers) rr(t *testing.T, tp contract.Topics, user, cmd, payload string) reply {
	t.Helper()
	args := append(m.as(user), "-q", "1", "-t", tp.Command(cmd), "-e", contract.ResponseTopic(tp.Prefix, user, tp.Device+"/rr"), "-W", "15")
	if payload == "" {
		args = append(args, "-n")
	} else {
		args = append(args, "-m", payload)
	}
	out, err := testenv.Run(t, 20*time.Second, "mosquitto_rr", args...)
	if err != nil {
		t.Fatalf("%s %s as %s: %v %q", cmd, payload, user, err, out)
	}
	return parseLine(t, "x "+strings.TrimSpace(out))
}

// retainedAs reads topic's retained message as user ("" when none came
// within 2 s).
func (m mqttUsers) retainedAs(t *testing.T, user, topic string) string {
	t.Helper()
	out, _ := testenv.Run(t, 5*time.Second, "mosquitto_sub", append(m.as(user), "-t", topic, "-C", "1", "-W", "2")...)
	return strings.TrimSpace(out)
}

// pubLines publishes each line as one QoS 1 message on topic, as user, in
// one mosquitto_pub session (-l: a message per line of stdin) [MOSQ].
func (m mqttUsers) pubLines(t *testing.T, user, topic string, lines []string) {
	t.Helper()
	burst := filepath.Join(t.TempDir(), "burst")
	if err := os.WriteFile(burst, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-c", `mosquitto_pub "$@" < "$0"`, burst}, append(m.as(user), "-q", "1", "-t", topic, "-l")...)
	if out, err := testenv.RunCombined(t, 30*time.Second, "sh", args...); err != nil {
		t.Fatalf("%d messages on %s as %s: %v %s", len(lines), topic, user, err, out)
	}
}
