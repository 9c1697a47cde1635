package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildOut  []byte
)

// PlateResort builds the plate-resort binary once per test process (CGO
// off, as shipped) and returns its path, for tests that must run the
// agent or bridge as a process of its own (kill -9, restarts).
func PlateResort(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "plate-resort-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "plate-resort")
		cmd := exec.Command("go", "build", "-trimpath", "-o", buildPath, "github.com/plate-resort/plate-resort/cmd/plate-resort")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build plate-resort: %v\n%s", buildErr, buildOut)
	}
	return buildPath
}
