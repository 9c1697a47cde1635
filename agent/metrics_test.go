package agent

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/internal/ops"
)

// A command left in the inbox past dispatchStall means the dispatch loop is
// stuck: /health turns 503 and names it. (The agent is built, not run, so
// nothing drains the inbox: exactly a stuck loop.)
func TestLivenessNamesAStuckDispatchLoop(t *testing.T) {
	cfg := Defaults()
	cfg.Resort.Device = filepath.Join(t.TempDir(), "none")
	cfg.HTTP = ops.Config{Address: "127.0.0.1:0"}
	a, err := New(cfg, zerolog.Nop(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.ops.Handler())
	defer srv.Close()
	health := func() (int, ops.Report) {
		resp, err := srv.Client().Get(srv.URL + "/health")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var r ops.Report
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, r
	}
	a.svc.inbox.push(inbound{topic: "x", received: time.Now()})
	if c, r := health(); c != 200 {
		t.Fatalf("a fresh command is no stall: %d %+v", c, r)
	}
	a.svc.inbox.pop(t.Context())
	a.svc.inbox.push(inbound{topic: "x", received: time.Now().Add(-dispatchStall - time.Second)})
	c, r := health()
	if c != 503 || len(r.Failing) != 1 || r.Failing[0] != "dispatch" || !strings.Contains(r.Checks["dispatch"], "dispatch loop stalled") {
		t.Fatalf("stuck dispatch: %d %+v", c, r)
	}
}

func TestConfigRefusesBadHTTP(t *testing.T) {
	for _, c := range []struct {
		http ops.Config
		want string
	}{
		{ops.Config{Address: "9101"}, "http.address"},
		{ops.Config{Address: "127.0.0.1:99999"}, "http.address"},
		{ops.Config{Metrics: true}, "http.metrics"},
	} {
		cfg := Defaults()
		cfg.HTTP = c.http
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.http, err, c.want)
		}
	}
}
