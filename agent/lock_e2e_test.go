package agent_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// lockBroker is the embedded broker with one agent user per device
// (pi-<device>), two operators (alice, bob), a viewer (vic) and an admin
// (root); every password is <user>-pw.
func lockBroker(t *testing.T, devices ...string) mqttUsers {
	t.Helper()
	users := map[string]broker.UserConfig{
		"alice": {Role: broker.RoleOperator},
		"bob":   {Role: broker.RoleOperator},
		"vic":   {Role: broker.RoleViewer},
		"root":  {Role: broker.RoleAdmin},
	}
	for _, d := range devices {
		users["pi-"+d] = broker.UserConfig{Role: broker.RoleAgent, Devices: []string{d}}
	}
	return usersBroker(t, users)
}

// lockAgentConfig is device's agent as user pi-<device>, with its servo
// simulated on a pty.
func lockAgentConfig(t *testing.T, m mqttUsers, device string) (agent.Config, *sim.Servo) {
	t.Helper()
	cfg, servo, _ := simAgentConfig(t, simAt(10))
	cfg.Device = device
	cfg.MQTT.URL, cfg.MQTT.Username, cfg.MQTT.Password = m.url(), "pi-"+device, "pi-"+device+"-pw"
	cfg.HomeAssistant.Enabled = false
	return cfg, servo
}

// retained reads topic's retained message as the admin.
func (m mqttUsers) retained(t *testing.T, topic string) string {
	t.Helper()
	return m.retainedAs(t, "root", topic)
}

// lockedState is the lock part of state.
type lockedState struct {
	Lock *struct {
		Owner     string    `json:"owner"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"lock"`
	EStop  bool `json:"estop"`
	Torque bool `json:"torque"`
}

func (m mqttUsers) state(t *testing.T, tp contract.Topics) (lockedState, string) {
	t.Helper()
	raw := m.retained(t, tp.State())
	var s lockedState
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatalf("state %q: %v", raw, err)
	}
	return s, raw
}

func wantCode(t *testing.T, what string, r reply, code string) {
	t.Helper()
	if r.Status != "error" || r.Error == nil || r.Error.Code != code {
		t.Fatalf("%s: %+v, want %s", what, r, code)
	}
}

func wantOK(t *testing.T, what string, r reply) {
	t.Helper()
	if r.Status != "ok" {
		t.Fatalf("%s: %+v, want ok", what, r)
	}
}

