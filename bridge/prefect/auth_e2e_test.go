package prefect_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/bridge/prefect/prefecttest"
)

// A self-hosted server with PREFECT_SERVER_API_AUTH_STRING: the right string
// works for REST and the events websocket, a wrong one is a typed 401 that
// never echoes the secret.
func TestBasicAuthServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a second Prefect server")
	}
	const good, bad = "admin:s3cret-pass", "admin:wrong-pass-xyz"
	s := prefecttest.Start(t, prefecttest.Options{AuthString: good})
	ctx := ctxT(t)

	ok := client(t, s)
	if _, err := ok.EnsureWorkPool(ctx, "auth-pool", "mqtt-bridge", ""); err != nil {
		t.Fatalf("right auth string: %v", err)
	}

	wrong, err := prefect.New(prefect.Config{APIURL: s.URL, AuthString: bad})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.ReadWorkPool(ctx, "auth-pool")
	if prefect.StatusOf(err) != 401 {
		t.Fatalf("wrong auth string: err = %v, want 401 *APIError", err)
	}
	if strings.Contains(err.Error(), "wrong-pass") || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("error leaks the secret: %v", err)
	}

	// Websocket: right string connects, wrong one never does.
	for _, tc := range []struct {
		c    *prefect.Client
		want bool
	}{{ok, true}, {wrong, false}} {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		status := make(chan bool, 4)
		var lastErr error
		tc.c.Subscribe(sctx, prefect.SubscribeOptions{OnStatus: func(up bool, err error) {
			if err != nil {
				lastErr = err
			}
			status <- up
		}})
		select {
		case up := <-status:
			if up != tc.want {
				t.Errorf("websocket connected=%v, want %v (err %v)", up, tc.want, lastErr)
			}
		case <-sctx.Done():
			t.Errorf("no websocket status within 5s")
		}
		cancel()
	}

	// Python users with the same auth string reach the server too.
	out, err := s.Python(t, `
from prefect import get_client
import asyncio
async def main():
    async with get_client() as c:
        print((await c.read_work_pool("auth-pool")).name)
asyncio.run(main())
`)
	if err != nil || strings.TrimSpace(out) != "auth-pool" {
		t.Fatalf("python with auth: %q %v", out, err)
	}
}
