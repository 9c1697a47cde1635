// Package testenv is the one test kit of the module: it gives tests the real
// external parts they need (a check for a binary that skips or, with
// PLATE_RESORT_REQUIRE_E2E=1, fails; free loopback ports; a real mosquitto
// broker process; mosquitto client runs with deadlines; a throwaway PKI)
// and the small helpers every package's tests share (LockedBuffer for logs
// written from other goroutines, Eventually for polling).
package testenv

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireE2E reports whether missing tools must fail tests (CI sets it).
func RequireE2E() bool { return os.Getenv("PLATE_RESORT_REQUIRE_E2E") == "1" }

// NeedBinary returns the path of name, skipping the test when it is missing
// unless PLATE_RESORT_REQUIRE_E2E=1, then failing it.
func NeedBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if RequireE2E() {
			t.Fatalf("%s not found and PLATE_RESORT_REQUIRE_E2E=1: %v", name, err)
		}
		t.Skipf("%s not found (install the mosquitto and mosquitto-clients packages): %v", name, err)
	}
	return p
}

// FreePort returns a free TCP port on 127.0.0.1.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Mosquitto is a real mosquitto broker started for one test.
type Mosquitto struct {
	Addr string // 127.0.0.1:port
	Port int
	cmd  *exec.Cmd
	conf string
	log  *LockedBuffer
	t    testing.TB
}

// StartMosquitto starts mosquitto on a free loopback port with anonymous
// access and persistence in a temp dir, and stops it when the test ends.
func StartMosquitto(t testing.TB) *Mosquitto {
	t.Helper()
	return StartMosquittoConf(t, "allow_anonymous true")
}

// Start (re)starts the process on the same port and data directory.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.cmd = exec.Command("mosquitto", "-c", m.conf)
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", m.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto did not listen on %s: %v\n%s", m.Addr, err, m.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the process (SIGTERM, so it saves its persistence file).
func (m *Mosquitto) Stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = m.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	m.cmd = nil
}

// Kill ends the process with SIGKILL, as a crash would: no DISCONNECT to
// its clients, nothing saved. Start brings it back on the same port.
func (m *Mosquitto) Kill() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
	_ = m.cmd.Wait()
	m.cmd = nil
}

// Run runs a tool (mosquitto_pub, mosquitto_sub, mosquitto_rr) with a
// deadline and returns its stdout; a failure's error carries its stderr.
func Run(t testing.TB, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	cmd, cancel := command(t, timeout, name, args)
	defer cancel()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// RunCombined is Run for tests that check what the tool prints on either
// stream (mosquitto_pub reports a refused publish on stderr, even when it
// exits 0): it returns stdout and stderr together and the bare exit error.
func RunCombined(t testing.TB, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	cmd, cancel := command(t, timeout, name, args)
	defer cancel()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// command is name (skipping or failing the test when it is missing) with
// args, killed when timeout passes.
func command(t testing.TB, timeout time.Duration, name string, args []string) (*exec.Cmd, context.CancelFunc) {
	t.Helper()
	bin := NeedBinary(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	return exec.CommandContext(ctx, bin, args...), cancel
}

// Sub is a running mosquitto_sub whose output lines can be awaited.
type Sub struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	more  chan struct{}
}

// StartSub runs mosquitto_sub with args (add -v to get "topic payload"
// lines) until the test ends, and waits until it is subscribed.
func StartSub(t testing.TB, args ...string) *Sub {
	t.Helper()
	bin := NeedBinary(t, "mosquitto_sub")
	s := &Sub{more: make(chan struct{}, 1)}
	s.cmd = exec.Command(bin, args...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb LockedBuffer
	s.cmd.Stderr = &errb
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
			select {
			case s.more <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		if t.Failed() && errb.String() != "" {
			t.Logf("mosquitto_sub stderr: %s", errb.String())
		}
	})
	// mosquitto_sub has no "subscribed" signal; give it a moment.
	time.Sleep(150 * time.Millisecond)
	return s
}

// Wait returns the first line (after skipping `from` lines) matching
// match, or fails after timeout.
func (s *Sub) Wait(t testing.TB, timeout time.Duration, match func(line string) bool) string {
	t.Helper()
	deadline := time.After(timeout)
	seen := 0
	for {
		s.mu.Lock()
		lines := s.lines
		s.mu.Unlock()
		for ; seen < len(lines); seen++ {
			if match(lines[seen]) {
				return lines[seen]
			}
		}
		select {
		case <-s.more:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no matching line within %s; got:\n%s", timeout, strings.Join(lines, "\n"))
			return ""
		}
	}
}

// Lines returns every line so far.
func (s *Sub) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}