// The lock, end to end through the embedded broker with users and the
// simulated servo on a pty: alice's lock keeps bob's moves (one, and a
// burst of 200) off the servo, never bob's emergency stop; alice's own
// commands carry the lock_id and run; the lock expires by itself, survives
// an agent restart, and only an admin may force it open.
func TestLockE2E(t *testing.T) {
	testenv.NeedBinary(t, "mosquitto_rr")
	m := lockBroker(t, "resort-1")
	cfg, servo := lockAgentConfig(t, m, "resort-1")
	tp := cfg.Topics()
	logs := &testenv.LockedBuffer{}
	stop := auditAgent(t, cfg, logs)
	defer func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	}()
	testenv.Eventually(t, 15*time.Second, "agent online and servo connected", func() bool {
		s, _ := m.state(t, tp)
		return m.retained(t, tp.Availability()) == "online" && s.Torque
	})

	// Baseline e-stop latency before any lock: publish to torque-off write.
	torqueOffAfter := func(user string) time.Duration {
		t.Helper()
		off := make(chan time.Time, 1)
		servo.OnWrite(func(addr uint16, data []byte, at time.Time) {
			if addr == xseries.TorqueEnable.Addr && len(data) > 0 && data[0] == 0 {
				select {
				case off <- at:
				default:
				}
			}
		})
		defer servo.OnWrite(nil)
		sent := time.Now()
		if out, err := testenv.RunCombined(t, 10*time.Second, "mosquitto_pub", append(m.as(user), "-q", "1", "-t", tp.Command(contract.EmergencyStop), "-n")...); err != nil {
			t.Fatalf("e-stop: %v %s", err, out)
		}
		select {
		case at := <-off:
			return at.Sub(sent)
		case <-time.After(5 * time.Second):
			t.Fatal("no torque-off write within 5 s of the e-stop")
		}
		return 0
	}
	// Median of 5 e-stops (each then reset): one sample mostly measures
	// how fast mosquitto_pub starts.
	median := func(reset func()) time.Duration {
		t.Helper()
		var d []time.Duration
		for range 5 {
			d = append(d, torqueOffAfter("bob"))
			reset()
		}
		slices.Sort(d)
		return d[len(d)/2]
	}
	unlocked := median(func() { wantOK(t, "reset before the lock", m.rr(t, tp, "bob", contract.Reset, "")) })

	r := m.rr(t, tp, "alice", contract.Lock, `{"lock_id":"L1","timeout_s":60,"id":"lock-1"}`)
	wantOK(t, "alice's lock", r)
	var lr contract.LockResult
	if json.Unmarshal(r.Result, &lr) != nil || lr.Owner != "alice" || lr.Extended || time.Until(lr.ExpiresAt) < 50*time.Second {
		t.Fatalf("lock result %s: want owner alice (the broker's stamp), a minute", r.Result)
	}
	st, raw := m.state(t, tp)
	if st.Lock == nil || st.Lock.Owner != "alice" || strings.Contains(raw, "L1") {
		t.Fatalf("state %s: want lock owned by alice, never the lock id", raw)
	}

	// Every Goal Position write from here to the end of bob's burst is
	// recorded with where the servo was. A reconnect of the serial link
	// (the connect sequence holds the servo where it is, then torque on;
	// seen under load) writes one; a move would write a target away from
	// the present position.
	type goalWrite struct{ goal, at xseries.Degrees }
	var gmu sync.Mutex
	var goals []goalWrite
	servo.OnWrite(func(addr uint16, data []byte, _ time.Time) {
		if addr == xseries.GoalPosition.Addr && len(data) == 4 {
			g := xseries.PulsesToDegrees(int64(int32(binary.LittleEndian.Uint32(data))))
			gmu.Lock()
			goals = append(goals, goalWrite{g, servo.Snapshot().Position})
			gmu.Unlock()
		}
	})
	startPos := servo.Snapshot().Position
	r = m.rr(t, tp, "bob", contract.MoveToAngle, `{"angle":200,"id":"b-1"}`)
	wantCode(t, "bob's move while alice holds the lock", r, "locked")
	if !strings.Contains(r.Error.Message, "alice") || !strings.Contains(r.Error.Message, lr.ExpiresAt.UTC().Format(time.RFC3339)) {
		t.Fatalf("locked message %q: want the owner and the expiry", r.Error.Message)
	}
	wantCode(t, "bob's move with a wrong lock_id", m.rr(t, tp, "bob", contract.MoveToAngle, `{"angle":200,"lock_id":"guess"}`), "locked")
	wantCode(t, "bob's lock", m.rr(t, tp, "bob", contract.Lock, `{"lock_id":"L-bob"}`), "locked")
	wantCode(t, "bob's unlock with a wrong id", m.rr(t, tp, "bob", contract.Unlock, `{"lock_id":"L-bob"}`), "locked")
	wantCode(t, "bob's set_speed", m.rr(t, tp, "bob", contract.SetSpeed, `100`), "locked")
	wantOK(t, "bob's read", m.rr(t, tp, "bob", contract.GetPosition, ""))

	// A burst of 200 moves from bob: every one answered locked, none moves.
	lines := make([]string, 200)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"angle":%d,"id":"burst-%d"}`, 100+i%50, i)
	}
	replies := testenv.StartSub(t, append(m.as("bob"), "-q", "1", "-t", tp.Reply(contract.MoveToAngle))...)
	start := time.Now()
	m.pubLines(t, "bob", tp.Command(contract.MoveToAngle), lines)
	testenv.Eventually(t, 30*time.Second, "200 replies to the burst", func() bool {
		if n := len(replies.Lines()); n < 200 {
			t.Logf("%d replies so far", n)
			return false
		}
		return true
	})
	t.Logf("burst of 200 moves during the lock: all answered in %v", time.Since(start))
	for _, l := range replies.Lines() {
		if r := parseLine(t, "x "+l); r.Error == nil || r.Error.Code != "locked" || r.Result != nil && string(r.Result) != "null" {
			t.Fatalf("burst reply %s: want locked", l)
		}
	}
	servo.OnWrite(nil)
	gmu.Lock()
	for _, g := range goals {
		if angleApart(g.goal, g.at) > 1 {
			t.Errorf("Goal Position %.1f° written with the servo at %.1f° while bob's commands were refused: a move", g.goal, g.at)
		}
	}
	if len(goals) > 0 && !t.Failed() {
		t.Logf("%d Goal Position write(s), each holding the present position (a serial reconnect's connect sequence): %v", len(goals), goals)
	}
	gmu.Unlock()
	if end := servo.Snapshot().Position; angleApart(end, startPos) > 1 {
		t.Fatalf("the servo moved from %.1f° to %.1f° while bob's commands were refused", startPos, end)
	}

	// Bob's emergency stop acts at once while alice holds the lock: the
	// e-stop path does not look at the lock. Both medians are logged; the
	// bound is the safety test's (1 s): on a shared machine a mosquitto_pub
	// start dominates and a ratio would measure the neighbours.
	locked := median(func() {
		if servo.Snapshot().Torque {
			t.Fatal("torque on after bob's e-stop while locked")
		}
		wantOK(t, "alice's reset with the lock id", m.rr(t, tp, "alice", contract.Reset, `{"lock_id":"L1"}`))
	})
	t.Logf("e-stop publish to torque-off write, median of 5: %v unlocked, %v while locked", unlocked, locked)
	if locked > time.Second {
		t.Fatalf("e-stop while locked: torque off after %v (unlocked %v)", locked, unlocked)
	}
	if torqueOffAfter("bob"); servo.Snapshot().Torque {
		t.Fatal("torque on after bob's e-stop while locked")
	}
	wantOK(t, "bob's stop while locked", m.rr(t, tp, "bob", contract.Stop, ""))
	wantCode(t, "bob's reset while locked", m.rr(t, tp, "bob", contract.Reset, ""), "locked")
	if s, _ := m.state(t, tp); !s.EStop {
		t.Fatal("bob's refused reset cleared the e-stop")
	}
	wantOK(t, "alice's reset with the lock id", m.rr(t, tp, "alice", contract.Reset, `{"lock_id":"L1"}`))

	// Alice's move carries the lock_id and runs.
	before := goalWrites(servo)
	r = m.rr(t, tp, "alice", contract.MoveToAngle, `{"angle":120,"lock_id":"L1","id":"a-1"}`)
	wantOK(t, "alice's move", r)
	if goalWrites(servo) == before {
		t.Fatal("alice's move wrote no Goal Position")
	}
	// Renewing with the same id extends; then unlock.
	r = m.rr(t, tp, "alice", contract.Lock, `{"lock_id":"L1","timeout_s":120}`)
	if json.Unmarshal(r.Result, &lr) != nil || !lr.Extended || time.Until(lr.ExpiresAt) < 110*time.Second {
		t.Fatalf("renew: %+v", r)
	}
	r = m.rr(t, tp, "alice", contract.Unlock, `L1`)
	var ur contract.UnlockResult
	if json.Unmarshal(r.Result, &ur) != nil || !ur.WasLocked || ur.Owner != "alice" {
		t.Fatalf("unlock: %+v", r)
	}
	if s, raw := m.state(t, tp); s.Lock != nil {
		t.Fatalf("state after unlock: %s", raw)
	}

	// Bob's refused b-1 was never started, so it is not remembered: sent
	// again after the unlock it runs, once.
	before = goalWrites(servo)
	wantOK(t, "b-1 after the unlock", m.rr(t, tp, "bob", contract.MoveToAngle, `{"angle":200,"id":"b-1"}`))
	moved := goalWrites(servo) - before
	r = m.rr(t, tp, "bob", contract.MoveToAngle, `{"angle":200,"id":"b-1"}`)
	if r.Status != "ok" || !r.Duplicate || moved == 0 || goalWrites(servo)-before != moved {
		t.Fatalf("b-1 again: %+v; goal writes %d then %d: want the stored reply and no second run", r, moved, goalWrites(servo)-before)
	}

	// Expiry: a 3 s lock lapses by itself; state says so without any
	// command, and bob moves again.
	taken := time.Now()
	wantOK(t, "short lock", m.rr(t, tp, "alice", contract.Lock, `{"lock_id":"L2","timeout_s":3}`))
	if r := m.rr(t, tp, "bob", contract.GoHome, `{"precise":false}`); time.Since(taken) < 3*time.Second {
		wantCode(t, "bob during the short lock", r, "locked")
	} else {
		t.Logf("bob's go_home came %v after the 3 s lock (a loaded machine): not a check of the lock", time.Since(taken))
	}
	testenv.Eventually(t, 10*time.Second, "state shows the lock gone after its timeout", func() bool {
		s, _ := m.state(t, tp)
		return s.Lock == nil
	})
	wantOK(t, "bob after the expiry", m.rr(t, tp, "bob", contract.MoveToAngle, `{"angle":150,"precise":false}`))
	r = m.rr(t, tp, "alice", contract.Unlock, `L2`)
	if json.Unmarshal(r.Result, &ur) != nil || r.Status != "ok" || ur.WasLocked {
		t.Fatalf("unlock after expiry: %+v, want ok with was_locked false", r)
	}

	// Restart: the lock is in the journal and still holds afterwards.
	r = m.rr(t, tp, "alice", contract.Lock, `{"lock_id":"L3","timeout_s":300}`)
	_ = json.Unmarshal(r.Result, &lr)
	stop()
	stop = auditAgent(t, cfg, logs)
	testenv.Eventually(t, 15*time.Second, "agent back with the lock in state", func() bool {
		s, _ := m.state(t, tp)
		return m.retained(t, tp.Availability()) == "online" && s.Lock != nil && s.Lock.Owner == "alice" && s.Lock.ExpiresAt.Equal(lr.ExpiresAt)
	})
	before = goalWrites(servo)
	wantCode(t, "bob after the restart", m.rr(t, tp, "bob", contract.MoveToAngle, `{"angle":30}`), "locked")
	// force_unlock is admin only: the broker refuses an operator's.
	out, _ := testenv.RunCombined(t, 10*time.Second, "mosquitto_pub", append(m.as("bob"), "-q", "1", "-t", tp.Command(contract.ForceUnlock), "-n")...)
	if !strings.Contains(out, "Not authorized") {
		t.Fatalf("operator force_unlock: %q, want Not authorized", out)
	}
	r = m.rr(t, tp, "root", contract.ForceUnlock, "")
	if json.Unmarshal(r.Result, &ur) != nil || !ur.WasLocked || ur.Owner != "alice" {
		t.Fatalf("force_unlock: %+v", r)
	}
	wantOK(t, "bob after force_unlock", m.rr(t, tp, "bob", contract.MoveToAngle, `{"angle":30,"precise":false}`))
	if goalWrites(servo) == before {
		t.Fatal("bob's move after force_unlock did not move")
	}
}

// Hostile lock input over the wire: every bad lock_id or timeout_s is
// refused with a code that names the problem, and nothing gets locked.
func TestLockHostileInput(t *testing.T) {
	e := newEnv(t, opts{})
	s := e.replies()
	bad := []string{
		`{"lock_id":""}`, `{"lock_id":"` + strings.Repeat("x", 129) + `"}`, `{"lock_id":true}`, `{"lock_id":"a\u0007"}`,
		`{"lock_id":"a","timeout_s":0}`, `{"lock_id":"a","timeout_s":-1}`, `{"lock_id":"a","timeout_s":1e9}`,
		`{"lock_id":"a","timeout_s":"60"}`, `{"lock_id":"a","timeout_s":NaN}`, `{"lock_id":"a","owner":"me"}`, `{}`,
	}
	for _, p := range bad {
		e.pub(contract.Lock, p)
	}
	testenv.Eventually(t, 10*time.Second, "a reply to every hostile lock", func() bool { return len(s.Lines()) >= len(bad) })
	for i, l := range s.Lines() {
		if r := parseLine(t, l); r.Error == nil || (r.Error.Code != "bad_request" && r.Error.Code != "invalid_argument") {
			t.Errorf("lock %s: %+v, want bad_request or invalid_argument", bad[i], r)
		}
	}
	if st := e.retained("state"); !strings.Contains(st, `"lock":null`) {
		t.Fatalf("state after hostile locks: %s", st)
	}
}

// Through mosquitto, which stamps no user: the owner is "unknown", and the
// fleet emergency stop reaches the agent.
func TestLockAndFleetOnMosquitto(t *testing.T) {
	e := newEnv(t, opts{mosquitto: true})
	s := e.replies()
	e.pub(contract.Lock, `{"lock_id":"M1","id":"m-lock"}`)
	if r := waitReply(t, s, contract.Lock, "m-lock", 5*time.Second); r.Status != "ok" || !strings.Contains(string(r.Result), `"owner":"unknown"`) {
		t.Fatalf("lock on mosquitto: %+v", r)
	}
	e.waitRetained("state", func(s string) bool { return decodeState(t, s).Torque })
	resp := testenv.StartSub(t, append(e.conn(), "-V", "mqttv5", "-v", "-t", "plate-resort/responses/me/+/_fleet")...)
	if _, err := testenv.Run(t, 10*time.Second, "mosquitto_pub", append(e.conn(), "-V", "mqttv5", "-q", "1",
		"-t", contract.FleetCommand(contract.DefaultPrefix, contract.EmergencyStop), "-n",
		"-D", "publish", "response-topic", "plate-resort/responses/me/_fleet")...); err != nil {
		t.Fatal(err)
	}
	line := resp.Wait(t, 5*time.Second, func(string) bool { return true })
	if !strings.HasPrefix(line, "plate-resort/responses/me/resort-1/_fleet ") || !strings.Contains(line, `"status":"ok"`) {
		t.Fatalf("fleet e-stop answer %q: want it below the device level", line)
	}
	if e.servo.Snapshot().Torque {
		t.Fatal("torque still on after the fleet e-stop")
	}
	// A fleet reset without the lock id is refused on this locked device.
	if _, err := testenv.Run(t, 10*time.Second, "mosquitto_pub", append(e.conn(), "-q", "1",
		"-t", contract.FleetCommand(contract.DefaultPrefix, contract.Reset), "-m", `{"id":"fr-1"}`)...); err != nil {
		t.Fatal(err)
	}
	if r := waitReply(t, s, contract.Reset, "fr-1", 5*time.Second); r.Error == nil || r.Error.Code != "locked" {
		t.Fatalf("fleet reset on a locked device: %+v", r)
	}
	if _, err := testenv.Run(t, 10*time.Second, "mosquitto_pub", append(e.conn(), "-q", "1",
		"-t", contract.FleetCommand(contract.DefaultPrefix, contract.Reset), "-m", `{"id":"fr-2","lock_id":"M1"}`)...); err != nil {
		t.Fatal(err)
	}
	if r := waitReply(t, s, contract.Reset, "fr-2", 5*time.Second); r.Status != "ok" {
		t.Fatalf("fleet reset with the lock id: %+v", r)
	}
}

// Three agents on one embedded broker with users: an operator's fleet
// emergency stop switches torque off at all three simulators and each
// answers below its own device level of the caller's responses; a viewer's
// is refused by the broker and reaches nobody; the fleet reset is refused
// to operators by the broker and, from an admin, clears each device unless
// that device is locked (then it answers locked and stays latched).
func TestFleetCommandsE2E(t *testing.T) {
	testenv.NeedBinary(t, "mosquitto_rr")
	devices := []string{"resort-1", "resort-2", "resort-3"}
	m := lockBroker(t, devices...)
	servos := map[string]*sim.Servo{}
	tps := map[string]contract.Topics{}
	for _, d := range devices {
		cfg, servo := lockAgentConfig(t, m, d)
		auditAgent(t, cfg, &testenv.LockedBuffer{})
		servos[d], tps[d] = servo, cfg.Topics()
	}
	for _, d := range devices {
		testenv.Eventually(t, 15*time.Second, d+" online with torque on", func() bool {
			s, _ := m.state(t, tps[d])
			return m.retained(t, tps[d].Availability()) == "online" && s.Torque && servos[d].Snapshot().Torque
		})
	}
	fleet := func(cmd string) string { return contract.FleetCommand(contract.DefaultPrefix, cmd) }

	// A viewer may not stop the fleet: the broker refuses the publish.
	out, _ := testenv.RunCombined(t, 10*time.Second, "mosquitto_pub", append(m.as("vic"), "-q", "1", "-t", fleet(contract.EmergencyStop), "-n")...)
	if !strings.Contains(out, "Not authorized") {
		t.Fatalf("viewer fleet e-stop: %q, want Not authorized", out)
	}
	time.Sleep(300 * time.Millisecond)
	for _, d := range devices {
		if !servos[d].Snapshot().Torque {
			t.Fatalf("%s: a viewer's refused fleet e-stop switched torque off", d)
		}
	}

	// An operator's fleet e-stop, with one MQTT 5 Response Topic.
	answers := testenv.StartSub(t, append(m.as("alice"), "-v", "-t", "plate-resort/responses/alice/+/_fleet")...)
	sent := time.Now()
	if out, err := testenv.RunCombined(t, 10*time.Second, "mosquitto_pub", append(m.as("alice"), "-q", "1", "-t", fleet(contract.EmergencyStop), "-n",
		"-D", "publish", "response-topic", "plate-resort/responses/alice/_fleet", "-D", "publish", "correlation-data", "c-42")...); err != nil {
		t.Fatalf("fleet e-stop: %v %s", err, out)
	}
	testenv.Eventually(t, 5*time.Second, "torque off at all three simulators", func() bool {
		for _, d := range devices {
			if servos[d].Snapshot().Torque {
				return false
			}
		}
		return true
	})
	t.Logf("fleet e-stop: torque off at 3 simulators within %v of the publish", time.Since(sent))
	testenv.Eventually(t, 5*time.Second, "three answers", func() bool { return len(answers.Lines()) >= 3 })
	got := map[string]bool{}
	for _, l := range answers.Lines() {
		topic, _, _ := strings.Cut(l, " ")
		if r := parseLine(t, l); r.Status != "ok" || r.Command != contract.EmergencyStop {
			t.Fatalf("fleet answer %s", l)
		}
		got[topic] = true
	}
	for _, d := range devices {
		if !got["plate-resort/responses/alice/"+d+"/_fleet"] {
			t.Fatalf("no answer from %s below its device level: %v", d, answers.Lines())
		}
		if s, _ := m.state(t, tps[d]); !s.EStop {
			t.Fatalf("%s: e-stop not latched after the fleet e-stop", d)
		}
	}

	// The fleet reset: an operator is refused by the broker.
	out, _ = testenv.RunCombined(t, 10*time.Second, "mosquitto_pub", append(m.as("alice"), "-q", "1", "-t", fleet(contract.Reset), "-n")...)
	if !strings.Contains(out, "Not authorized") {
		t.Fatalf("operator fleet reset: %q, want Not authorized", out)
	}
	time.Sleep(300 * time.Millisecond)
	for _, d := range devices {
		if s, _ := m.state(t, tps[d]); !s.EStop {
			t.Fatalf("%s: an operator's refused fleet reset cleared the e-stop", d)
		}
	}
	// Bob locks resort-2; the admin's fleet reset clears the two others
	// and resort-2 answers locked on its own reply topic.
	wantOK(t, "bob locks resort-2", m.rr(t, tps["resort-2"], "bob", contract.Lock, `{"lock_id":"B2"}`))
	resets := testenv.StartSub(t, append(m.as("root"), "-v", "-t", "plate-resort/+/reply/reset")...)
	if out, err := testenv.RunCombined(t, 10*time.Second, "mosquitto_pub", append(m.as("root"), "-q", "1", "-t", fleet(contract.Reset), "-m", `{"id":"fleet-reset-1"}`)...); err != nil {
		t.Fatalf("admin fleet reset: %v %s", err, out)
	}
	testenv.Eventually(t, 5*time.Second, "three reset replies", func() bool { return len(resets.Lines()) >= 3 })
	for _, l := range resets.Lines() {
		topic, _, _ := strings.Cut(l, " ")
		r := parseLine(t, l)
		switch topic {
		case tps["resort-2"].Reply(contract.Reset):
			wantCode(t, "fleet reset on locked resort-2", r, "locked")
		default:
			wantOK(t, "fleet reset on "+topic, r)
		}
	}
	for _, d := range devices {
		s, _ := m.state(t, tps[d])
		if s.EStop != (d == "resort-2") {
			t.Fatalf("%s: estop %v after the admin's fleet reset (resort-2 is locked)", d, s.EStop)
		}
	}
}

// A move that was already waiting in the queue when someone else took the
// lock never starts: the lock is checked again when it leaves the queue.
// The move running at that moment is not interrupted (a lock is not a stop).
func TestLockRefusesQueuedMove(t *testing.T) {
	e := newEnv(t, opts{sim: simAt(10), mut: func(c *agent.Config) { c.Resort.DefaultSpeed = 20 }})
	s := e.replies()
	e.pub(contract.MoveToAngle, `{"angle":200,"precise":false,"id":"slow"}`)
	e.waitRetained("state", func(s string) bool { return decodeState(t, s).Moving })
	e.pub(contract.ActivateHotel, `{"hotel":"A","id":"queued"}`)
	e.pub(contract.Lock, `{"lock_id":"Q1","id":"q-lock"}`)
	if r := waitReply(t, s, contract.Lock, "q-lock", 5*time.Second); r.Status != "ok" || !strings.Contains(string(r.Result), `"owner":"anonymous"`) {
		t.Fatalf("lock: %+v (the embedded broker stamps anonymous clients \"anonymous\")", r)
	}
	if r := waitReply(t, s, contract.MoveToAngle, "slow", 60*time.Second); r.Status != "ok" {
		t.Fatalf("the running move: %+v, want it to finish", r)
	}
	before := goalWrites(e.servo)
	r := waitReply(t, s, contract.ActivateHotel, "queued", 10*time.Second)
	if r.Error == nil || r.Error.Code != "locked" {
		t.Fatalf("queued move: %+v, want locked", r)
	}
	time.Sleep(300 * time.Millisecond)
	if n := goalWrites(e.servo) - before; n != 0 {
		t.Fatalf("the queued move wrote Goal Position %d times", n)
	}
}

// angleApart is how far apart two angles are on the circle, in degrees.
func angleApart(a, b xseries.Degrees) float64 {
	d := float64(xseries.Normalize(a - b))
	return min(d, 360-d)
}
