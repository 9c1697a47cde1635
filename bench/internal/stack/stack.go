// Package stack runs the plate-resort system as separate processes on
// loopback for the harnesses in bench/ (bridgebench, soak): a Prefect server
// from a venv, and the plate-resort binary's broker, simulated servo, agent
// and bridge. Each child runs in its own process group with its output in
// <dir>/<name>.log (appended to when the child is started again), so a
// harness can kill -9 one and start it again with the same arguments.
package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// EnvPrefect is the variable the Makefile and the e2e tests use for the
// prefect executable (bridge/prefect/prefecttest.EnvBinary).
const EnvPrefect = "PLATE_RESORT_TEST_PREFECT"

// DefaultPrefectVenv is where `make test-deps` installs the pinned Prefect.
const DefaultPrefectVenv = ".cache/prefect-venv"

// FindPrefect resolves the prefect executable (flagValue, else
// $PLATE_RESORT_TEST_PREFECT, else .cache/prefect-venv/bin/prefect, else
// `prefect` on PATH) and the python of its venv.
func FindPrefect(flagValue string) (prefectBin, python string, err error) {
	prefectBin = flagValue
	if prefectBin == "" {
		prefectBin = os.Getenv(EnvPrefect)
	}
	if prefectBin == "" {
		if p := filepath.Join(DefaultPrefectVenv, "bin", "prefect"); fileExists(p) {
			prefectBin = p
		}
	}
	if prefectBin == "" {
		if prefectBin, err = exec.LookPath("prefect"); err != nil {
			return "", "", errors.New("no prefect executable: run ./.ci/prefect-venv.sh .cache/prefect-venv (or make test-deps), or pass -prefect DIR/bin/prefect")
		}
	}
	if prefectBin, err = filepath.Abs(prefectBin); err != nil {
		return "", "", err
	}
	if _, err := os.Stat(prefectBin); err != nil {
		return "", "", fmt.Errorf("prefect executable: %w", err)
	}
	python = filepath.Join(filepath.Dir(prefectBin), "python")
	if _, err := os.Stat(python); err != nil {
		return "", "", fmt.Errorf("no python next to %s (expected a venv): %w", prefectBin, err)
	}
	return prefectBin, python, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Stack holds the child processes; StopAll ends them newest first.
type Stack struct {
	Dir  string // logs, pty link, databases
	Name string // prefix of progress lines
	// LogLevel is the --log.level of the plate-resort children (default warn).
	LogLevel string

	mu    sync.Mutex
	procs []*Child
}

// New returns a stack whose children log into dir.
func New(dir, name string) *Stack { return &Stack{Dir: dir, Name: name, LogLevel: "warn"} }

// Child is one started process (one life of it).
type Child struct {
	Name string
	Cmd  *exec.Cmd
	Log  string
	done chan struct{}
}

// Done is closed when the process has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Pid is the process id (also its process group id).
func (c *Child) Pid() int { return c.Cmd.Process.Pid }

// Progress goes to stderr, the numbers to stdout.
func (s *Stack) Progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s %s\n", s.Name, time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// BaseEnv is the parent environment without PREFECT_* and PLATE_RESORT_*
// variables: a developer's Prefect profile or plate-resort settings must not
// change what is measured.
func BaseEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PREFECT_") && !strings.HasPrefix(kv, "PLATE_RESORT_") {
			out = append(out, kv)
		}
	}
	return out
}

// Start runs a child in its own process group (so stopping it reaches
// whatever it spawned) with its output appended to <dir>/<name>.log.
func (s *Stack) Start(name string, cmd *exec.Cmd) (*Child, error) {
	logPath := filepath.Join(s.Dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "=== %s start %s: %s\n", time.Now().Format(time.RFC3339Nano), name, strings.Join(cmd.Args, " "))
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &Child{Name: name, Cmd: cmd, Log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(c.done) }()
	s.mu.Lock()
	s.procs = append(s.procs, c)
	s.mu.Unlock()
	return c, nil
}

// Stop sends SIGTERM to the child's group, SIGKILL after 15 s.
func (c *Child) Stop() {
	pgid := c.Cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.done
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL) // stragglers of the group
}

// Kill is kill -9 of the child's whole group; it returns once the child has
// been reaped.
func (c *Child) Kill() {
	_ = syscall.Kill(-c.Cmd.Process.Pid, syscall.SIGKILL)
	<-c.done
}

// StopAll stops every child, newest first.
func (s *Stack) StopAll() {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop()
	}
}

// Remove stops one child before the end.
func (s *Stack) Remove(c *Child) {
	c.Stop()
	s.forget(c)
}

// KillRemove is kill -9 of one child, which is then no longer part of the
// stack (a later Start of the same name adds the new life).
func (s *Stack) KillRemove(c *Child) {
	c.Kill()
	s.forget(c)
}

