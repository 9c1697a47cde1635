package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/config"
	"github.com/plate-resort/plate-resort/internal/logging"
)

func init() {
	register("driver", "diagnose a servo: ping, model, firmware, position, health; optionally move", runDriver)
}

// driverConfig reuses the agent config file's resort: section.
type driverConfig struct {
	Resort resort.Config   `koanf:"resort"`
	Log    logging.Options `koanf:"log"`
}

// runDriver is the Go counterpart of upstream's test_dxl_ping.py and
// test_motor_health.py: talk to the servo directly, no MQTT.
func runDriver(ctx context.Context, args []string) error {
	def := driverConfig{Resort: resort.Defaults(), Log: logging.Options{Level: "warn", Format: "auto"}}
	fs := pflag.NewFlagSet("driver", pflag.ContinueOnError)
	path := fs.StringP("config", "c", "", "YAML file with a resort: section (configs/agent.yaml works)")
	fs.String("resort.device", def.Resort.Device, "serial port")
	fs.Int("resort.baudrate", def.Resort.Baudrate, "baud rate")
	fs.Int("resort.motor_id", def.Resort.MotorID, "Dynamixel id")
	move := fs.Float64("move", -1, "move to this angle (degrees, 0..360) after the report")
	hotel := fs.String("hotel", "", "move to this hotel after the report")
	plain := fs.Bool("plain", false, "plain position move instead of the precise two-stage move")
	blind := fs.Bool("blind", false, "write the goal and return at once (upstream's blind activate_hotel)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: plate-resort driver [--resort.device /dev/ttyUSB0] [--move 90 | --hotel B] [--json]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := def
	if err := config.Load(config.Source{Path: *path, Flags: fs}, &cfg); err != nil {
		return err
	}
	if err := cfg.Resort.Validate(); err != nil {
		return err
	}
	log, err := logging.New(cfg.Log, os.Stderr)
	if err != nil {
		return err
	}
	r := resort.New(cfg.Resort, log, resort.Options{})
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := r.Connect(cctx, resort.ConnectOptions{})
	if err != nil {
		return fmt.Errorf("%w\nchecklist: 12 V motor power on? right port, baud rate and id? user in the dialout group? brltty not grabbing the adapter?", err)
	}
	// No Disconnect at exit: it would switch torque off and let a loaded
	// carousel coast; the servo keeps holding where the diagnostic left it.
	h, err := r.Health(cctx)
	if err != nil {
		return err
	}
	hotelNow, _, _ := r.ActiveHotel(cctx)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(diagReport(conn, h, hotelNow, r.Link()))
	} else {
		fmt.Printf("servo      %s (model %d), firmware %d, id %d on %s at %d baud\n", conn.Model, conn.ModelNumber, conn.Firmware, conn.MotorID, conn.Device, conn.Baudrate)
		fmt.Printf("latency    %.0f ms adapter latency timer\n", conn.LatencyMS)
		fmt.Printf("position   %.2f° (hotel %q)\n", float64(h.Position), hotelNow)
		cur := "n/a"
		if h.CurrentMA != nil {
			cur = fmt.Sprintf("%.1f mA", *h.CurrentMA)
		}
		fmt.Printf("health     %.0f °C, %.1f V, %s, torque %v, hardware error %s\n", h.TemperatureC, h.VoltageV, cur, h.Torque, xseries.HardwareError(h.HardwareError.Raw))
		for _, w := range h.Warnings {
			fmt.Printf("warning    %s\n", w)
		}
	}
	if *move < 0 && *hotel == "" {
		return nil
	}
	mctx, mcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer mcancel()
	var res resort.MoveResult
	if *blind {
		angle := xseries.Degrees(*move)
		if *hotel != "" {
			if angle, err = cfg.Resort.HotelAngle(*hotel); err != nil {
				return err
			}
		}
		if err := r.BlindMove(mctx, angle); err != nil {
			return err
		}
		fmt.Printf("move       goal %.2f° written (blind: not waiting)\n", float64(angle))
		return nil
	}
	if *hotel != "" {
		res, err = r.ActivateHotel(mctx, *hotel, !*plain, resort.PreciseOverrides{})
	} else {
		res, err = r.MoveToAngle(mctx, xseries.Degrees(*move), !*plain, resort.PreciseOverrides{})
	}
	fmt.Printf("move       success %v, %s, final %.2f° (error %.2f°), %d pulses, %.2f s\n", res.Success, res.Reason, float64(res.FinalAngle), res.FinalError, res.Pulses, res.DurationS)
	return err
}

// diagReport is the --json output of the diagnostic. The driver carries no
// JSON names (it knows nothing of wire formats), so they are given here.
func diagReport(c resort.ConnectResult, h resort.Health, hotel string, l resort.Link) any {
	type servo struct {
		Device      string   `json:"device"`
		Baudrate    int      `json:"baudrate"`
		MotorID     int      `json:"motor_id"`
		ModelNumber uint16   `json:"model_number"`
		Model       string   `json:"model"`
		Firmware    int      `json:"firmware"`
		PositionDeg float64  `json:"position_deg"`
		Speed       int      `json:"speed"`
		LatencyMS   float64  `json:"latency_timer_ms"`
		HWErrors    []string `json:"hardware_error"`
	}
	type health struct {
		TemperatureC float64  `json:"temperature_c"`
		VoltageV     float64  `json:"voltage_v"`
		CurrentMA    *float64 `json:"current_ma"`
		PositionDeg  float64  `json:"position_deg"`
		Moving       bool     `json:"moving"`
		Torque       bool     `json:"torque"`
		HWErrorRaw   int      `json:"hardware_error_raw"`
		HWErrorFlags []string `json:"hardware_error_flags"`
		Warnings     []string `json:"warnings"`
	}
	type link struct {
		Port         string  `json:"port"`
		Baudrate     int     `json:"baudrate"`
		Connected    bool    `json:"connected"`
		LatencyMS    float64 `json:"latency_timer_ms"`
		Transactions uint64  `json:"transactions"`
		Errors       uint64  `json:"errors"`
		Timeouts     uint64  `json:"timeouts"`
		Corrupt      uint64  `json:"corrupt"`
		Retries      uint64  `json:"retries"`
		Reconnects   uint64  `json:"reconnects"`
	}
	return struct {
		Servo       servo  `json:"servo"`
		Health      health `json:"health"`
		ActiveHotel string `json:"active_hotel"`
		Link        link   `json:"link"`
	}{
		Servo: servo{c.Device, c.Baudrate, c.MotorID, c.ModelNumber, c.Model, c.Firmware, float64(c.Position), c.Speed, c.LatencyMS, c.HardwareErrs},
		Health: health{h.TemperatureC, h.VoltageV, h.CurrentMA, float64(h.Position), h.Moving, h.Torque,
			h.HardwareError.Raw, h.HardwareError.Flags, h.Warnings},
		ActiveHotel: hotel,
		Link: link{l.Port, l.Baudrate, l.Connected, l.LatencyMS, l.Stats.Transactions, l.Stats.Errors,
			l.Stats.Timeouts, l.Stats.Corrupt, l.Stats.Retries, l.Stats.Reconnects},
	}
}
