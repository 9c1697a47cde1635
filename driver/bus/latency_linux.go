package bus

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// sysfsRoot is replaced in tests.
var sysfsRoot = "/sys"

// tuneLatencyTimer finds the FTDI latency timer of the adapter behind path
// (following /dev/serial/by-id symlinks), sets it to 1 ms when it is higher
// and returns the value in force. The ftdi_sio driver holds short replies for
// up to this long (16 ms by default), which dominates every Dynamixel
// transaction (docs/dynamixel.md §7; DynamixelSDK#330). go.bug.st/serial does not
// touch it. found is false when the port has no such timer (a pty, a CDC-ACM
// adapter).
func tuneLatencyTimer(path string) (latency time.Duration, found bool, err error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return 0, false, nil
	}
	file := filepath.Join(sysfsRoot, "bus", "usb-serial", "devices", filepath.Base(real), "latency_timer")
	raw, err := os.ReadFile(file)
	if err != nil {
		return 0, false, nil
	}
	ms, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, true, fmt.Errorf("%s: unreadable value %q", file, raw)
	}
	if ms <= 1 {
		return time.Duration(ms) * time.Millisecond, true, nil
	}
	if werr := os.WriteFile(file, []byte("1"), 0); werr != nil {
		return time.Duration(ms) * time.Millisecond, true,
			fmt.Errorf("latency timer of %s is %d ms and could not be set to 1 ms (%v); every transaction will wait up to %d ms. Fix: a udev rule ACTION==\"add\", SUBSYSTEM==\"usb-serial\", DRIVER==\"ftdi_sio\", ATTR{latency_timer}=\"1\"", filepath.Base(real), ms, werr, ms)
	}
	return time.Millisecond, true, nil
}
