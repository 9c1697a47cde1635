// Command soak runs the whole plate-resort system as separate processes on
// loopback (a Prefect server, and the plate-resort binary's broker with a
// bolt storage file, simulated servo on a pty, agent and bridge), applies
// mixed load for -duration while injecting one fault at a time, then prints
// what happened to every command and exits non-zero if a promise broke.
//
//	make build && go run ./bench/soak -duration 30m      # make soak
//	go run ./bench/soak -duration 60s                    # make soak-short
//
// Load, concurrently: Prefect runs of move-to-angle/move-to-angle and
// get-position/get-position created through the REST API (as
// run_deployment does); direct MQTT 5 commands at QoS 0 and 1
// (move_to_angle with a unique id and a unique target, get_position); re-sends
// of ids already answered; now and then emergency_stop followed by reset.
//
// Faults, one at a time at random intervals, in a shuffled cycle: broker
// restart (kill -9, start again on the same storage), serial unplug/replug
// (the simulator's fault API), kill -9 of the agent then start, kill -9 of
// the bridge then start, Prefect server restart (kill -9 of its process
// group, start again on the same database).
//
// Counting. The simulator logs every register write (`plate-resort sim
// --write-log`); every move has its own Goal Position value, so the log says
// which command moved the carousel. "Executed" is the first target write of
// the command's goal after it was sent; "executed twice" a later target
// write of the same goal from elsewhere (see writelog.go for how holds are
// told apart). The harness behaves as the contract tells a client to: a
// command without a reply is sent again with the same id when its reply is
// overdue or when the agent or the harness's connection comes back.
// "Lost" is a command that went out (QoS 1: PUBACK; QoS 0: written on a
// connected client) and got no reply and was not executed by the end of the
// drain; a QoS 0 command whose publish failed because the broker was down is
// "not delivered", counted apart. Prefect runs must all be final after the
// drain. Recovery: fault injected -> first successful get_position round
// trip (direct MQTT for broker, serial and agent faults; a get-position run
// through Prefect and the bridge for bridge and Prefect faults).
//
// Promises (exit status 1 when broken): executed twice = 0, lost = 0, runs
// non-final after the drain = 0, and a deliberately re-sent id of a command
// that had started (its reply had started_at) never runs = 0. Everything
// else is reported, with the evidence (ids, times, writes, faults nearby) for
// each event; <work dir>/soak.json has every command and run.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/plate-resort/plate-resort/bench/internal/stack"
	"github.com/plate-resort/plate-resort/contract"
)

const (
	prefix     = contract.DefaultPrefix
	device     = "resort-1"
	workPool   = "soak-pool"
	workerName = "soak-bridge"
)

type options struct {
	duration time.Duration
	drain    time.Duration
	seed     int64
	bin      string
	prefect  string
	keep     bool
	// motionTimeout is the bridge's command_timeout.motion: a run whose
	// reply a fault swallowed ends Crashed after it, within the drain.
	motionTimeout time.Duration
	// faults are the kinds injected (nil: all of them).
	faults   []faultKind
	progress io.Writer
}

func main() {
	o := options{progress: os.Stderr}
	flag.DurationVar(&o.duration, "duration", 30*time.Minute, "how long to apply load and faults")
	flag.DurationVar(&o.drain, "drain", 0, "longest wait after the load for replies and final run states (default: bridge motion timeout + 30s)")
	flag.Int64Var(&o.seed, "seed", 0, "random seed (0: from the clock; printed)")
	flag.StringVar(&o.bin, "bin", "bin/plate-resort", "plate-resort binary (make build)")
	flag.StringVar(&o.prefect, "prefect", "", "prefect executable in a venv (default: $"+stack.EnvPrefect+", .cache/prefect-venv/bin/prefect, PATH)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (logs, write log, databases); it is always kept when a promise broke")
	flag.DurationVar(&o.motionTimeout, "motion-timeout", 60*time.Second, "the bridge's command_timeout.motion")
	faults := flag.String("faults", "broker,serial,agent,bridge,prefect", "fault kinds to inject, comma-separated (empty: none)")
	flag.Parse()
	var err error
	if o.faults, err = parseFaults(*faults); err != nil {
		fmt.Fprintln(os.Stderr, "soak: -faults:", err)
		os.Exit(2)
	}
	if o.seed == 0 {
		o.seed = time.Now().UnixNano()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	sum, err := run(ctx, o)
	stop()
	if sum != nil {
		sum.print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if len(sum.Broken) > 0 {
		os.Exit(1)
	}
}
