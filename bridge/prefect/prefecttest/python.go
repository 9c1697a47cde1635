package prefecttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// PythonTimeout bounds one Python snippet (run_deployment polls every 5 s by
// default, so give it room).
var PythonTimeout = 3 * time.Minute

// Python runs script with the server's venv interpreter, configured as a lab
// user's shell would be: PREFECT_API_URL (and PREFECT_API_AUTH_STRING) set.
// env adds KEY=value pairs. It returns stdout; err includes stderr.
func (s *Server) Python(t testing.TB, script string, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), PythonTimeout)
	defer cancel()
	home := filepath.Join(t.TempDir(), "client-home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, s.python, "-c", script)
	cmd.Env = append(baseEnviron(),
		"PREFECT_HOME="+home,
		"PREFECT_API_URL="+s.URL,
		"PREFECT_SERVER_ANALYTICS_ENABLED=false",
		"DO_NOT_TRACK=1",
	)
	if s.AuthString != "" {
		cmd.Env = append(cmd.Env, "PREFECT_API_AUTH_STRING="+s.AuthString)
	}
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("python snippet: %w\nstderr:\n%s", err, stderr.String())
	}
	return stdout.String(), nil
}
