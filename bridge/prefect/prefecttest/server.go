package prefecttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

// Options tune a test server.
type Options struct {
	// AuthString "user:pass" turns on basic auth (PREFECT_SERVER_API_AUTH_STRING).
	AuthString string
	// Env adds KEY=value settings for the server, after the defaults.
	Env []string
	// StartTimeout bounds waiting for /api/health; zero means 120 s (first boot
	// runs all SQLite migrations, ~14 s on a 2-core box, more under -race load).
	StartTimeout time.Duration
	// Database is DBSQLite or DBPostgres; empty means $PLATE_RESORT_TEST_PREFECT_DB,
	// else SQLite (database.go).
	Database string
}

// Server is a running Prefect server.
type Server struct {
	URL        string // http://127.0.0.1:<port>/api
	AuthString string
	Startup    time.Duration // process start to first healthy /api/health
	Database   string        // DBSQLite or DBPostgres

	pg *testenv.Postgres // the server's own PostgreSQL, when Database is DBPostgres

	python  string
	home    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	stopMu  sync.Once
}

// Start starts a server for one test and stops it in t.Cleanup; the server
// log is printed if the test failed.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := start(t.TempDir(), opts)
	if missing(err) {
		skipOrFatal(t, err)
	}
	if err != nil {
		t.Fatalf("start prefect server: %v", err)
	}
	t.Logf("prefect server %s on %s healthy after %s", s.URL, s.Database, s.Startup.Round(time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("prefect server log:\n%s", s.Log())
		}
		s.Stop()
	})
	return s
}

// serverEnv is the fixed test configuration (settings names: docs/prefect.md
// §13; Prefect's src/prefect/settings/models/server/*.py).
func serverEnv(home string, port int, dbURL string, opts Options) []string {
	env := []string{
		"PREFECT_HOME=" + home,
		"PREFECT_SERVER_DATABASE_CONNECTION_URL=" + dbURL,
		"PREFECT_SERVER_API_HOST=127.0.0.1",
		"PREFECT_SERVER_API_PORT=" + strconv.Itoa(port),
		"PREFECT_SERVER_ANALYTICS_ENABLED=false",
		"PREFECT_UI_ENABLED=false",
		"PREFECT_SERVER_UI_ENABLED=false",
		"PREFECT_SERVER_LOGGING_LEVEL=WARNING",
		// Fast foreman so ONLINE/OFFLINE and READY flips happen within a test.
		"PREFECT_SERVER_SERVICES_FOREMAN_LOOP_SECONDS=1",
		"DO_NOT_TRACK=1",
	}
	if opts.AuthString != "" {
		env = append(env, "PREFECT_SERVER_API_AUTH_STRING="+opts.AuthString)
	}
	return append(env, opts.Env...)
}

// baseEnviron is the parent environment minus every PREFECT_* variable, so a
// developer's own profile or Cloud key can never leak into a test server.
func baseEnviron() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PREFECT_") {
			out = append(out, kv)
		}
	}
	return out
}

func start(dir string, opts Options) (*Server, error) {
	prefect, python, err := findPrefect()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	home := filepath.Join(dir, "prefect-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, err
	}
	db, err := database(opts)
	if err != nil {
		return nil, err
	}
	dbURL := "sqlite+aiosqlite:///" + filepath.Join(home, "prefect.db")
	var pg *testenv.Postgres
	if db == DBPostgres {
		if pg, err = testenv.NewPostgres(); err != nil {
			return nil, err
		}
		dbURL = pg.URL()
	}
	s := &Server{
		Database:   db,
		pg:         pg,
		URL:        fmt.Sprintf("http://127.0.0.1:%d/api", port),
		AuthString: opts.AuthString,
		python:     python,
		home:       home,
		logPath:    filepath.Join(dir, "prefect-server.log"),
		done:       make(chan struct{}),
	}
	logf, err := os.Create(s.logPath)
	if err != nil {
		s.stopDB()
		return nil, err
	}
	s.cmd = exec.Command(prefect, "server", "start", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	s.cmd.Env = append(baseEnviron(), serverEnv(home, port, dbURL, opts)...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// Own process group: `prefect server start` spawns uvicorn and services;
	// Stop signals the whole group so nothing outlives the test.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	began := time.Now()
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		s.stopDB()
		return nil, fmt.Errorf("run %s: %w", prefect, err)
	}
	go func() { _ = s.cmd.Wait(); logf.Close(); close(s.done) }()

	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = envStartTimeout(120 * time.Second)
	}
	if err := s.waitHealthy(timeout); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\nserver log:\n%s", err, s.Log())
	}
	s.Startup = time.Since(began)
	return s, nil
}

func (s *Server) waitHealthy(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-s.done:
			return errors.New("prefect server exited before becoming healthy")
		case <-ctx.Done():
			return fmt.Errorf("prefect server not healthy after %s", timeout)
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := hc.Get(s.URL + "/health")
		if err != nil {
			continue
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && strings.TrimSpace(b.String()) == "true" {
			return nil
		}
	}
}

// Stop terminates the server's process group: SIGTERM, then SIGKILL after 10 s.
func (s *Server) Stop() {
	s.stopMu.Do(func() {
		pgid := s.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-s.done
		}
		// Children that ignored SIGTERM while the leader exited.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		s.stopDB()
	})
}

// Log returns the server's output so far (its last 64 KiB).
func (s *Server) Log() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > 64<<10 {
		b = b[len(b)-64<<10:]
	}
	return string(b)
}

// freePort asks the kernel for a free loopback port. The tiny window before
// the server binds it is acceptable for tests.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