func (s *Stack) forget(c *Child) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.procs {
		if p == c {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			break
		}
	}
}

// DumpLogs writes the last tail bytes of every child's log to w (after a
// failure).
func (s *Stack) DumpLogs(w io.Writer, tail int) {
	s.mu.Lock()
	procs := append([]*Child(nil), s.procs...)
	s.mu.Unlock()
	for _, c := range procs {
		b, err := os.ReadFile(c.Log)
		if err != nil || len(b) == 0 {
			continue
		}
		if len(b) > tail {
			b = b[len(b)-tail:]
		}
		fmt.Fprintf(w, "--- %s log (end) ---\n%s\n", c.Name, b)
	}
}

// PrefectEnv is the fixed server configuration (the settings
// bridge/prefect/prefecttest uses): its own PREFECT_HOME and SQLite
// database, loopback, UI and analytics off.
func PrefectEnv(home string, port int) []string {
	return append(BaseEnv(),
		"PREFECT_HOME="+home,
		"PREFECT_SERVER_DATABASE_CONNECTION_URL=sqlite+aiosqlite:///"+filepath.Join(home, "prefect.db"),
		"PREFECT_SERVER_API_HOST=127.0.0.1",
		"PREFECT_SERVER_API_PORT="+strconv.Itoa(port),
		"PREFECT_SERVER_ANALYTICS_ENABLED=false",
		"PREFECT_UI_ENABLED=false",
		"PREFECT_SERVER_UI_ENABLED=false",
		"PREFECT_SERVER_LOGGING_LEVEL=WARNING",
		"DO_NOT_TRACK=1",
	)
}

// StartPrefect starts `prefect server start` on 127.0.0.1:port with its
// home (and SQLite database) in home, and waits until /api/health answers
// true. Started again with the same home and port it keeps its data.
func (s *Stack) StartPrefect(ctx context.Context, prefectBin, home string, port int, timeout time.Duration) (*Child, string, error) {
	return s.StartPrefectDB(ctx, prefectBin, home, port, "", timeout)
}

// StartPrefectDB is StartPrefect on the database at dbURL (a SQLAlchemy
// URL, e.g. postgresql+asyncpg://... from testenv.NewPostgres; "" is
// SQLite in home), set as PREFECT_SERVER_DATABASE_CONNECTION_URL
// (https://docs.prefect.io/v3/manage/server/index#database-settings).
func (s *Stack) StartPrefectDB(ctx context.Context, prefectBin, home string, port int, dbURL string, timeout time.Duration) (*Child, string, error) {
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, "", err
	}
	cmd := exec.Command(prefectBin, "server", "start", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Env = PrefectEnv(home, port)
	if dbURL != "" {
		// exec.Cmd uses the last value of a duplicated key.
		cmd.Env = append(cmd.Env, "PREFECT_SERVER_DATABASE_CONNECTION_URL="+dbURL)
	}
	c, err := s.Start("prefect-server", cmd)
	if err != nil {
		return nil, "", err
	}
	apiURL := fmt.Sprintf("http://127.0.0.1:%d/api", port)
	hc := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(timeout); ; {
		select {
		case <-c.done:
			return c, "", errors.New("prefect server exited before becoming healthy")
		case <-ctx.Done():
			return c, "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return c, "", fmt.Errorf("prefect server not healthy after %s", timeout)
		}
		if PrefectHealthy(hc, apiURL) {
			return c, apiURL, nil
		}
	}
}

// PrefectHealthy says whether GET <apiURL>/health answers true.
func PrefectHealthy(hc *http.Client, apiURL string) bool {
	resp, err := hc.Get(apiURL + "/health")
	if err != nil {
		return false
	}
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK && strings.TrimSpace(b.String()) == "true"
}

