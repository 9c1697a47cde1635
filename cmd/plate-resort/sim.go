package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
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
	writeLog := fs.String("write-log", "", "append one JSON line per register write the servo applies to this file (empty: off)")
	logLevel := fs.String("log.level", "info", "trace, debug, info, warn or error")
	logFormat := fs.String("log.format", "auto", "auto, json or console")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: plate-resort sim [flags]\n\nControl API (with --control): POST /fault/overload, /fault/overheat, /fault/unplug,\n/fault/replug, /fault/silent?on=true, /fault/corrupt?n=3, /fault/stall?deg=120&on=true; GET /state.\n\nWrite log (with --write-log FILE): one JSON line per applied register write,\nat, addr, len, value, goal (when it covers Goal Position, 116) and present_deg.\n\n")
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
	if *writeLog != "" {
		f, err := os.OpenFile(*writeLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("--write-log: %w", err)
		}
		defer f.Close()
		s.OnWrite(writeLogger(f, s))
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

// writeRecord is one line of --write-log: a register write the servo
// applied (refused writes are not logged), with the carousel's position at
// that moment. Goal is set when the write covers Goal Position (116, 4
// bytes), so a reader can follow every goal the servo was given.
type writeRecord struct {
	At         time.Time `json:"at"`
	Addr       uint16    `json:"addr"`
	Len        int       `json:"len"`
	Value      *int64    `json:"value,omitempty"` // little-endian, signed, for 1, 2 or 4 bytes
	Goal       *int64    `json:"goal,omitempty"`
	PresentDeg float64   `json:"present_deg"`
}

// writeLogger returns the servo's OnWrite hook writing JSON lines to w, one
// write(2) per line so a reader tailing the file never sees half a line.
func writeLogger(w io.Writer, s *sim.Servo) func(addr uint16, data []byte, at time.Time) {
	var mu sync.Mutex
	return func(addr uint16, data []byte, at time.Time) {
		rec := writeRecord{At: at.UTC(), Addr: addr, Len: len(data), PresentDeg: float64(s.Snapshot().Position)}
		if v, ok := leSigned(data); ok {
			rec.Value = &v
		}
		const goalAddr, goalLen = 116, 4
		if int(addr) <= goalAddr && int(addr)+len(data) >= goalAddr+goalLen {
			v, _ := leSigned(data[goalAddr-int(addr) : goalAddr-int(addr)+goalLen])
			rec.Goal = &v
		}
		line, err := json.Marshal(rec)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write(append(line, '\n'))
	}
}

// leSigned decodes 1, 2 or 4 little-endian bytes as a signed value.
func leSigned(b []byte) (int64, bool) {
	switch len(b) {
	case 1:
		return int64(int8(b[0])), true
	case 2:
		return int64(int16(binary.LittleEndian.Uint16(b))), true
	case 4:
		return int64(int32(binary.LittleEndian.Uint32(b))), true
	}
	return 0, false
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
