// Command packaging builds the plate-resort .deb packages for a Raspberry Pi
// (arm64 and armhf) and for amd64 (`make dist`, or `go run ./packaging`).
// It cross-compiles cmd/plate-resort with CGO off and assembles each
// package with nfpm used as a library; it is a build tool and never part of
// the shipped binary.
//
// Each package holds /usr/bin/plate-resort, the systemd units of the agent,
// broker and bridge, their configs in /etc/plate-resort as conffiles, a
// sysusers.d file for the plate-resort system user, a udev rule for the
// servo adapter, a man page, copyright and changelog, and the example
// configs of configs/ under /usr/share/doc/plate-resort/examples.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/buildinfo"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

// packageFiles are the sources of everything the packages ship besides the
// binary and the example configs.
//
//go:embed files
var packageFiles embed.FS

const (
	pkgName    = "plate-resort"
	modulePath = "github.com/plate-resort/plate-resort"
	// The identity the repository's commits carry.
	defaultMaintainer = "plate-resort maintainers <maintainers@users.noreply.r-seed-96bd3fd1.example>"
	homepage          = "https://github.com/plate-resort/plate-resort"
	// unitDir is where the units go. Debian moves every packaged file to
	// /usr (https://wiki.debian.org/UsrMerge); on the merged-/usr systems
	// bookworm requires, /lib/systemd/system is the same directory, and
	// bookworm's lintian (2.116) accepts this path.
	unitDir     = "/usr/lib/systemd/system"
	description = `Dynamixel plate carousel on MQTT: edge agent, broker, Prefect bridge
 plate-resort drives a lab plate carousel (a ROBOTIS Dynamixel X-series
 servo behind a USB serial adapter, usually on a Raspberry Pi) from MQTT
 commands and publishes its state and health. One binary holds the edge
 agent, an embedded MQTT broker and a bridge that lets Prefect flow runs
 become carousel commands.
 .
 The package installs systemd units for the agent, the broker and the
 bridge (none enabled), their configs in /etc/plate-resort, a system user
 and a udev rule that names the servo adapter /dev/plate-resort-servo and
 sets its FTDI latency timer to 1 ms.`
)

// target is one package: a Go cross-compilation target and its Debian
// architecture name.
type target struct {
	goarch, goarm, debArch string
}

// targets are the packages `make dist` builds. armhf is ARMv7 with
// hardware floating point, Debian's and Raspberry Pi OS's 32-bit ABI
// (https://wiki.debian.org/ArmHardFloatPort), hence GOARM=7.
var targets = []target{
	{goarch: "amd64", debArch: "amd64"},
	{goarch: "arm64", debArch: "arm64"},
	{goarch: "arm", goarm: "7", debArch: "armhf"},
}

// options of one run of the build.
type options struct {
	version    string // the `git describe` version stamped into the binary
	ldflags    string // passed to go build; empty: the Makefile's, from version
	outDir     string
	arches     []string // Debian architectures; empty: all targets
	maintainer string
	mtime      time.Time // of every file, for reproducible packages
}

func main() {
	var o options
	var arches string
	flag.StringVar(&o.version, "version", "", "version stamped into the binary, as `git describe --tags --always --dirty` prints it (default: that command's output)")
	flag.StringVar(&o.ldflags, "ldflags", "", "go build -ldflags (default: -s -w and the version, as the Makefile's LDFLAGS)")
	flag.StringVar(&o.outDir, "out", "dist", "directory for the .deb files")
	flag.StringVar(&arches, "arch", "", "comma-separated Debian architectures: amd64, arm64, armhf (default: all)")
	flag.StringVar(&o.maintainer, "maintainer", defaultMaintainer, "Maintainer field")
	flag.Parse()
	if arches != "" {
		o.arches = strings.Split(arches, ",")
	}
	start := time.Now()
	paths, err := build(context.Background(), o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "packaging: %v\n", err)
		os.Exit(1)
	}
	for _, p := range paths {
		fmt.Println(p)
	}
	fmt.Fprintf(os.Stderr, "packaging: %d packages in %s\n", len(paths), time.Since(start).Round(100*time.Millisecond))
}

