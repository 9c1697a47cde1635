package bridge

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/bridge/prefect/prefecttest"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/bus"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/internal/testenv/brokertest"
)

// One Prefect server for the package (starting one costs seconds). Tests
// run one after another: deployment names are fixed (the upstream names),
// so each test registers them into its own pool.
var srv = prefecttest.NewShared(prefecttest.Options{})

func TestMain(m *testing.M) { os.Exit(srv.Run(m)) }

// rig is the whole chain with real parts: Prefect server, embedded broker,
// agent, simulated servo over an in-memory serial pipe, and the bridge.
type rig struct {
	t       *testing.T
	prefect *prefecttest.Server
	pc      *prefect.Client
	broker  *broker.Broker
	servo   *sim.Servo
	agentC  context.CancelFunc
	agentD  chan struct{}
	cfg     Config
	acfg    agent.Config
}

type rigOptions struct {
	server    *prefecttest.Server // default: the shared one
	speed     int                 // agent default speed (Profile Velocity); default fast
	noAgent   bool
	configure func(*Config)
}

var nameClean = regexp.MustCompile(`[^A-Za-z0-9-]+`)

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	ps := o.server
	if ps == nil {
		ps = srv.Get(t)
	}
	b := brokertest.Start(t, brokertest.Anonymous())
	r := &rig{t: t, prefect: ps, broker: b}
	name := strings.ToLower(nameClean.ReplaceAllString(t.Name(), "-"))
	if len(name) > 40 {
		name = name[len(name)-40:]
	}
	r.cfg = Defaults()
	r.cfg.Prefect = PrefectConfig{APIURL: ps.URL, AuthString: ps.AuthString}
	r.cfg.WorkPool = "pool-" + name
	r.cfg.WorkerName = "w-" + name
	r.cfg.MQTT.URL = "mqtt://" + b.TCPAddr()
	r.cfg.Deployments = map[string]DeploymentConfig{}
	r.cfg.PollInterval = 2 * time.Second
	r.cfg.HeartbeatInterval = 5 * time.Second
	r.cfg.CommandTimeout = TimeoutsConfig{Motion: 60 * time.Second, Read: 5 * time.Second, Control: 5 * time.Second}
	r.cfg.RunTimeout = 2 * time.Minute
	r.cfg.Log.Level = "debug"
	if o.configure != nil {
		o.configure(&r.cfg)
	}
	pc, err := prefect.New(r.cfg.prefectConfig())
	if err != nil {
		t.Fatal(err)
	}
	r.pc = pc
	r.servo = sim.New(sim.Config{Deadband: -1, Seed: 1})
	r.acfg = agent.Defaults()
	r.acfg.JournalFile = filepath.Join(t.TempDir(), "journal.db") // kept across agent restarts
	r.acfg.MQTT.URL = r.cfg.MQTT.URL
	r.acfg.Resort.Device = "/dev/sim-resort"
	r.acfg.HomeAssistant.Enabled = false
	r.acfg.Resort.DefaultSpeed = 400
	// Slow moves (cancel and restart tests) must not time out in stage 1.
	r.acfg.Resort.Stage1Timeout = 120
	r.acfg.Resort.MovementTimeout = 120
	if o.speed > 0 {
		r.acfg.Resort.DefaultSpeed = o.speed
	}
	r.acfg.Log.Level = "warn"
	if !o.noAgent {
		r.startAgent()
	}
	return r
}

// startAgent runs the agent with the simulated servo on a fresh pipe.
func (r *rig) startAgent() {
	r.t.Helper()
	host, stop := sim.Pipe(r.servo)
	a, err := agent.New(r.acfg, testLogger(r.t, "agent"), agent.Options{SerialOpen: func(string, int) (bus.Port, error) { return host, nil }})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.agentC, r.agentD = cancel, make(chan struct{})
	go func() { defer close(r.agentD); _ = a.Run(ctx); stop() }()
	r.t.Cleanup(r.stopAgent)
}

// stopAgent stops the agent cleanly: it publishes availability offline.
func (r *rig) stopAgent() {
	if r.agentC != nil {
		r.agentC()
		<-r.agentD
		r.agentC = nil
	}
}

// startBridge runs a bridge with cfg until the returned stop is called (or
// the test ends); stop waits for Run to return.
func (r *rig) startBridge(cfg Config) (*Bridge, func()) {
	r.t.Helper()
	b, err := New(cfg, testLogger(r.t, cfg.WorkerName))
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	var stopped bool
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				r.t.Errorf("bridge Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			r.t.Error("bridge did not stop within 30 s")
		}
	}
	r.t.Cleanup(stop)
	r.waitRegistered(b)
	return b, stop
}

// waitRegistered waits until the bridge registered its deployments and sees
// the device online with its servo connected.
func (r *rig) waitRegistered(b *Bridge) {
	r.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		b.mu.Lock()
		n := len(b.deps)
		b.mu.Unlock()
		st, _ := b.devs.get(r.cfg.primary())
		// Every deployment of every device, not just the first one upserted.
		if n >= wantDeployments(b) && (r.agentC == nil || st.Availability == contract.Online && st.State.Connected) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatal("bridge did not register and see the device within 60 s")
}

// python runs a lab user's script against the rig's Prefect server and
// decodes the JSON it prints last.
func (r *rig) python(script string, out any) {
	r.t.Helper()
	stdout, err := r.prefect.Python(r.t, script)
	if err != nil {
		r.t.Fatalf("%v\nstdout:\n%s", err, stdout)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), out); err != nil {
		r.t.Fatalf("python output %q: %v", stdout, err)
	}
}

// pyRun is the preamble of the Python scripts: run_deployment exactly as
// lab users call it, then a JSON line with the final state.
const pyRun = `
import json, sys
from prefect.deployments import run_deployment

def final(fr):
    st = fr.state
    out = {"id": str(fr.id), "type": st.type.value, "name": st.name, "message": st.message}
    if st.is_completed():
        out["result"] = st.result()
    return out
`

// pyOutcome is what the scripts print.
type pyOutcome struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	Message string `json:"message"`
	Result  any    `json:"result"`
	Error   string `json:"error"`
}

// runMoving creates a run of activate-hotel/activate-hotel to hotel and
// returns once resort-1 is moving for it.
func (r *rig) runMoving(ctx context.Context, b *Bridge, hotel string) *prefect.FlowRun {
	r.t.Helper()
	dep, err := r.pc.ReadDeploymentByName(ctx, "activate-hotel", "activate-hotel")
	if err != nil {
		r.t.Fatal(err)
	}
	fr := createRun(r.t, r.pc, dep.ID, map[string]any{"hotel": hotel})
	if _, ok := b.devs.await(ctx, "resort-1", func(s deviceStatus) bool { return busyWith(s.State, fr.ID) && s.State.Moving }); !ok {
		r.t.Fatal("the move never started")
	}
	return fr
}

func testLogger(t *testing.T, name string) zerolog.Logger {
	if testing.Verbose() {
		return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, NoColor: true}).With().Timestamp().Str("who", name).Logger()
	}
	return zerolog.Nop()
}
