package prefecttest

import (
	"errors"
	"fmt"
	"os"
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

// SQL runs a statement on the server's PostgreSQL database (tests that look
// at Prefect's tables); an error on SQLite.
func (s *Server) SQL(query string) (string, error) {
	if s.pg == nil {
		return "", errors.New("the test server runs on " + s.Database + ", not PostgreSQL")
	}
	return s.pg.SQL(query)
}
