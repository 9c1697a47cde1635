package homeassistant

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/internal/testenv"
	"github.com/plate-resort/plate-resort/internal/testenv/brokertest"
)

// startBroker runs the embedded broker on a free loopback port with the
// default (anonymous admin, loopback only) access until the test ends.
func startBroker(t *testing.T) string {
	t.Helper()
	return brokertest.Start(t, brokertest.Anonymous()).TCPAddr()
}

// startServo runs the simulated servo on a pseudo-terminal in the test
// process, so it outlives the agent processes that open it; it returns the
// path of the pty link.
func startServo(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skip("no /dev/ptmx")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	link := filepath.Join(t.TempDir(), "servo")
	p, err := sim.ListenPTY(ctx, sim.New(sim.Config{Seed: 1}), link)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return link
}

// agentConfig is the agent's config file: the default device and prefix,
// the test's broker and servo, fast moves and a 1 s health period.
const agentConfig = `device: resort-1
prefix: plate-resort
mqtt:
  url: mqtt://%s
  keepalive: 5s
health_interval: 1s
reconnect_interval: 100ms
journal_path: %s
log:
  level: info
  format: console
resort:
  device: %s
  default_speed: 300
  pulse_duration: 0.15
  pulse_rest: 0.05
  latency_ms: 2
`

// agentProc is `plate-resort agent` as its own process, so it can be killed
// without a DISCONNECT (its broker connection just closes).
type agentProc struct {
	bin  string
	conf string
	out  *testenv.LockedBuffer
	cmd  *exec.Cmd
	done chan struct{}
}

func newAgent(t *testing.T, bin, brokerAddr, servo string) *agentProc {
	t.Helper()
	a := &agentProc{bin: bin, conf: filepath.Join(t.TempDir(), "agent.yaml"), out: &testenv.LockedBuffer{}}
	if err := os.WriteFile(a.conf, fmt.Appendf(nil, agentConfig, brokerAddr, filepath.Join(t.TempDir(), "journal.db"), servo), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.stop(t)
		if t.Failed() {
			t.Logf("agent output:\n%s", tail(a.out.String(), 20000))
		}
	})
	return a
}

func (a *agentProc) start(t testing.TB) {
	t.Helper()
	a.cmd = exec.Command(a.bin, "agent", "-c", a.conf)
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatalf("start agent: %v", err)
	}
	a.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(a.cmd, a.done)
}

// stop is a clean shutdown (SIGTERM): the agent publishes offline itself.
func (a *agentProc) stop(t testing.TB) { a.signal(t, syscall.SIGTERM) }

// kill is a crash (SIGKILL): the broker publishes the Last Will.
func (a *agentProc) kill(t testing.TB) { a.signal(t, syscall.SIGKILL) }

func (a *agentProc) signal(t testing.TB, sig syscall.Signal) {
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Signal(sig)
	select {
	case <-a.done:
	case <-time.After(15 * time.Second):
		t.Errorf("agent did not exit within 15 s of %v", sig)
		_ = a.cmd.Process.Kill()
		<-a.done
	}
	a.cmd = nil
}
