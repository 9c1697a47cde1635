package prefecttest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

// The databases a test server can run on. Prefect supports SQLite and
// PostgreSQL (https://docs.prefect.io/v3/manage/server/index#database-settings);
// a lab that outgrows one machine runs it on PostgreSQL, and a few of the
// server's behaviours differ between the two (its SQL templates are per
// dialect: src/prefect/server/database/sql/{sqlite,postgres}/), so the
// bridge's end-to-end tests run on both (make test-prefect-postgres).
const (
	DBSQLite   = "sqlite"
	DBPostgres = "postgres"
)

// EnvDatabase selects the database of every test server whose Options leave
// Database empty: "sqlite" (the default) or "postgres" (a throwaway
// PostgreSQL cluster per server, testenv.NewPostgres).
const EnvDatabase = "PLATE_RESORT_TEST_PREFECT_DB"

func database(opts Options) (string, error) {
	db := opts.Database
	if db == "" {
		db = os.Getenv(EnvDatabase)
	}
	switch db {
	case "", DBSQLite:
		return DBSQLite, nil
	case DBPostgres, "postgresql":
		return DBPostgres, nil
	}
	return "", fmt.Errorf("%s=%q: want %s or %s", EnvDatabase, db, DBSQLite, DBPostgres)
}

// EnvStartTimeout overrides the default wait for a server's first healthy
// /api/health (a Go duration, e.g. 5m): on a loaded machine a first boot
// with all migrations takes minutes (make test-prefect-matrix sets it).
const EnvStartTimeout = "PLATE_RESORT_TEST_PREFECT_START_TIMEOUT"

func envStartTimeout(def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(EnvStartTimeout)); err == nil && d > 0 {
		return d
	}
	return def
}

// missing reports whether err means a part of the test server is not
// installed (skip, or fail with PLATE_RESORT_REQUIRE_E2E=1).
func missing(err error) bool {
	return errors.Is(err, errNoPrefect) || errors.Is(err, testenv.ErrNoPostgres)
}

// stopDB stops the server's PostgreSQL, if it has one.
func (s *Server) stopDB() {
	if s.pg != nil {
		s.pg.Stop()
	}
}

// SQL runs one statement on the server's database (tests that look at, or
// set up, Prefect's tables) and returns its rows, one per line, columns
// separated by "|": psql's unaligned output on PostgreSQL, the same from
// Python's sqlite3 module on SQLite.
func (s *Server) SQL(query string) (string, error) {
	if s.pg != nil {
		return s.pg.SQL(query)
	}
	const script = `import sqlite3, sys
c = sqlite3.connect(sys.argv[1], timeout=30)
rows = c.execute(sys.argv[2]).fetchall()
c.commit()
print("\n".join("|".join("" if v is None else str(v) for v in r) for r in rows))`
	out, err := exec.Command(s.python, "-c", script, filepath.Join(s.home, "prefect.db"), query).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("sqlite: %w: %s", err, out)
	}
	return strings.TrimSpace(string(out)), nil
}
