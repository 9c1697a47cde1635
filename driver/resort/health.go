package resort

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/plate-resort/plate-resort/driver/xseries"
)

// HardwareErrorReport is register 70, raw and named.
type HardwareErrorReport struct {
	Raw   int
	Flags []string
}

// Health is one reading of the servo's condition.
type Health struct {
	TemperatureC  float64
	VoltageV      float64
	CurrentMA     *float64 // nil on models without current sensing
	Position      xseries.Degrees
	Moving        bool
	Torque        bool
	HardwareError HardwareErrorReport
	Warnings      []string
	ReadAt        time.Time
}

// Health reads temperature, voltage, current (from 126, not 144 as upstream
// did; docs/dynamixel.md §8.1), position, moving, torque and hardware error, and raises
// warnings from the configured thresholds. Two block reads keep it to a few
// milliseconds on the wire.
func (r *Resort) Health(ctx context.Context) (Health, error) {
	b, id, err := r.connectedBus()
	if err != nil {
		return Health{}, err
	}
	cfg := r.Config()
	const first, last = 122, 147 // Moving .. Present Temperature
	data, err := b.Read(ctx, id, first, last-first)
	if err != nil {
		return Health{}, r.classify(ctx, fmt.Errorf("read health block: %w", err))
	}
	at := func(it xseries.Item) int64 {
		v, _ := it.Decode(data[int(it.Addr)-first : int(it.Addr)-first+it.Size])
		return v
	}
	h := Health{
		TemperatureC: float64(at(xseries.PresentTemperature)),
		VoltageV:     math.Round(float64(at(xseries.PresentInputVoltage))*xseries.VoltageUnitV*10) / 10,
		Position:     xseries.Normalize(xseries.PulsesToDegrees(at(xseries.PresentPosition))),
		Moving:       at(xseries.Moving) != 0,
		Warnings:     []string{},
		ReadAt:       time.Now().UTC(),
	}
	r.mu.Lock()
	model := r.model
	r.mu.Unlock()
	if xseries.HasCurrent(model) {
		ma := math.Round(float64(at(xseries.PresentCurrent))*xseries.CurrentUnitMA*10) / 10
		h.CurrentMA = &ma
		if math.Abs(ma) >= cfg.CurrentLimit {
			h.Warnings = append(h.Warnings, fmt.Sprintf("current %.0f mA at or above current_limit %.0f mA", ma, cfg.CurrentLimit))
		}
	}
	if t, err := r.readInt(ctx, xseries.TorqueEnable); err == nil {
		h.Torque = t == 1
	}
	hw, err := r.hardwareError(ctx)
	if err != nil {
		h.Warnings = append(h.Warnings, "hardware error status unreadable: "+err.Error())
	}
	h.HardwareError = HardwareErrorReport{Raw: int(hw), Flags: hw.Names()}
	if hw != 0 {
		h.Warnings = append(h.Warnings, "hardware error: "+hw.String()+" (reboot clears it)")
	}
	if h.TemperatureC >= cfg.TemperatureLimit {
		h.Warnings = append(h.Warnings, fmt.Sprintf("temperature %.0f °C at or above temperature_limit %.0f °C", h.TemperatureC, cfg.TemperatureLimit))
	}
	if h.VoltageV < cfg.VoltageMin || h.VoltageV > cfg.VoltageMax {
		h.Warnings = append(h.Warnings, fmt.Sprintf("voltage %.1f V outside %.1f..%.1f V", h.VoltageV, cfg.VoltageMin, cfg.VoltageMax))
	}
	r.mu.Lock()
	r.lastPos = h.Position
	r.mu.Unlock()
	return h, nil
}

// ActiveHotel names the hotel within active_hotel_window of the present
// position by shortest angular difference (upstream used |a-b| without wrap;
// docs/dynamixel.md §8.8), or "" when the carousel sits between hotels.
func (r *Resort) ActiveHotel(ctx context.Context) (hotel string, pos xseries.Degrees, err error) {
	pos, err = r.Position(ctx)
	if err != nil {
		return "", 0, err
	}
	return r.Config().HotelAt(pos), pos, nil
}

// HotelAt names the hotel nearest pos within the window, or "".
func (c Config) HotelAt(pos xseries.Degrees) string {
	best, bestD := "", math.Inf(1)
	for _, h := range c.Hotels {
		a, _ := c.HotelAngle(h)
		if d := math.Abs(float64(xseries.Diff(pos, a))); d < bestD {
			best, bestD = h, d
		}
	}
	if bestD <= c.ActiveHotelWindow {
		return best
	}
	return ""
}

// LastPosition is the most recent position read, without bus traffic.
func (r *Resort) LastPosition() xseries.Degrees {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastPos
}
