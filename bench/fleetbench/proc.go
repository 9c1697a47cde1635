package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/plate-resort/plate-resort/bench/internal/stack"
)

type execCmd = exec.Cmd

func newExecCmd(bin string, args, env []string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	return cmd
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (proc(5)); 100 on every Linux architecture Go supports.
const clockTick = 100

// procCPU is utime+stime of pid (proc(5), fields 14 and 15).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	// The command name (field 2) may hold spaces; fields restart after ')'.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * time.Second / clockTick
}

func cpuOf(cs []*stack.Child) time.Duration {
	var t time.Duration
	for _, c := range cs {
		t += procCPU(c.Pid())
	}
	return t
}

// selfCPU is this process's CPU (the client and the simulators).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
