package agent

import (
	"fmt"
	"hash/fnv"
	"math"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

// The one place where driver values become contract payloads: the driver
// knows nothing of JSON, so renaming a driver field cannot change the wire.

func moveResult(r resort.MoveResult) contract.MoveResult {
	return contract.MoveResult{
		Success: r.Success, Reason: r.Reason, Hotel: r.Hotel, Precise: r.Precise,
		Target: float64(r.Target), FinalAngle: float64(r.FinalAngle), FinalError: r.FinalError,
		Pulses: r.Pulses, DurationS: r.DurationS,
	}
}

func connectResult(r resort.ConnectResult) contract.ConnectResult {
	return contract.ConnectResult{
		Device: r.Device, Baudrate: r.Baudrate, MotorID: r.MotorID, ModelNumber: r.ModelNumber,
		Model: r.Model, Firmware: r.Firmware, PositionDeg: float64(r.Position), Speed: r.Speed,
		LatencyMS: r.LatencyMS, HardwareErrs: r.HardwareErrs,
	}
}

func servoInfo(id resort.Identity) contract.Servo {
	return contract.Servo{ModelNumber: id.ModelNumber, Model: id.Model, Firmware: id.Firmware, MotorID: id.MotorID}
}

func serialLink(l resort.Link) contract.SerialLink {
	s := l.Stats
	return contract.SerialLink{
		Port: l.Port, Baudrate: l.Baudrate, Connected: l.Connected, LatencyMS: l.LatencyMS,
		Stats: contract.LinkStats{Transactions: s.Transactions, Errors: s.Errors, Timeouts: s.Timeouts,
			Corrupt: s.Corrupt, Retries: s.Retries, Reconnects: s.Reconnects, Stray: s.Stray},
	}
}

func hardwareError(h resort.HardwareErrorReport) *contract.HardwareError {
	flags := h.Flags
	if flags == nil {
		flags = []string{}
	}
	return &contract.HardwareError{Raw: h.Raw, Flags: flags}
}

func speedResult(v int) contract.SpeedResult {
	return contract.SpeedResult{Speed: v, SpeedRPM: float64(v) * xseries.VelocityUnitRPM, SpeedDeg: xseries.VelocityToDegPerSec(int64(v))}
}

func degrees(d xseries.Degrees) float64 { return round2(float64(d)) }

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func ptr[T any](v T) *T { return &v }

// shortHash is 8 hex digits of s, for file names.
func shortHash(s string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return fmt.Sprintf("%08x", h.Sum32())
}
