package bus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fakeSysfs(t *testing.T, value string, writable bool) (dev string) {
	t.Helper()
	root := t.TempDir()
	old := sysfsRoot
	sysfsRoot = filepath.Join(root, "sys")
	t.Cleanup(func() { sysfsRoot = old })
	dir := filepath.Join(sysfsRoot, "bus", "usb-serial", "devices", "ttyUSB3")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mode := os.FileMode(0o644)
	if !writable {
		mode = 0o444
	}
	if err := os.WriteFile(filepath.Join(dir, "latency_timer"), []byte(value+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	// /dev/serial/by-id/usb-FTDI... -> ../../ttyUSB3
	devDir := filepath.Join(root, "dev")
	_ = os.MkdirAll(filepath.Join(devDir, "serial", "by-id"), 0o755)
	if err := os.WriteFile(filepath.Join(devDir, "ttyUSB3"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(devDir, "serial", "by-id", "usb-FTDI_USB__-__Serial_Converter_FT1234-if00-port0")
	if err := os.Symlink("../../ttyUSB3", link); err != nil {
		t.Fatal(err)
	}
	return link
}

func TestLatencyTimerSetToOneMillisecond(t *testing.T) {
	dev := fakeSysfs(t, "16", true)
	lat, found, err := tuneLatencyTimer(dev)
	if err != nil || !found || lat != time.Millisecond {
		t.Fatalf("lat %s found %v err %v", lat, found, err)
	}
	raw, _ := os.ReadFile(filepath.Join(sysfsRoot, "bus", "usb-serial", "devices", "ttyUSB3", "latency_timer"))
	if strings.TrimSpace(string(raw)) != "1" {
		t.Fatalf("latency_timer now %q", raw)
	}
}

func TestLatencyTimerReadOnlyWarnsWithFix(t *testing.T) {
	if os.Geteuid() == 0 {
		// root writes through 0444; use an unparsable value path instead.
		dev := fakeSysfs(t, "sixteen", true)
		_, found, err := tuneLatencyTimer(dev)
		if !found || err == nil {
			t.Fatalf("garbage value: found %v err %v", found, err)
		}
		return
	}
	dev := fakeSysfs(t, "16", false)
	lat, found, err := tuneLatencyTimer(dev)
	if !found || lat != 16*time.Millisecond || err == nil || !strings.Contains(err.Error(), "udev") {
		t.Fatalf("lat %s found %v err %v", lat, found, err)
	}
}

func TestNoLatencyTimerOnAPty(t *testing.T) {
	if _, found, err := tuneLatencyTimer("/dev/null"); found || err != nil {
		t.Fatalf("found %v err %v", found, err)
	}
}