// StartBroker runs `plate-resort broker` (dev defaults: anonymous from
// loopback) on addr with the extra flags (e.g. --storage.path FILE) and
// waits until it accepts connections.
func (s *Stack) StartBroker(ctx context.Context, bin, addr string, extra ...string) (*Child, error) {
	args := append([]string{"broker", "--listeners.tcp.address", addr, "--log.level", s.LogLevel, "--log.format", "json"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = BaseEnv()
	c, err := s.Start("broker", cmd)
	if err != nil {
		return nil, err
	}
	if err := WaitListening(ctx, c, addr, 15*time.Second); err != nil {
		return c, fmt.Errorf("broker: %w", err)
	}
	return c, nil
}

// WaitListening waits up to timeout for c to accept TCP connections on
// addr; it fails at once when c exits.
func WaitListening(ctx context.Context, c *Child, addr string, timeout time.Duration) error {
	for deadline := time.Now().Add(timeout); ; {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = conn.Close()
			return nil
		}
		select {
		case <-c.done:
			return errors.New("exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %s", addr, timeout)
		}
	}
}

// StartSim runs `plate-resort sim --link link` with the extra flags and
// waits for its pty symlink.
func (s *Stack) StartSim(ctx context.Context, bin, link string, extra ...string) (*Child, error) {
	args := append([]string{"sim", "--link", link, "--log.level", s.LogLevel, "--log.format", "json"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = BaseEnv()
	c, err := s.Start("sim", cmd)
	if err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(15 * time.Second); ; {
		if fileExists(link) {
			return c, nil
		}
		select {
		case <-c.done:
			return c, errors.New("simulated servo exited")
		case <-ctx.Done():
			return c, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("simulated servo: no %s after 15 s", link)
		}
	}
}

// StartAgent runs `plate-resort agent` for device on the servo at link
// (connect_on_start is the default), with env added to BaseEnv (settings
// as PLATE_RESORT_* variables). Its dedupe journal is <dir>/agent.journal
// (kept across restarts of the agent, gone with the stack's directory)
// unless env sets PLATE_RESORT_JOURNAL_PATH.
func (s *Stack) StartAgent(bin, prefix, device, brokerAddr, link string, env ...string) (*Child, error) {
	cmd := exec.Command(bin, "agent", "--prefix", prefix, "--device", device, "--mqtt.url", "mqtt://"+brokerAddr,
		"--resort.device", link, "--log.level", s.LogLevel, "--log.format", "json")
	cmd.Env = append(append(BaseEnv(), "PLATE_RESORT_JOURNAL_PATH="+filepath.Join(s.Dir, "agent.journal")), env...)
	return s.Start("agent", cmd)
}

// StartBridge runs `plate-resort bridge` against the Prefect API at apiURL
// serving workPool as workerName, with env added to BaseEnv.
func (s *Stack) StartBridge(bin, prefix, device, brokerAddr, apiURL, workPool, workerName string, env ...string) (*Child, error) {
	cmd := exec.Command(bin, "bridge", "--work_pool", workPool, "--worker_name", workerName,
		"--mqtt.url", "mqtt://"+brokerAddr, "--prefix", prefix, "--devices", device,
		"--log.level", s.LogLevel, "--log.format", "json")
	cmd.Env = append(append(BaseEnv(), "PREFECT_API_URL="+apiURL), env...)
	return s.Start("bridge", cmd)
}

// WaitDeployment waits up to timeout for deployment flow/name to exist.
func WaitDeployment(ctx context.Context, pc *prefect.Client, flow, name string, timeout time.Duration) (*prefect.Deployment, error) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); {
		if d, err := pc.ReadDeploymentByName(ctx, flow, name); err == nil {
			return d, nil
		}
		if err := Sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("deployment %s/%s never appeared", flow, name)
}

// CreateRun creates a run like run_deployment does, retrying (up to tries
// times, every 500 ms) a busy or restarting server with the same
// idempotency key, so a retry cannot make a second run.
func CreateRun(ctx context.Context, pc *prefect.Client, depID string, params map[string]any, key string, tries int) (*prefect.FlowRun, error) {
	var err error
	for i := 0; i < tries; i++ {
		var fr *prefect.FlowRun
		if fr, err = pc.CreateFlowRun(ctx, depID, prefect.FlowRunCreate{Parameters: params, IdempotencyKey: key}); err == nil {
			return fr, nil
		}
		if err := Sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("create flow run: %w", err)
}

// WaitFinal polls run id until it is in a final state, for up to d.
func WaitFinal(ctx context.Context, pc *prefect.Client, id string, d time.Duration) (*prefect.FlowRun, error) {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		fr, err := pc.ReadFlowRun(ctx, id)
		if err == nil && fr.State != nil && fr.State.Type.IsFinal() {
			return fr, nil
		}
		if err := Sleep(ctx, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("run %s not final within %s", id, d)
}

// WaitRetained subscribes to topic and waits for the payload want (e.g. the
// agent's retained availability).
func WaitRetained(ctx context.Context, addr, clientID, topic, want string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	got := make(chan string, 16)
	c := paho.NewClient(paho.ClientConfig{
		ClientID: clientID,
		Conn:     packets.NewThreadSafeConn(conn),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			select {
			case got <- string(pr.Packet.Payload):
			default:
			}
			return true, nil
		}},
	})
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := c.Connect(ctx, &paho.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30}); err != nil {
		_ = conn.Close()
		return err
	}
	defer func() { _ = c.Disconnect(&paho.Disconnect{}) }()
	if _, err := c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: 1}}}); err != nil {
		return err
	}
	for {
		select {
		case v := <-got:
			if v == want {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("%s did not become %q within %s", topic, want, timeout)
		}
	}
}

// Sleep waits d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// FreePort asks the kernel for a free loopback port; the window before the
// child binds it is acceptable for a benchmark.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr is FreePort as host:port on 127.0.0.1.
func FreeAddr() (string, error) {
	p, err := FreePort()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}