// build cross-compiles the binary for each target and writes its package
// to o.outDir, returning the package paths.
func build(ctx context.Context, o options) ([]string, error) {
	root, err := moduleRoot(ctx)
	if err != nil {
		return nil, err
	}
	if o.version == "" {
		o.version = gitDescribe(ctx, root)
	}
	debVer, err := debianVersion(o.version)
	if err != nil {
		return nil, err
	}
	if o.ldflags == "" {
		o.ldflags = "-s -w -X " + modulePath + "/internal/buildinfo.Version=" + o.version
	}
	if o.maintainer == "" {
		o.maintainer = defaultMaintainer
	}
	if o.mtime.IsZero() {
		o.mtime = commitTime(ctx, root)
	}
	sel, err := selectTargets(o.arches)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.outDir, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "plate-resort-dist-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	stage := filepath.Join(work, "files")
	if err := os.CopyFS(stage, packageFiles); err != nil {
		return nil, fmt.Errorf("stage package files: %w", err)
	}
	stage = filepath.Join(stage, "files")

	var out []string
	for _, tg := range sel {
		bin := filepath.Join(work, "plate-resort-"+tg.debArch)
		if err := goBuild(ctx, root, tg, o.ldflags, bin); err != nil {
			return nil, err
		}
		p, err := writePackage(o, tg, debVer, root, stage, work, bin)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", tg.debArch, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func selectTargets(arches []string) ([]target, error) {
	if len(arches) == 0 {
		return targets, nil
	}
	var sel []target
	for _, a := range arches {
		found := false
		for _, tg := range targets {
			if tg.debArch == strings.TrimSpace(a) {
				sel = append(sel, tg)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("architecture %q: want amd64, arm64 or armhf", a)
		}
	}
	return sel, nil
}

// goBuild builds cmd/plate-resort as the Makefile's build target does
// (-trimpath, CGO off), for tg.
func goBuild(ctx context.Context, root string, tg target, ldflags, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, "./cmd/plate-resort")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+tg.goarch, "GOARM="+tg.goarm)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for %s: %w\n%s", tg.debArch, err, b)
	}
	return nil
}

// writePackage assembles one .deb with nfpm.
func writePackage(o options, tg target, debVer, root, stage, work, bin string) (string, error) {
	dir := filepath.Join(work, tg.debArch)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Debian policy §12.1 (manual pages) and §12.7 (changelog of a native
	// package: changelog.gz) want these gzipped with maximum compression;
	// Go's gzip writes no name and no time stamp, so the result is
	// reproducible (lintian: package-contains-timestamped-gzip).
	man, err := os.ReadFile(filepath.Join(stage, "plate-resort.1"))
	if err != nil {
		return "", err
	}
	manGz := filepath.Join(dir, "plate-resort.1.gz")
	if err := writeGzip(manGz, man); err != nil {
		return "", err
	}
	changelogGz := filepath.Join(dir, "changelog.gz")
	if err := writeGzip(changelogGz, []byte(changelog(debVer, o.version, o.maintainer, o.mtime))); err != nil {
		return "", err
	}
	copyright := filepath.Join(dir, "copyright")
	if err := writeCopyright(filepath.Join(stage, "debian", "copyright.in"), bin, o.mtime.Year(), copyright); err != nil {
		return "", err
	}

	file := func(src, dst string, mode os.FileMode) *files.Content {
		return &files.Content{Source: src, Destination: dst, FileInfo: &files.ContentFileInfo{Mode: mode, MTime: o.mtime}}
	}
	conf := func(name string) *files.Content {
		c := file(filepath.Join(stage, "etc", name), "/etc/plate-resort/"+name, 0o644)
		// dpkg keeps a conffile the admin changed across upgrades and asks
		// (Debian policy §10.7.3, deb-conffiles(5)).
		c.Type = files.TypeConfig
		return c
	}
	const doc = "/usr/share/doc/" + pkgName
	contents := files.Contents{
		file(bin, "/usr/bin/plate-resort", 0o755),
		conf("agent.yaml"),
		conf("broker.yaml"),
		conf("bridge.yaml"),
		file(filepath.Join(stage, "60-plate-resort.rules"), "/usr/lib/udev/rules.d/60-plate-resort.rules", 0o644),
		file(filepath.Join(stage, "plate-resort.sysusers"), "/usr/lib/sysusers.d/plate-resort.conf", 0o644),
		file(manGz, "/usr/share/man/man1/plate-resort.1.gz", 0o644),
		file(copyright, doc+"/copyright", 0o644),
		file(changelogGz, doc+"/changelog.gz", 0o644),
	}
	for _, u := range []string{"agent", "broker", "bridge"} {
		name := "plate-resort-" + u + ".service"
		contents = append(contents, file(filepath.Join(stage, name), unitDir+"/"+name, 0o644))
	}
	for _, ex := range []string{"agent.yaml", "broker.yaml", "broker-production.yaml", "bridge.yaml", "up.yaml", "mosquitto.conf"} {
		contents = append(contents, file(filepath.Join(root, "configs", ex), doc+"/examples/"+ex, 0o644))
	}
	if _, err := fs.Stat(packageFiles, "files/lintian-overrides"); err == nil {
		contents = append(contents, file(filepath.Join(stage, "lintian-overrides"), "/usr/share/lintian/overrides/"+pkgName, 0o644))
	}

	info := &nfpm.Info{
		Name:          pkgName,
		Arch:          tg.debArch,
		Platform:      "linux",
		Version:       debVer,
		VersionSchema: "none", // debVer is already a Debian version
		Section:       "science",
		Priority:      "optional",
		Maintainer:    o.maintainer,
		Description:   description,
		Homepage:      homepage,
		MTime:         o.mtime,
		Overridables: nfpm.Overridables{
			// postinst runs systemd-sysusers; the alternatives are those
			// debhelper's dh_installsysusers names.
			Depends:  []string{"systemd | systemd-standalone-sysusers | systemd-sysusers"},
			Suggests: []string{"mosquitto-clients"},
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(stage, "debian", "postinst"),
				PreRemove:   filepath.Join(stage, "debian", "prerm"),
				PostRemove:  filepath.Join(stage, "debian", "postrm"),
			},
			Deb: nfpm.Deb{Compression: "gzip"},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return "", err
	}
	path := filepath.Join(o.outDir, deb.Default.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		os.Remove(path)
		return "", err
	}
	return path, f.Close()
}

func writeGzip(path string, data []byte) error {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// changelog is the package's Debian changelog (Debian policy §4.4 format):
// one entry for this build, dated by the commit.
func changelog(debVer, describe, maintainer string, at time.Time) string {
	return fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n"+
		"  * Built from git %s; the changes are the repository's history.\n\n"+
		" -- %s  %s\n", pkgName, debVer, describe, maintainer, at.UTC().Format(time.RFC1123Z))
}

// writeCopyright fills the copyright template with the Go modules linked
// into bin, read from its build information.
func writeCopyright(tmplPath, bin string, year int, out string) error {
	tmpl, err := template.ParseFiles(tmplPath)
	if err != nil {
		return err
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("build information of %s: %w", bin, err)
	}
	var mods []string
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		mods = append(mods, d.Path+" "+d.Version)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, struct {
		Year      int
		GoVersion string
		Modules   []string
	}{year, bi.GoVersion, mods}); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

var (
	describeAhead = regexp.MustCompile(`-([0-9]+)-g([0-9a-f]+)$`)
	bareCommit    = regexp.MustCompile(`^[0-9a-f]{7,40}$`)
	debVersionOK  = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)
)

