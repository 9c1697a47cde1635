package main

import (
	"bufio"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/bridge"
	"github.com/plate-resort/plate-resort/broker"
	"github.com/plate-resort/plate-resort/internal/config"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// The packages are built once per test process, for all tests.
var (
	buildOnce  sync.Once
	buildDir   string
	builtDebs  map[string]string // Debian architecture → .deb
	builtVer   string            // git describe, stamped into the binary
	builtDeb   string            // its Debian version
	buildErr   error
	buildTook  time.Duration
	testRoot   string // module root
	rootErr    error
	rootFinder sync.Once
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func moduleDir(t *testing.T) string {
	t.Helper()
	rootFinder.Do(func() { testRoot, rootErr = moduleRoot(context.Background()) })
	if rootErr != nil {
		t.Fatal(rootErr)
	}
	return testRoot
}

// packages builds the three packages (what `make dist` does) into a
// temporary directory.
func packages(t *testing.T) map[string]string {
	t.Helper()
	root := moduleDir(t)
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "plate-resort-dist-test-")
		if buildErr != nil {
			return
		}
		builtVer = gitDescribe(context.Background(), root)
		if builtDeb, buildErr = debianVersion(builtVer); buildErr != nil {
			return
		}
		start := time.Now()
		var paths []string
		paths, buildErr = build(context.Background(), options{version: builtVer, outDir: buildDir})
		buildTook = time.Since(start)
		builtDebs = map[string]string{}
		for _, p := range paths {
			for _, tg := range targets {
				if strings.HasSuffix(p, "_"+tg.debArch+".deb") {
					builtDebs[tg.debArch] = p
				}
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("build packages: %v", buildErr)
	}
	return builtDebs
}

func run(t *testing.T, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func mustRun(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := run(t, timeout, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func TestDebianVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":                  "1.2.3",
		"1.2.3":                   "1.2.3",
		"v1.2.3-4-gabc1234":       "1.2.3+4.gabc1234",
		"v1.2.3-4-gabc1234-dirty": "1.2.3+4.gabc1234+dirty",
		"v1.2.3-rc1":              "1.2.3~rc1",
		"a821897":                 "0~git.a821897",
		"a821897-dirty":           "0~git.a821897+dirty",
		"5daaaa5":                 "0~git.5daaaa5",
		"5daaaa5-dirty":           "0~git.5daaaa5+dirty",
		"dev":                     "0~git.dev",
	} {
		got, err := debianVersion(in)
		if err != nil || got != want {
			t.Errorf("debianVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := debianVersion("v1.2.3_x"); err == nil {
		t.Error("a version with '_' was accepted")
	}
	// The mapping keeps git's order in dpkg's.
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg not found: order not checked")
	}
	order := []string{"0~git.a821897", "1.2.3~rc1", "1.2.3", "1.2.3+4.gabc1234", "1.2.3+4.gabc1234+dirty", "1.2.4"}
	for i := 1; i < len(order); i++ {
		if out, err := run(t, 10*time.Second, "dpkg", "--compare-versions", order[i-1], "lt", order[i]); err != nil {
			t.Errorf("dpkg: %s is not before %s: %v %s", order[i-1], order[i], err, out)
		}
	}
}

// The configs the package installs load through the binary's own loader
// (unknown keys refused) and validate, and the agent's names the adapter
// the udev rule creates.
func TestPackagedConfigsValidate(t *testing.T) {
	etc := filepath.Join("files", "etc")
	load := func(name string, dst any) {
		t.Helper()
		if err := config.Load(config.Source{Path: filepath.Join(etc, name), Environ: []string{}}, dst); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	a := agent.Defaults()
	load("agent.yaml", &a)
	if err := a.Validate(); err != nil {
		t.Fatalf("agent.yaml: %v", err)
	}
	rule, err := os.ReadFile(filepath.Join("files", "60-plate-resort.rules"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rule), `SYMLINK+="`+strings.TrimPrefix(a.Resort.Device, "/dev/")+`"`) {
		t.Errorf("agent.yaml resort.device %s is not the name the udev rule makes", a.Resort.Device)
	}
	// Under the unit, the journal lands in the StateDirectory.
	a.MQTT.URL = "mqtt://127.0.0.1:1883"
	t.Setenv("STATE_DIRECTORY", "/var/lib/plate-resort")
	if p := a.JournalPath(); !strings.HasPrefix(p, "/var/lib/plate-resort/") {
		t.Errorf("agent journal at %s, not in the unit's state directory", p)
	}

	b := broker.DefaultConfig()
	load("broker.yaml", &b)
	if err := b.Validate(); err != nil {
		t.Fatalf("broker.yaml: %v", err)
	}
	// It starts as installed, but nothing is reachable from the network.
	for _, addr := range []string{b.Listeners.TCP.Address, b.Listeners.TLS.Address, b.Listeners.WebSocket.Address, b.Listeners.Health.Address} {
		if addr != "" && !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("broker.yaml listens on %s, beyond loopback", addr)
		}
	}
	if b.Anonymous.Enabled && !b.Anonymous.LoopbackOnly {
		t.Error("broker.yaml lets anonymous clients in from the network")
	}
	if !strings.HasPrefix(b.Storage.Path, "/var/lib/plate-resort/") {
		t.Errorf("broker storage %s is outside the unit's StateDirectory", b.Storage.Path)
	}

	br := bridge.Defaults()
	load("bridge.yaml", &br)
	if err := br.Validate(); err == nil || !strings.Contains(err.Error(), "prefect.api_url") {
		t.Fatalf("bridge.yaml without a Prefect URL: %v; want a prefect.api_url error", err)
	}
	// With the URL from bridge.env, as the unit passes it.
	br.WithPrefectEnv([]string{"PREFECT_API_URL=http://127.0.0.1:4200/api"})
	if err := br.Validate(); err != nil {
		t.Fatalf("bridge.yaml with PREFECT_API_URL: %v", err)
	}
}

// nfpm and its dependencies are for this build program only: the shipped
// binary must not link them.
func TestShippedBinaryDoesNotLinkNfpm(t *testing.T) {
	out := mustRun(t, time.Minute, "go", "list", "-deps", modulePath+"/cmd/plate-resort")
	for _, p := range strings.Fields(out) {
		if strings.Contains(p, "goreleaser") {
			t.Errorf("cmd/plate-resort depends on %s", p)
		}
	}
}

// expectedFiles are the regular files of every package.
var expectedFiles = []string{
	"/etc/plate-resort/agent.yaml",
	"/etc/plate-resort/bridge.yaml",
	"/etc/plate-resort/broker.yaml",
	"/usr/bin/plate-resort",
	unitDir + "/plate-resort-agent.service",
	unitDir + "/plate-resort-bridge.service",
	unitDir + "/plate-resort-broker.service",
	"/usr/lib/sysusers.d/plate-resort.conf",
	"/usr/lib/udev/rules.d/60-plate-resort.rules",
	"/usr/share/doc/plate-resort/changelog.gz",
	"/usr/share/doc/plate-resort/copyright",
	"/usr/share/doc/plate-resort/examples/agent.yaml",
	"/usr/share/doc/plate-resort/examples/bridge.yaml",
	"/usr/share/doc/plate-resort/examples/broker-production.yaml",
	"/usr/share/doc/plate-resort/examples/broker.yaml",
	"/usr/share/doc/plate-resort/examples/mosquitto.conf",
	"/usr/share/doc/plate-resort/examples/up.yaml",
	"/usr/share/lintian/overrides/plate-resort",
	"/usr/share/man/man1/plate-resort.1.gz",
}

// (a) make dist's three packages: the right architecture in the control
// file and in the ELF header of the binary, the expected files, the
// configs as conffiles, and the maintainer scripts.
func TestPackagesContents(t *testing.T) {
	testenv.NeedBinary(t, "dpkg-deb")
	debs := packages(t)
	t.Logf("3 packages built in %s", buildTook.Round(100*time.Millisecond))
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "armhf": elf.EM_ARM}
	for _, tg := range targets {
		t.Run(tg.debArch, func(t *testing.T) {
			deb := debs[tg.debArch]
			if deb == "" {
				t.Fatalf("no package for %s", tg.debArch)
			}
			want := fmt.Sprintf("plate-resort\n%s\n%s\n", builtDeb, tg.debArch)
			if got := mustRun(t, 30*time.Second, "dpkg-deb", "--showformat=${Package}\n${Version}\n${Architecture}\n", "--show", deb); got != want {
				t.Errorf("control fields %q, want %q", got, want)
			}
			var regular []string
			for _, line := range strings.Split(mustRun(t, 30*time.Second, "dpkg-deb", "-c", deb), "\n") {
				f := strings.Fields(line)
				if len(f) >= 6 && strings.HasPrefix(f[0], "-") {
					if f[1] != "root/root" {
						t.Errorf("%s owned by %s", f[5], f[1])
					}
					regular = append(regular, strings.TrimPrefix(f[5], "."))
				}
			}
			slices.Sort(regular)
			if !slices.Equal(regular, expectedFiles) {
				t.Errorf("files:\n%s\nwant:\n%s", strings.Join(regular, "\n"), strings.Join(expectedFiles, "\n"))
			}

			dir := t.TempDir()
			mustRun(t, time.Minute, "dpkg-deb", "-R", deb, dir)
			conf, err := os.ReadFile(filepath.Join(dir, "DEBIAN", "conffiles"))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Fields(string(conf)); !slices.Equal(got, expectedFiles[:3]) {
				t.Errorf("conffiles %q", got)
			}
			for _, s := range []string{"postinst", "prerm", "postrm"} {
				if fi, err := os.Stat(filepath.Join(dir, "DEBIAN", s)); err != nil || fi.Mode().Perm() != 0o755 {
					t.Errorf("DEBIAN/%s: %v", s, err)
				}
			}
			f, err := elf.Open(filepath.Join(dir, "usr", "bin", "plate-resort"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != machine[tg.debArch] {
				t.Errorf("binary for %s, want %s", f.Machine, machine[tg.debArch])
			}
			if f.Section(".interp") != nil {
				t.Error("binary has an ELF interpreter: not built with CGO_ENABLED=0")
			}
		})
	}
}

// acceptedLintianWarnings are the lintian warnings (W:) the packages may
// carry, each with the reason. None today; statically-linked-binary, an
// error, is overridden inside the package (files/lintian-overrides says why).
var acceptedLintianWarnings = map[string]string{}

// (b) lintian, the Debian package checker, finds no error in any of the
// three packages and no warning outside acceptedLintianWarnings. One run
// for all three: lintian's start-up dominates.
func TestLintian(t *testing.T) {
	t.Parallel() // with the install test: both mostly wait on other programs
	testenv.NeedBinary(t, "lintian")
	debs := packages(t)
	args := []string{"--no-cfg", "--display-level", ">=warning"}
	for _, tg := range targets {
		args = append(args, debs[tg.debArch])
	}
	start := time.Now()
	out, err := run(t, 5*time.Minute, "lintian", args...)
	t.Logf("lintian on 3 packages: %s", time.Since(start).Round(100*time.Millisecond))
	tag := regexp.MustCompile(`^([EW]): plate-resort[^:]*: (\S+)`)
	var errs, warns int
	for _, line := range strings.Split(out, "\n") {
		m := tag.FindStringSubmatch(line)
		switch {
		case m == nil:
		case m[1] == "E":
			errs++
			t.Errorf("lintian error: %s", line)
		case acceptedLintianWarnings[m[2]] == "":
			warns++
			t.Errorf("lintian warning not accepted: %s", line)
		}
	}
	if err != nil && errs == 0 {
		t.Fatalf("lintian failed without reporting an error: %v\n%s", err, out)
	}
	t.Logf("lintian: %d errors, %d unaccepted warnings", errs, warns)
}

// (c) systemd-analyze verify accepts the units: every directive known, the
// ExecStart binary present and executable, dependencies resolvable. It
// runs offline on unit files; the binary is the package's own, extracted,
// with ExecStart pointed at it (the root-only install test verifies the
// installed units as they are).
func TestSystemdAnalyzeVerify(t *testing.T) {
	sa := testenv.NeedBinary(t, "systemd-analyze")
	testenv.NeedBinary(t, "dpkg-deb")
	deb := packages(t)["amd64"]
	root := t.TempDir()
	mustRun(t, time.Minute, "dpkg-deb", "-x", deb, root)
	units := filepath.Join(t.TempDir(), "units")
	if err := os.MkdirAll(units, 0o755); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, u := range []string{"agent", "broker", "bridge"} {
		name := "plate-resort-" + u + ".service"
		b, err := os.ReadFile(filepath.Join(root, unitDir, name))
		if err != nil {
			t.Fatal(err)
		}
		want := "ExecStart=/usr/bin/plate-resort " + u + " -c /etc/plate-resort/" + u + ".yaml\n"
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: no %q", name, want)
		}
		s := strings.Replace(string(b), "ExecStart=/usr/bin/plate-resort", "ExecStart="+filepath.Join(root, "usr", "bin", "plate-resort"), 1)
		p := filepath.Join(units, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	// --man=no: the man page of Documentation= is in the package, not
	// installed here; the install test checks it too.
	verify(t, sa, append([]string{"--man=no"}, paths...)...)
}

// verify runs systemd-analyze verify and wants silence: any output is a
// warning (an unknown directive, a bad value) even when it exits 0.
func verify(t *testing.T, sa string, args ...string) {
	t.Helper()
	out, err := run(t, time.Minute, sa, append([]string{"verify"}, args...)...)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// needRoot skips a test that installs packages unless run as root; with
// PLATE_RESORT_REQUIRE_E2E=1 (CI) it fails instead, as testenv.NeedBinary.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if testenv.RequireE2E() {
		t.Fatal("not root and PLATE_RESORT_REQUIRE_E2E=1: the install test needs root to run dpkg -i")
	}
	t.Skip("not root: the install test runs dpkg -i (run as root, as CI does)")
}

// (d) The amd64 package on this machine: dpkg -i, then the installed
// binary runs the broker from the installed broker.yaml, the simulator and
// the agent from the installed agent.yaml, all as the plate-resort user the
// package created, and the agent answers a command through mosquitto_rr.
// dpkg --purge then removes everything but the user, which is kept on
// purpose (debian/postrm says why). The machine is restored even on
// failure.
func TestInstallRunPurge(t *testing.T) {
	needRoot(t)
	t.Parallel()
	for _, b := range []string{"dpkg", "dpkg-query", "getent", "mosquitto_rr"} {
		testenv.NeedBinary(t, b)
	}
	if st := pkgStatus(); st != "" && st != "not-installed" {
		t.Skipf("plate-resort is already on this machine (%s): not touching it", st)
	}
	const stateDir = "/var/lib/plate-resort"
	if _, err := os.Stat(stateDir); err == nil {
		t.Skipf("%s exists without the package: not touching it", stateDir)
	}
	_, userErr := user.Lookup("plate-resort")
	userExisted := userErr == nil
	deb := packages(t)["amd64"]

	t.Cleanup(func() {
		if out, err := run(t, 2*time.Minute, "dpkg", "--purge", "plate-resort"); err != nil {
			t.Errorf("cleanup: dpkg --purge: %v\n%s", err, out)
		}
		os.RemoveAll(stateDir)
		if !userExisted {
			if out, err := run(t, 30*time.Second, "userdel", "plate-resort"); err != nil {
				t.Logf("cleanup: userdel plate-resort: %v %s", err, out)
			}
			_, _ = run(t, 30*time.Second, "groupdel", "plate-resort")
		}
	})
	start := time.Now()
	mustRun(t, 2*time.Minute, "dpkg", "-i", deb)
	t.Logf("dpkg -i: %s", time.Since(start).Round(100*time.Millisecond))

	// Installed: files, conffiles, the user, the version.
	if got := mustRun(t, 10*time.Second, "dpkg-query", "-W", "-f=${db:Status-Status} ${Version}", "plate-resort"); got != "installed "+builtDeb {
		t.Fatalf("dpkg-query: %q", got)
	}
	for _, f := range expectedFiles {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("installed: %v", err)
		}
	}
	conffiles := mustRun(t, 10*time.Second, "dpkg-query", "-W", "-f=${Conffiles}", "plate-resort")
	for _, f := range expectedFiles[:3] {
		if !strings.Contains(conffiles, f+" ") {
			t.Errorf("%s is not a registered conffile: %q", f, conffiles)
		}
	}
	pw := strings.Split(strings.TrimSpace(mustRun(t, 10*time.Second, "getent", "passwd", "plate-resort")), ":")
	if len(pw) != 7 || pw[5] != stateDir || pw[6] != "/usr/sbin/nologin" {
		t.Fatalf("plate-resort user: %q", pw)
	}
	if uid, _ := strconv.Atoi(pw[2]); uid < 100 || uid > 999 {
		t.Errorf("plate-resort has uid %d: want a dynamically allocated system user, 100..999 (Debian policy §9.2.2)", uid)
	}
	if v := mustRun(t, 10*time.Second, "/usr/bin/plate-resort", "version"); !strings.Contains(v, builtVer) {
		t.Errorf("plate-resort version: %q, want %s", v, builtVer)
	}

	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		verify(t, sa, unitDir+"/plate-resort-agent.service", unitDir+"/plate-resort-broker.service", unitDir+"/plate-resort-bridge.service")
	}
	checkUdevRule(t)

	// What README's install step does; systemctl enable works on the unit
	// files without a running systemd. Purge must take the links away.
	wants := "/etc/systemd/system/multi-user.target.wants/"
	if _, err := exec.LookPath("systemctl"); err == nil {
		mustRun(t, 30*time.Second, "systemctl", "enable", "plate-resort-broker.service", "plate-resort-agent.service")
		for _, u := range []string{"plate-resort-broker.service", "plate-resort-agent.service"} {
			// The link may name /lib/systemd/system, the same directory on
			// a merged-/usr system.
			link, err1 := os.Stat(wants + u)
			unit, err2 := os.Stat(unitDir + "/" + u)
			if err1 != nil || err2 != nil || !os.SameFile(link, unit) {
				t.Errorf("systemctl enable %s: %v %v", u, err1, err2)
			}
		}
	}

	// The state directory as systemd's StateDirectory=plate-resort makes it.
	u, err := user.Lookup("plate-resort")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Mkdir(stateDir, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(stateDir, uid, gid); err != nil {
		t.Fatal(err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if g, err := user.LookupGroup("dialout"); err == nil {
		d, _ := strconv.Atoi(g.Gid)
		cred.Groups = []uint32{uint32(d)}
	}
	env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + stateDir, "STATE_DIRECTORY=" + stateDir}

	port := testenv.FreePort(t)
	startProc(t, "broker", cred, append(env,
		fmt.Sprintf("PLATE_RESORT_LISTENERS__TCP__ADDRESS=127.0.0.1:%d", port),
		fmt.Sprintf("PLATE_RESORT_LISTENERS__HEALTH__ADDRESS=127.0.0.1:%d", testenv.FreePort(t))),
		"broker", "-c", "/etc/plate-resort/broker.yaml")
	sim := startProc(t, "sim", cred, env, "sim", "--link=", "--log.format", "json")
	pty := sim.waitLine(t, "pty: ", 10*time.Second)
	startProc(t, "agent", cred, append(env,
		"PLATE_RESORT_RESORT__DEVICE="+pty,
		fmt.Sprintf("PLATE_RESORT_MQTT__URL=mqtt://127.0.0.1:%d", port)),
		"agent", "-c", "/etc/plate-resort/agent.yaml")

	// The agent connects to the servo in the background; ask until it
	// answers ok.
	var reply string
	deadline := time.Now().Add(30 * time.Second)
	for {
		reply, err = testenv.Run(t, 10*time.Second, "mosquitto_rr", "-h", "127.0.0.1", "-p", strconv.Itoa(port),
			"-t", "plate-resort/resort-1/cmd/get_position", "-e", "plate-resort/responses/me/resort-1", "-n", "-W", "3")
		if err == nil && strings.Contains(reply, `"status":"ok"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ok reply to get_position: %v %s", err, reply)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if !strings.Contains(reply, `"position_deg"`) {
		t.Errorf("get_position reply without position_deg: %s", reply)
	}
	// The broker's persistence and the agent's journal are in the state
	// directory, owned by the service user.
	for _, pattern := range []string{"broker.db", "agent-resort-1-*.journal"} {
		m, _ := filepath.Glob(filepath.Join(stateDir, pattern))
		if len(m) != 1 {
			t.Errorf("%s in %s: %v", pattern, stateDir, m)
			continue
		}
		if fi, err := os.Stat(m[0]); err == nil && fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
			t.Errorf("%s not owned by plate-resort", m[0])
		}
	}
	stopAll(t)

	start = time.Now()
	mustRun(t, 2*time.Minute, "dpkg", "--purge", "plate-resort")
	t.Logf("dpkg --purge: %s", time.Since(start).Round(100*time.Millisecond))
	if st := pkgStatus(); st != "not-installed" && st != "" {
		t.Errorf("after purge dpkg knows plate-resort as %q", st)
	}
	for _, p := range append(slices.Clone(expectedFiles), "/etc/plate-resort", stateDir, "/usr/share/doc/plate-resort") {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("after purge %s is still there", p)
		}
	}
	// No enable link, mask or deb-systemd-helper state is left.
	var left []string
	for _, g := range []string{"/etc/systemd/system/plate-resort-*", "/etc/systemd/system/*/plate-resort-*",
		"/var/lib/systemd/deb-systemd-helper-*/plate-resort-*", "/var/lib/systemd/deb-systemd-helper-*/*/plate-resort-*"} {
		m, _ := filepath.Glob(g)
		left = append(left, m...)
	}
	if len(left) > 0 {
		t.Errorf("after purge systemd links or state remain: %v", left)
	}
	// Kept on purpose (debian/postrm): the cleanup removes it if this test
	// made it.
	if _, err := user.Lookup("plate-resort"); err != nil {
		t.Errorf("the plate-resort user was removed by purge, but postrm documents it as kept: %v", err)
	}
}

// pkgStatus is dpkg's status of plate-resort: "installed", "config-files",
// "not-installed", or "" when dpkg never heard of it.
func pkgStatus() string {
	out, _ := exec.Command("dpkg-query", "-W", "-f=${db:Status-Status}", "plate-resort").Output()
	return strings.TrimSpace(string(out))
}

// checkUdevRule has udevadm parse the installed rule: it names each rules
// file it reads and reports an invalid key as "<file>:<line> Invalid key".
// `udevadm test` writes the test device's entry under /run/udev, so it runs
// only where no udevd owns that directory (CI containers), and the
// directory is removed afterwards.
func checkUdevRule(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("udevadm"); err != nil {
		t.Log("udevadm not found: udev rule not parsed")
		return
	}
	if _, err := os.Stat("/run/udev"); err == nil {
		t.Log("udevd runs here: udev rule not parsed by udevadm test")
		return
	}
	defer os.RemoveAll("/run/udev")
	devs, _ := filepath.Glob("/sys/class/tty/*")
	if len(devs) == 0 {
		t.Log("no tty device in /sys: udev rule not parsed")
		return
	}
	out, _ := run(t, 30*time.Second, "udevadm", "test", devs[0])
	const rule = "/usr/lib/udev/rules.d/60-plate-resort.rules"
	if !strings.Contains(out, "Reading rules file: "+rule) {
		t.Errorf("udevadm test did not read %s:\n%s", rule, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, rule+":") {
			t.Errorf("udevadm: %s", line)
		}
	}
}

// proc is a process of the installed binary, its output kept for failures.
type proc struct {
	name  string
	cmd   *exec.Cmd
	out   testenv.LockedBuffer
	lines chan string
	done  chan struct{}
}

var (
	procsMu sync.Mutex
	procs   []*proc
)

func startProc(t *testing.T, name string, cred *syscall.Credential, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, lines: make(chan string, 64), done: make(chan struct{})}
	p.cmd = exec.Command("/usr/bin/plate-resort", args...)
	p.cmd.Env = env
	p.cmd.Dir = "/"
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	p.cmd.Stderr = &p.out
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(&p.out, sc.Text())
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", p.name, p.out.String())
		}
	})
	return p
}

// waitLine returns the rest of the first stdout line starting with prefix.
func (p *proc) waitLine(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-p.lines:
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return strings.TrimSpace(rest)
			}
		case <-p.done:
			t.Fatalf("%s exited: %s", p.name, p.out.String())
		case <-deadline:
			t.Fatalf("%s printed no %q line in %s: %s", p.name, prefix, timeout, p.out.String())
		}
	}
}

// stop sends SIGTERM and, after 5 s, SIGKILL to the process group.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// stopAll stops every process in reverse start order (agent before broker)
// before the purge.
func stopAll(t *testing.T) {
	t.Helper()
	procsMu.Lock()
	defer procsMu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
	}
	procs = nil
}
