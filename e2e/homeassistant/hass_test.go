package homeassistant

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

// envHass names the hass executable (.ci/ha-venv.sh DIR makes DIR/bin/hass).
const envHass = "PLATE_RESORT_TEST_HASS"

// needHass returns the hass executable: $PLATE_RESORT_TEST_HASS, else hass
// on PATH. A missing one skips the test, or fails it when
// PLATE_RESORT_REQUIRE_E2E=1.
func needHass(t *testing.T) string {
	t.Helper()
	p := os.Getenv(envHass)
	var err error
	if p == "" {
		p, err = exec.LookPath("hass")
	} else if _, err = os.Stat(p); err == nil {
		p, err = filepath.Abs(p)
	}
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("Home Assistant Core not found (%v): run ./.ci/ha-venv.sh .cache/ha-venv and set %s=$PWD/.cache/ha-venv/bin/hass", err, envHass)
	if testenv.RequireE2E() {
		t.Fatalf("PLATE_RESORT_REQUIRE_E2E=1 but %s", msg)
	}
	t.Skip(msg)
	return ""
}

// hass is one Home Assistant Core process with its config dir; it can be
// stopped and started again on the same dir and port.
type hass struct {
	bin   string
	dir   string
	url   string // http://127.0.0.1:<port>
	out   *testenv.LockedBuffer
	cmd   *exec.Cmd
	done  chan struct{}
	began time.Time
	api   *api
}

// configYAML is the smallest HA configuration that serves the REST API on
// loopback: no default_config (its integrations want the network), a fixed
// location and units so nothing is looked up, and the config panel
// integration for the config-flow endpoints. MQTT discovery logs at debug
// level, so the log shows each discovered entity.
const configYAML = `homeassistant:
  name: plate-resort e2e
  latitude: 47.37
  longitude: 8.54
  elevation: 400
  unit_system: metric
  time_zone: UTC
  country: CH
  currency: CHF
  language: en
http:
  server_host: 127.0.0.1
  server_port: %d
api:
config:
logger:
  default: warning
  logs:
    homeassistant.components.mqtt: info
    homeassistant.components.mqtt.discovery: debug
`

// newHass writes a config dir and launches HA on a free loopback port;
// waitListening waits for it.
func newHass(t *testing.T, bin string) *hass {
	t.Helper()
	h := &hass{bin: bin, dir: t.TempDir(), out: &testenv.LockedBuffer{}}
	port := testenv.FreePort(t)
	h.url = "http://127.0.0.1:" + strconv.Itoa(port)
	if err := os.WriteFile(filepath.Join(h.dir, "configuration.yaml"), fmt.Appendf(nil, configYAML, port), 0o600); err != nil {
		t.Fatal(err)
	}
	h.api = &api{base: h.url, http: &http.Client{Timeout: 30 * time.Second}}
	t.Cleanup(func() {
		h.stop(t)
		if t.Failed() {
			t.Logf("Home Assistant output:\n%s", tail(h.out.String(), 30000))
		}
	})
	h.launch(t)
	return h
}

// start runs hass and waits until its HTTP server answers.
func (h *hass) start(t testing.TB) {
	t.Helper()
	h.launch(t)
	h.waitListening(t)
}

// launch runs hass. --skip-pip: .ci/ha-venv.sh installed everything it
// loads, and nothing may be downloaded at run time.
func (h *hass) launch(t testing.TB) {
	t.Helper()
	h.began = time.Now()
	h.cmd = exec.Command(h.bin, "-c", h.dir, "--skip-pip", "--log-no-color")
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.out
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Should HA run pip after all, it must fail at once, not download.
	h.cmd.Env = append(os.Environ(), "PIP_NO_INDEX=1")
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("start hass: %v", err)
	}
	h.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(h.cmd, h.done)
}

// waitListening waits until HA's HTTP server accepts connections.
func (h *hass) waitListening(t testing.TB) {
	t.Helper()
	addr := h.url[len("http://"):]
	testenv.Eventually(t, 120*time.Second, "Home Assistant's HTTP server on "+addr, func() bool {
		select {
		case <-h.done:
			t.Fatalf("hass exited during start-up:\n%s", tail(h.out.String(), 20000))
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	})
	t.Logf("Home Assistant listening %s after its start", time.Since(h.began).Round(100*time.Millisecond))
}

// waitRunning waits until HA's core state is RUNNING (every integration
// set up); it needs a token.
func (h *hass) waitRunning(t testing.TB) {
	t.Helper()
	testenv.Eventually(t, 120*time.Second, "Home Assistant to be RUNNING", func() bool {
		var cfg struct {
			State string `json:"state"`
		}
		return h.api.tryGet("/api/config", &cfg) == nil && cfg.State == "RUNNING"
	})
}

// stop ends hass with SIGTERM, as a service manager would, so it writes
// its storage (entity and device registries, auth) before it exits.
func (h *hass) stop(t testing.TB) {
	if h.cmd == nil || h.cmd.Process == nil {
		return
	}
	began := time.Now()
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
		t.Logf("Home Assistant stopped %s after SIGTERM", time.Since(began).Round(100*time.Millisecond))
	case <-time.After(60 * time.Second):
		t.Errorf("hass did not stop within 60 s of SIGTERM")
		_ = syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
		<-h.done
	}
	h.cmd = nil
}

// logs returns home-assistant.log of this run and the one before (HA
// rotates it to home-assistant.log.1 at every start).
func (h *hass) logs(t testing.TB) string {
	var all string
	for _, name := range []string{"home-assistant.log.1", "home-assistant.log"} {
		b, err := os.ReadFile(filepath.Join(h.dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		all += string(b)
	}
	return all
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "...\n" + s[len(s)-n:]
}
