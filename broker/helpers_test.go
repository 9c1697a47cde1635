package broker

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

// Test users; hashes use bcrypt.MinCost so the suite stays fast.
var testPasswords = map[string]string{
	"agent1":    "agent1-pw",
	"agent2":    "agent2-pw",
	"alice":     "alice-pw",
	"bridge":    "bridge-pw",
	"viewer":    "viewer-pw",
	"admin":     "admin-pw",
	"operator2": "operator2-pw",
}

var (
	hashOnce   sync.Once
	testHashes map[string]string
)

func hashes(t testing.TB) map[string]string {
	hashOnce.Do(func() {
		testHashes = map[string]string{}
		for u, pw := range testPasswords {
			h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
			if err != nil {
				panic(err)
			}
			testHashes[u] = string(h)
		}
	})
	return testHashes
}

// productionConfig is a locked-down config on a free loopback port: no
// anonymous access, one user per role.
func productionConfig(t testing.TB) Config {
	h := hashes(t)
	cfg := DefaultConfig()
	cfg.Listeners.TCP.Address = "127.0.0.1:0"
	cfg.Anonymous = AnonymousConfig{}
	cfg.Users = map[string]UserConfig{
		"agent1":    {Role: RoleAgent, Devices: []string{"resort-1"}, PasswordHash: h["agent1"]},
		"agent2":    {Role: RoleAgent, Devices: []string{"resort-2"}, PasswordHash: h["agent2"]},
		"alice":     {Role: RoleOperator, PasswordHash: h["alice"]},
		"operator2": {Role: RoleOperator, Devices: []string{"resort-2"}, PasswordHash: h["operator2"]},
		"bridge":    {Role: RoleBridge, PasswordHash: h["bridge"]},
		"viewer":    {Role: RoleViewer, PasswordHash: h["viewer"]},
		"admin":     {Role: RoleAdmin, PasswordHash: h["admin"]},
	}
	return cfg
}

// startBroker starts a broker and closes it when the test ends. Its log goes
// to the returned buffer.
func startBroker(t testing.TB, cfg Config) (*Broker, *testenv.LockedBuffer) {
	t.Helper()
	logs := &testenv.LockedBuffer{}
	b, err := New(cfg, zerolog.New(logs).Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := b.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b, logs
}

// toolTimeout bounds each mosquitto client run.
const toolTimeout = 15 * time.Second

// hostPort splits a bound address for mosquitto's -h / -p.
func hostPort(t testing.TB, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("address %q has no port", addr)
	}
	return addr[:i], addr[i+1:]
}

// creds returns mosquitto -u/-P arguments for a test user.
func creds(user string) []string {
	return []string{"-u", user, "-P", testPasswords[user]}
}

// startSub starts mosquitto_sub with client id id in the background, waits
// until the broker holds its subscription (mosquitto_sub's stdout is block
// buffered, so its own output cannot tell), and returns a function that
// waits for it to exit and returns its output.
func startSub(t testing.TB, b *Broker, id string, args ...string) func() (string, error) {
	t.Helper()
	bin := testenv.NeedBinary(t, "mosquitto_sub")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	cmd := exec.CommandContext(ctx, bin, append([]string{"-i", id}, args...)...)
	out := &testenv.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start mosquitto_sub: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for !subscribed(b, id) {
		if time.Now().After(deadline) {
			t.Fatalf("mosquitto_sub never subscribed:\n%s", out.String())
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("mosquitto_sub exited before subscribing (%v):\n%s", err, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return func() (string, error) {
		err := <-done
		done <- err
		return out.String(), err
	}
}

func subscribed(b *Broker, id string) bool {
	cl, ok := b.Server().Clients.Get(id)
	return ok && !cl.Closed() && cl.State.Subscriptions.Len() > 0
}
