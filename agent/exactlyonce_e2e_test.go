package agent_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// goalLog records the Goal Position values the simulated servo receives.
type goalLog struct {
	mu    sync.Mutex
	goals []int32
}

func (g *goalLog) count(pulses int32) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, v := range g.goals {
		if v == pulses {
			n++
		}
	}
	return n
}

func logGoals(e *env) *goalLog {
	g := &goalLog{}
	e.servo.OnWrite(func(addr uint16, data []byte, _ time.Time) {
		if addr == xseries.GoalPosition.Addr && len(data) == 4 {
			g.mu.Lock()
			g.goals = append(g.goals, int32(binary.LittleEndian.Uint32(data)))
			g.mu.Unlock()
		}
	})
	return g
}

// The reproduction of the bug: a move with id X, then 1100 commands with
// fresh ids, then X again: X must not move the carousel again (the memory
// of ids used to hold 1024). Across a clean restart too.
func TestRepeatedIDNeverRunsTwiceAfterManyOthers(t *testing.T) {
	e := newEnv(t, opts{})
	goals := logGoals(e)
	rs := e.replies()
	e.pub(contract.MoveToAngle, `{"id":"X","angle":180,"precise":false}`)
	if r := waitReply(t, rs, contract.MoveToAngle, "X", 30*time.Second); r.Status != "ok" {
		t.Fatalf("first X: %+v", r)
	}
	want := goals.count(2048)
	if want == 0 {
		t.Fatal("the move to 180° wrote no goal of 2048 pulses")
	}
	// 1100 resets with fresh ids, in one mosquitto_pub session.
	var b strings.Builder
	for i := range 1100 {
		fmt.Fprintf(&b, "{\"id\":\"r%d\"}\n", i)
	}
	in := testenv.NeedBinary(t, "mosquitto_pub")
	cmd := exec.Command(in, append(e.conn(), "-q", "1", "-l", "-t", e.cfg.Topics().Command(contract.Reset))...)
	cmd.Stdin = strings.NewReader(b.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, out)
	}
	waitReply(t, rs, contract.Reset, "r1099", 60*time.Second)
	e.pub(contract.MoveToAngle, `{"id":"Y","angle":90,"precise":false}`)
	waitReply(t, rs, contract.MoveToAngle, "Y", 30*time.Second)

	rs = e.replies() // a fresh subscription: the first X's reply is in the old one
	e.pub(contract.MoveToAngle, `{"id":"X","angle":180,"precise":false}`)
	r := waitReply(t, rs, contract.MoveToAngle, "X", 30*time.Second)
	if !r.Duplicate || r.Status != "ok" {
		t.Fatalf("X again after 1100 others: %+v, want the stored reply marked duplicate", r)
	}
	time.Sleep(300 * time.Millisecond)
	if got := goals.count(2048); got != want {
		t.Fatalf("X ran again: %d goal writes of 2048 pulses, want %d", got, want)
	}
	e.stop()
	e.start()
	rs = e.replies()
	e.pub(contract.MoveToAngle, `{"id":"X","angle":180,"precise":false}`)
	if r := waitReply(t, rs, contract.MoveToAngle, "X", 30*time.Second); !r.Duplicate {
		t.Fatalf("X after a restart: %+v, want the stored reply", r)
	}
	if got := goals.count(2048); got != want {
		t.Fatalf("X ran again after a restart: %d goal writes, want %d", got, want)
	}
}

// kill -9 the agent in the middle of a move, start it again, resend the
// id: the command is reported interrupted (outcome unknown) and never run
// again: no Goal Position write of its target.
func TestKilledMidMoveIsInterruptedNeverRerun(t *testing.T) {
	e := newEnv(t, opts{mut: func(c *agent.Config) { c.Resort.DefaultSpeed = 15 }})
	goals := logGoals(e)
	e.stop() // the in-process agent hands over to a process we can kill
	bin := testenv.PlateResort(t)
	envv := append(os.Environ(),
		"PLATE_RESORT_MQTT__URL="+e.cfg.MQTT.URL, "PLATE_RESORT_RESORT__DEVICE="+e.cfg.Resort.Device,
		"PLATE_RESORT_JOURNAL_PATH="+e.cfg.JournalFile, "PLATE_RESORT_CONNECT_ON_START=true",
		"PLATE_RESORT_RESORT__DEFAULT_SPEED=15", "PLATE_RESORT_RESORT__LATENCY_MS=2",
		"PLATE_RESORT_HOMEASSISTANT__ENABLED=false", "PLATE_RESORT_LOG__FORMAT=json")
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "agent")
		cmd.Env = envv
		logs := &testenv.LockedBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("agent process log:\n%s", logs.String())
			}
		})
		e.waitRetained("availability", func(s string) bool { return s == "online" })
		return cmd
	}
	p := start()
	rs := e.replies()
	e.pub(contract.MoveToAngle, `{"id":"M","angle":180,"precise":false}`)
	testenv.Eventually(t, 10*time.Second, "the move to start", func() bool { return goals.count(2048) > 0 && e.servo.Snapshot().Moving })
	before := goals.count(2048)
	if err := p.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.Wait()
	e.waitRetained("availability", func(s string) bool { return s == "offline" }) // the Last Will
	start()
	e.pub(contract.MoveToAngle, `{"id":"M","angle":180,"precise":false}`)
	r := waitReply(t, rs, contract.MoveToAngle, "M", 30*time.Second)
	if r.Status != "error" || r.Error == nil || r.Error.Code != string(contract.CodeInterrupted) {
		t.Fatalf("M after kill -9 and restart: %+v, want error interrupted", r)
	}
	time.Sleep(500 * time.Millisecond)
	if got := goals.count(2048); got != before {
		t.Fatalf("M was run again after the restart: %d goal writes of its target, want %d", got, before)
	}
}

// A move that started and then failed (the adapter pulled mid-move) was
// executed: its id is remembered with its error reply, and a re-send (a
// client's retry, a restarted bridge recovering the run) gets that reply
// and never moves the carousel again. The 30-minute soak found this: such
// failures used to be taken for refusals and forgotten.
func TestFailedAfterStartIsNeverRerun(t *testing.T) {
	e := newEnv(t, opts{mut: func(c *agent.Config) { c.Resort.DefaultSpeed = 15; c.Resort.ReadRetries = 0 }})
	goals := logGoals(e)
	rs := e.replies()
	e.pub(contract.MoveToAngle, `{"id":"F","angle":180,"precise":false}`)
	testenv.Eventually(t, 10*time.Second, "the move to start", func() bool { return goals.count(2048) > 0 })
	if err := e.pty.Unplug(); err != nil {
		t.Fatal(err)
	}
	r := waitReply(t, rs, contract.MoveToAngle, "F", 30*time.Second)
	if r.Status != "error" {
		t.Fatalf("move with the adapter pulled: %+v", r)
	}
	if err := e.pty.Replug(); err != nil {
		t.Fatal(err)
	}
	e.waitRetained("health", func(s string) bool { return strings.Contains(s, `"connected":true`) })
	before := goals.count(2048)
	rs = e.replies()
	e.pub(contract.MoveToAngle, `{"id":"F","angle":180,"precise":false}`)
	again := waitReply(t, rs, contract.MoveToAngle, "F", 30*time.Second)
	if !again.Duplicate || again.Status != "error" {
		t.Fatalf("F re-sent after it failed mid-move: %+v, want its stored error reply", again)
	}
	time.Sleep(500 * time.Millisecond)
	if got := goals.count(2048); got != before {
		t.Fatalf("F ran again: %d goal writes of its target, want %d", got, before)
	}
}
