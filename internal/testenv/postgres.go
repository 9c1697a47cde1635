package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// EnvPostgresBin names the directory holding initdb, postgres and
// pg_isready; by default the newest /usr/lib/postgresql/<major>/bin
// (Debian's postgresql package) or, failing that, the PATH.
const EnvPostgresBin = "PLATE_RESORT_TEST_PG_BIN"

// ErrNoPostgres is returned by NewPostgres when no PostgreSQL server
// binaries are installed.
var ErrNoPostgres = errors.New("PostgreSQL server binaries (initdb, postgres, pg_isready) not found: apt-get install postgresql, or set " + EnvPostgresBin)

// Postgres is a throwaway PostgreSQL server: a fresh cluster in a temp dir,
// listening on a free loopback port and on a unix socket in the same dir,
// trust authentication for the superuser "postgres", one database.
type Postgres struct {
	Port     int
	Database string
	Dir      string // cluster root: data/, the socket and the log
	Startup  time.Duration

	bin  string
	cred *syscall.Credential // non-nil when running as root
	cmd  *exec.Cmd
	done chan struct{}
	log  *LockedBuffer
}

// StartPostgres starts a server for one test and stops it when the test
// ends; a missing PostgreSQL skips the test, or fails it with
// PLATE_RESORT_REQUIRE_E2E=1 (as NeedBinary).
func StartPostgres(t testing.TB) *Postgres {
	t.Helper()
	p, err := NewPostgres()
	if errors.Is(err, ErrNoPostgres) {
		if RequireE2E() {
			t.Fatalf("PLATE_RESORT_REQUIRE_E2E=1 but %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("postgres log:\n%s", p.Log())
		}
		p.Stop()
	})
	t.Logf("postgres on 127.0.0.1:%d ready after %s", p.Port, p.Startup.Round(time.Millisecond))
	return p
}

// URL is the server's database as a SQLAlchemy URL for asyncpg, the
// driver Prefect uses for PostgreSQL (PREFECT_SERVER_DATABASE_CONNECTION_URL,
// https://docs.prefect.io/v3/manage/server/index#configure-a-postgresql-database).
func (p *Postgres) URL() string {
	return fmt.Sprintf("postgresql+asyncpg://postgres@127.0.0.1:%d/%s", p.Port, p.Database)
}

// SocketDir is the directory of the server's unix socket (psql -h DIR).
func (p *Postgres) SocketDir() string { return p.Dir }

// Log is the server's output so far.
func (p *Postgres) Log() string { return p.log.String() }

// postgresBin finds the server binaries.
func postgresBin() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres", "pg_isready"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if d := os.Getenv(EnvPostgresBin); d != "" {
		if !has(d) {
			return "", fmt.Errorf("%w (%s=%s)", ErrNoPostgres, EnvPostgresBin, d)
		}
		return d, nil
	}
	// Debian keeps the server binaries off the PATH, one directory per
	// major version (postgresql-common); take the newest.
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", ErrNoPostgres
}

// NewPostgres starts a server that lives until Stop, for callers without a
// test at hand (a TestMain's shared Prefect server). It returns an error
// wrapping ErrNoPostgres when PostgreSQL is not installed.
func NewPostgres() (*Postgres, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: its parents are 0700 root directories the postgres
	// user cannot enter. /tmp is world-searchable.
	dir, err := os.MkdirTemp("", "plate-resort-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{Database: "prefect", Dir: dir, bin: bin, log: &LockedBuffer{}, done: make(chan struct{})}
	if err := p.start(); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%w\npostgres log:\n%s", err, p.Log())
	}
	return p, nil
}

func (p *Postgres) start() error {
	// PostgreSQL refuses to run as root ("root" execution of the
	// PostgreSQL server is not permitted, postgres/src/backend/main/main.c):
	// as root, the cluster belongs to the postgres user of Debian's package,
	// or to nobody.
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			u, err = user.Lookup("nobody")
		}
		if err != nil {
			return fmt.Errorf("running as root and no postgres or nobody user to run PostgreSQL as: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
		if err := os.Chown(p.Dir, uid, gid); err != nil {
			return err
		}
	}
	data := filepath.Join(p.Dir, "data")
	// initdb: https://www.postgresql.org/docs/15/app-initdb.html. Trust
	// authentication on loopback only; --no-sync because the cluster is
	// thrown away.
	if out, err := p.command("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	p.Port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	// Durability off (fsync, synchronous_commit, full_page_writes): a test
	// cluster never survives a crash, and the 2-core CI box is shared.
	// https://www.postgresql.org/docs/15/non-durability.html
	p.cmd = p.command("postgres", "-D", data, "-p", strconv.Itoa(p.Port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+p.Dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	began := time.Now()
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	// pg_isready answers 0 only once the server accepts connections
	// (https://www.postgresql.org/docs/15/app-pg-isready.html); a TCP
	// accept alone can still be "the database system is starting up".
	deadline := time.Now().Add(60 * time.Second)
	for {
		if p.command("pg_isready", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port)).Run() == nil {
			break
		}
		select {
		case <-p.done:
			return errors.New("postgres exited before accepting connections")
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("postgres not ready within 60 s")
		}
	}
	if out, err := p.command("psql", "-X", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", "postgres", "-d", "postgres",
		"-c", "CREATE DATABASE "+p.Database).CombinedOutput(); err != nil {
		return fmt.Errorf("create database: %w\n%s", err, out)
	}
	p.Startup = time.Since(began)
	return nil
}

// command runs one of the server's binaries, as the cluster's owner.
func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	path := filepath.Join(p.bin, name)
	if _, err := os.Stat(path); err != nil {
		path = name // psql lives on the PATH (postgresql-client), not always in bin
	}
	cmd := exec.Command(path, args...)
	cmd.Dir = p.Dir
	cmd.Env = append(os.Environ(), "PGHOST=", "PGPASSWORD=", "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: p.cred}
	return cmd
}

// SQL runs one statement with psql and returns its unaligned output.
func (p *Postgres) SQL(query string) (string, error) {
	out, err := p.command("psql", "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", "postgres", "-d", p.Database,
		"-c", query).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Stop shuts the server down (SIGINT: fast shutdown,
// https://www.postgresql.org/docs/15/server-shutdown.html) and removes
// the cluster.
func (p *Postgres) Stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
		p.cmd = nil
	}
	_ = os.RemoveAll(p.Dir)
}
