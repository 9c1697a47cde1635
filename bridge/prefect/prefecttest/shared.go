package prefecttest

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// Shared is one server for all tests of a package, started on first Get and
// stopped when Run returns. Tests must not depend on a clean database: use
// unique names (t.Name()) for pools, flows and deployments.
type Shared struct {
	opts Options
	once sync.Once
	dir  string
	srv  *Server
	err  error
}

// NewShared prepares a shared server; nothing starts until Get.
func NewShared(opts Options) *Shared { return &Shared{opts: opts} }

// Run runs the package's tests (call from TestMain) and stops the server.
func (sh *Shared) Run(m *testing.M) int {
	code := m.Run()
	if sh.srv != nil {
		if code != 0 {
			fmt.Fprintf(os.Stderr, "prefect server log:\n%s\n", sh.srv.Log())
		}
		sh.srv.Stop()
	}
	if sh.dir != "" {
		_ = os.RemoveAll(sh.dir)
	}
	return code
}

// Get returns the shared server, starting it on first use; it skips or fails
// t as Start does when Prefect is unavailable.
func (sh *Shared) Get(t testing.TB) *Server {
	t.Helper()
	sh.once.Do(func() {
		sh.dir, sh.err = os.MkdirTemp("", "prefecttest-")
		if sh.err != nil {
			return
		}
		sh.srv, sh.err = start(sh.dir, sh.opts)
		if sh.err == nil {
			t.Logf("shared prefect server %s on %s healthy after %s", sh.srv.URL, sh.srv.Database, sh.srv.Startup.Round(time.Millisecond))
		}
	})
	if missing(sh.err) {
		skipOrFatal(t, sh.err)
	}
	if sh.err != nil {
		t.Fatalf("start shared prefect server: %v", sh.err)
	}
	return sh.srv
}
