package testenv

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// The throwaway cluster answers queries on its TCP port and unix socket,
// runs as a non-root user (PostgreSQL refuses root), and is gone after Stop.
func TestStartPostgres(t *testing.T) {
	p := StartPostgres(t)
	out, err := p.SQL("SELECT current_database() || ' ' || current_setting('server_version_num')")
	if err != nil {
		t.Fatalf("query: %v: %s", err, out)
	}
	fields := strings.Fields(out)
	if len(fields) != 2 || fields[0] != "prefect" || len(fields[1]) < 5 {
		t.Fatalf("got %q, want the database prefect and a version number", out)
	}
	t.Logf("server_version_num %s, URL %s", fields[1], p.URL())
	if !strings.HasPrefix(p.URL(), "postgresql+asyncpg://postgres@127.0.0.1:") {
		t.Errorf("URL %s", p.URL())
	}
	fi, err := os.Stat(p.SocketDir() + "/.s.PGSQL." + strconv.Itoa(p.Port))
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("no unix socket in %s: %v", p.SocketDir(), err)
	}
	dir := p.Dir
	p.Stop()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cluster dir %s left behind: %v", dir, err)
	}
}
