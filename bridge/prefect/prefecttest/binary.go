package prefecttest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// EnvBinary names the prefect executable to use; EnvRequire makes a missing
// one fatal instead of a skip (set in CI).
const (
	EnvBinary  = "PLATE_RESORT_TEST_PREFECT"
	EnvRequire = "PLATE_RESORT_REQUIRE_E2E"
)

// errNoPrefect is returned when no prefect executable can be found.
var errNoPrefect = errors.New("prefect executable not found: run .ci/prefect-venv.sh DIR and set " + EnvBinary + "=DIR/bin/prefect")

// findPrefect returns the prefect executable and the python of the same venv.
func findPrefect() (prefect, python string, err error) {
	prefect = os.Getenv(EnvBinary)
	if prefect == "" {
		if prefect, err = exec.LookPath("prefect"); err != nil {
			return "", "", errNoPrefect
		}
	}
	if _, err := os.Stat(prefect); err != nil {
		return "", "", fmt.Errorf("%s=%q: %w", EnvBinary, prefect, err)
	}
	// The console script lives in the venv's bin/ next to its interpreter;
	// using that python guarantees `import prefect` matches the server.
	python = filepath.Join(filepath.Dir(prefect), "python")
	if _, err := os.Stat(python); err != nil {
		return "", "", fmt.Errorf("no python next to %s (expected a venv): %w", prefect, err)
	}
	return prefect, python, nil
}

// skipOrFatal is the one place deciding between skip and failure for a
// missing Prefect.
func skipOrFatal(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatalf("%s=1 but %v", EnvRequire, err)
	}
	t.Skipf("skipping Prefect e2e test: %v", err)
}