// debianVersion turns a `git describe --tags --always --dirty` output into
// a version dpkg orders the same way: "v1.2.3" → "1.2.3", "v1.2.3-4-gabc"
// (4 commits after the tag) → "1.2.3+4.gabc", "v1.2.3-rc1" → "1.2.3~rc1"
// (before 1.2.3), a bare commit "abc1234" (no tag yet) → "0~git.abc1234",
// "-dirty" → "+dirty". A bare hexadecimal string of 7 or more digits is
// taken for a commit (so an all-hex tag such as 20261130 is too). A native
// package's version has no hyphen (Debian policy §5.6.12, Version).
func debianVersion(describe string) (string, error) {
	v := strings.TrimSpace(describe)
	dirty := strings.HasSuffix(v, "-dirty")
	v = strings.TrimSuffix(v, "-dirty")
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' {
		v = v[1:]
	}
	if v == "" || v[0] < '0' || v[0] > '9' || bareCommit.MatchString(v) {
		v = "0~git." + v
	} else {
		v = describeAhead.ReplaceAllString(v, "+$1.g$2")
		v = strings.ReplaceAll(v, "-", "~")
	}
	if dirty {
		v += "+dirty"
	}
	v = strings.TrimSuffix(v, ".")
	if !debVersionOK.MatchString(v) {
		return "", fmt.Errorf("version %q: %q is not a Debian version of a native package", describe, v)
	}
	return v, nil
}

// moduleRoot is the directory of the plate-resort module.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run inside the plate-resort module")
	}
	return filepath.Dir(gomod), nil
}

// gitDescribe is the Makefile's VERSION.
func gitDescribe(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always", "--dirty")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(out))
}

// commitTime is the time of HEAD (or SOURCE_DATE_EPOCH when set, as
// https://reproducible-builds.org/specs/source-date-epoch/ asks), so two
// builds of one commit give the same packages.
func commitTime(ctx context.Context, root string) time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	cmd := exec.CommandContext(ctx, "git", "log", "-1", "--format=%ct")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}
