// Package brokertest runs the embedded broker in tests. It is apart from
// internal/testenv because the broker's own tests use testenv, and
// testenv importing the broker would make a cycle.
package brokertest

import (
	"testing"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// logTail is how much of the broker's log a failed test shows: its end,
// where the failure is.
const logTail = 100_000

// Start runs the embedded broker with cfg until the test ends (Close may
// come earlier; it is safe to call twice). The broker logs at debug level
// into a buffer shown only when the test failed: mochi's event loop logs
// after Close returns, and writing to t after the test ended is a data
// race in the testing package.
func Start(t testing.TB, cfg broker.Config) *broker.Broker {
	t.Helper()
	logs := &testenv.LockedBuffer{}
	b, err := broker.New(cfg, zerolog.New(logs).With().Str("part", "broker").Logger().Level(zerolog.DebugLevel))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Close()
		if t.Failed() {
			s := logs.String()
			if len(s) > logTail {
				s = "...\n" + s[len(s)-logTail:]
			}
			t.Logf("broker log:\n%s", s)
		}
	})
	return b
}

// Anonymous is broker.DefaultConfig (anonymous access from loopback) with
// its TCP listener on a free loopback port.
func Anonymous() broker.Config {
	cfg := broker.DefaultConfig()
	cfg.Listeners.TCP.Address = "127.0.0.1:0"
	return cfg
}
