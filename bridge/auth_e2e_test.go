package bridge

import (
	"testing"

	"github.com/plate-resort/plate-resort/bridge/prefect/prefecttest"
)

// startAuthServer starts a Prefect server with basic auth on for one test.
func startAuthServer(t *testing.T) *prefecttest.Server {
	return prefecttest.Start(t, prefecttest.Options{AuthString: "admin:s3cret-pass"})
}
