package panel_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plate-resort/plate-resort/internal/testenv"
	"github.com/plate-resort/plate-resort/panel"
)

// lockedMQTT reads the pinned mqtt version and its tarball integrity from
// package-lock.json (npm docs: package-lock.json, "packages" and
// "integrity", a Subresource Integrity string).
func lockedMQTT(t *testing.T) (version, integrity string) {
	t.Helper()
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	var lock struct {
		Packages map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	for name, v := range map[string]any{"package.json": &pkg, "package-lock.json": &lock} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	m := lock.Packages["node_modules/mqtt"]
	if m.Version == "" || !strings.HasPrefix(m.Integrity, "sha512-") {
		t.Fatalf("package-lock.json has no mqtt with a sha512 integrity: %+v", m)
	}
	if pkg.Dependencies["mqtt"] != m.Version {
		t.Fatalf("package.json pins mqtt %q, the lock has %q: pin an exact version and run make panel-vendor", pkg.Dependencies["mqtt"], m.Version)
	}
	return m.Version, m.Integrity
}

// TestVendoredMQTTJS holds the committed browser bundle to what npm would
// install: its sha512 must be the one make panel-vendor recorded, and, when
// the pinned tarball is at hand (npm's cache, which is content-addressed by
// the same integrity, or `npm pack`), the tarball must match the lock's
// integrity and contain exactly the committed file.
func TestVendoredMQTTJS(t *testing.T) {
	version, integrity := lockedMQTT(t)
	got, err := fs.ReadFile(panel.Web(), "vendor/mqtt.esm.js")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum512(got)
	rec, err := os.ReadFile("mqtt.esm.js.sha512")
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Fields(string(rec)); len(want) == 0 || want[0] != hex.EncodeToString(sum[:]) {
		t.Fatalf("web/vendor/mqtt.esm.js has sha512 %x, mqtt.esm.js.sha512 records %q: run make panel-vendor", sum, rec)
	}

	tgz := findTarball(t, version, integrity)
	if tgz == nil {
		if testenv.RequireE2E() {
			t.Fatalf("mqtt %s tarball not found in the npm cache and npm pack failed", version)
		}
		t.Skipf("mqtt %s tarball not available offline; the recorded sha512 matched", version)
	}
	tsum := sha512.Sum512(tgz)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(tsum[:]); got != integrity {
		t.Fatalf("tarball integrity %s, package-lock.json says %s", got, integrity)
	}
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("package/dist/mqtt.esm.js not in the tarball: %v", err)
		}
		if h.Name != "package/dist/mqtt.esm.js" {
			continue
		}
		want, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("web/vendor/mqtt.esm.js differs from mqtt %s's dist/mqtt.esm.js: run make panel-vendor", version)
		}
		return
	}
}

func findTarball(t *testing.T, version, integrity string) []byte {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(integrity, "sha512-"))
	if err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString(raw)
	// npm's cache (cacache) stores content under content-v2/<algo>/<hex[0:2]>/<hex[2:4]>/<hex[4:]>.
	if home, err := os.UserHomeDir(); err == nil {
		if b, err := os.ReadFile(filepath.Join(home, ".npm", "_cacache", "content-v2", "sha512", h[:2], h[2:4], h[4:])); err == nil {
			return b
		}
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil
	}
	dir := t.TempDir()
	cmd := exec.Command(npm, "pack", "mqtt@"+version, "--pack-destination", dir, "--silent")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("npm pack: %v: %s", err, out)
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "mqtt-"+version+".tgz"))
	if err != nil {
		return nil
	}
	return b
}
