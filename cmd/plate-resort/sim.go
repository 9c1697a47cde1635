package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/logging"
	"github.com/plate-resort/plate-resort/internal/simcontrol"
)

func init() {
	register("sim", "run a simulated Dynamixel servo on a pseudo-terminal", runSim)
}

func runSim(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("sim", pflag.ContinueOnError)
	link := fs.String("link", "/tmp/plate-resort-sim", "stable symlink kept pointing at the pty (empty: none)")
	baud := fs.Int("baud", 57600, "baud rate used for wire timing (0: no delay)")
	id := fs.Uint8("id", 1, "servo id (1-252)")
	model := fs.Uint16("model", 1030, "model number: 1030 XM430-W210, 1020 XM430-W350, 1060 XL430-W250")
	firmware := fs.Uint8("firmware", 48, "firmware version reported by ping")
	deadband := fs.Float64("deadband", float64(sim.DefaultDeadband), "degrees a position move stops short of its goal (0: none)")
	position := fs.Float64("position", 0, "initial position in degrees")
	fault := fs.String("fault", "", "fault at start: overload, overheat, unplugged (silent) or corrupt")
	control := fs.String("control", "", "loopback address for the fault HTTP API, e.g. 127.0.0.1:8765 (empty: off)")
	logLevel := fs.String("log.level", "info", "trace, debug, info, warn or error")
	logFormat := fs.String("log.format", "auto", "auto, json or console")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: plate-resort sim [flags]\n\nControl API (with --control): POST /fault/overload, /fault/overheat, /fault/unplug,\n/fault/replug, /fault/silent?on=true, /fault/corrupt?n=3, /fault/stall?deg=120&on=true; GET /state.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	log, err := logging.New(logging.Options{Level: *logLevel, Format: *logFormat}, os.Stderr)
	if err != nil {
		return err
	}
	switch {
	case *id < 1 || *id > 252:
		return fmt.Errorf("--id %d: want 1 to 252", *id)
	case *baud < 0:
		return fmt.Errorf("--baud %d: want 0 or a positive baud rate", *baud)
	case *deadband < 0 || *deadband > 90:
		return fmt.Errorf("--deadband %g: want 0 to 90 degrees", *deadband)
	}
	db := xseries.Degrees(*deadband)
	if db == 0 {
		db = -1 // Config: negative means none, 0 means default
	}
	s := sim.New(sim.Config{
		ID: *id, Model: *model, Firmware: *firmware, Baud: *baud, Deadband: db,
		InitialPosition: xseries.Degrees(*position), Seed: time.Now().UnixNano(),
	})
	switch *fault {
	case "":
	case "overload":
		s.TriggerOverload()
	case "overheat":
		s.TriggerOverheat()
	case "unplugged":
		s.SetUnplugged(true)
	case "corrupt":
		s.CorruptNextReplies(1 << 30)
	default:
		return fmt.Errorf("--fault %q: want overload, overheat, unplugged or corrupt", *fault)
	}
	var ln net.Listener
	if *control != "" {
		if ln, err = listenLoopback(*control); err != nil {
			return err
		}
		defer ln.Close()
	}

	pt, err := sim.ListenPTY(ctx, s, *link)
	if err != nil {
		return err
	}
	defer pt.Close()
	fmt.Printf("pty: %s\n", pt.Path())
	if *link != "" {
		fmt.Printf("link: %s\n", *link)
	}
	log.Info().Str("servo", s.String()).Str("pty", pt.Path()).Str("link", *link).Int("baud", *baud).Str("fault", *fault).Msg("simulated servo ready")

	if ln != nil {
		srv := serveControl(ln, s, pt)
		addr := ln.Addr().String()
		fmt.Printf("control: http://%s\n", addr)
		log.Info().Str("address", addr).Msg("fault control API listening")
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	<-ctx.Done()
	log.Info().Msg("simulated servo stopping")
	return nil
}

// listenLoopback listens for the fault API on a loopback address only: it
// has no authentication and can unplug the servo.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--control %q: want host:port, e.g. 127.0.0.1:8765: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("--control %q: the fault API has no authentication, so it listens on loopback only (127.0.0.1 or ::1)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--control: listen on %s: %w", addr, err)
	}
	return ln, nil
}

func serveControl(ln net.Listener, s *sim.Servo, pt *sim.PTY) *http.Server {
	srv := &http.Server{Handler: simcontrol.Handler(s, pt), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "plate-resort sim: control API: %v\n", err)
		}
	}()
	return srv
}
