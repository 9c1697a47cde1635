package resort

import (
	"math"
	"strings"
	"testing"

	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/config"
)

type wrapper struct {
	Resort Config `koanf:"resort"`
}

func TestUpstreamDefaultsYAMLAcceptedUnchanged(t *testing.T) {
	w := wrapper{Resort: Defaults()}
	if err := config.Load(config.Source{Path: "testdata/upstream-defaults.yaml", Environ: []string{}}, &w); err != nil {
		t.Fatalf("upstream defaults.yaml refused: %v", err)
	}
	if err := w.Resort.Validate(); err != nil {
		t.Fatal(err)
	}
	if w.Resort.CurrentLimit != 2000 || w.Resort.PulseDuration != 0.30 || len(w.Resort.Hotels) != 4 {
		t.Fatalf("loaded %+v", w.Resort)
	}
}

func TestEnvironmentOverridesNestedKeys(t *testing.T) {
	w := wrapper{Resort: Defaults()}
	err := config.Load(config.Source{Environ: []string{"PLATE_RESORT_RESORT__DEFAULT_SPEED=80", "PLATE_RESORT_RESORT__DEVICE=/dev/serial/by-id/x"}}, &w)
	if err != nil || w.Resort.DefaultSpeed != 80 || w.Resort.Device != "/dev/serial/by-id/x" {
		t.Fatalf("%v %+v", err, w.Resort)
	}
	w = wrapper{Resort: Defaults()}
	if err := config.Load(config.Source{Environ: []string{"PLATE_RESORT_RESORT__DEFAULT_SPED=80"}}, &w); err == nil || !strings.Contains(err.Error(), "resort.default_sped") {
		t.Fatalf("typo in env key accepted: %v", err)
	}
	w = wrapper{Resort: Defaults()}
	if err := config.Load(config.Source{Environ: []string{"PLATE_RESORT_RESORT__BAUDRATE=fast"}}, &w); err == nil {
		t.Fatal("non-numeric baudrate accepted")
	}
}

func TestValidateNamesTheKey(t *testing.T) {
	cases := []struct {
		key string
		mut func(*Config)
	}{
		{"device", func(c *Config) { c.Device = " " }},
		{"baudrate", func(c *Config) { c.Baudrate = 12345 }},
		{"motor_id", func(c *Config) { c.MotorID = 253 }},
		{"hotels", func(c *Config) { c.Hotels = nil }},
		{"hotels", func(c *Config) { c.Hotels = []string{"A", "a"} }},
		{"rotation_direction", func(c *Config) { c.RotationDirection = 0 }},
		{"default_speed", func(c *Config) { c.DefaultSpeed = 0 }},
		{"position_tolerance", func(c *Config) { c.PositionTolerance = math.NaN() }},
		{"position_tolerance", func(c *Config) { c.PositionTolerance = 0.01 }},
		{"movement_timeout", func(c *Config) { c.MovementTimeout = -1 }},
		{"offset_angle", func(c *Config) { c.OffsetAngle = math.Inf(1) }},
		{"switch_error", func(c *Config) { c.SwitchError = 0.2 }},
		{"pulse_pwm_start", func(c *Config) { c.PulsePWMStart = 900 }},
		{"pwm_max", func(c *Config) { c.PWMMax = 100 }},
		{"stall_pulses", func(c *Config) { c.StallPulses = 99 }},
		{"current_limit", func(c *Config) { c.CurrentLimit = 0 }},
		{"voltage_min", func(c *Config) { c.VoltageMin, c.VoltageMax = 14, 10 }},
		{"profile_acceleration", func(c *Config) { c.ProfileAcceleration = -1 }},
		{"home_angle", func(c *Config) { c.HomeAngle = 360 }},
	}
	for _, tc := range cases {
		c := Defaults()
		tc.mut(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "resort."+tc.key) {
			t.Errorf("%s: got %v", tc.key, err)
		}
	}
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
}

func TestHotelAnglesNormalised(t *testing.T) {
	c := Defaults()
	want := map[string]float64{"A": 19, "B": 109, "C": 199, "D": 289}
	for h, w := range want {
		a, err := c.HotelAngle(h)
		if err != nil || float64(a) != w {
			t.Fatalf("%s: %v %v", h, a, err)
		}
		// 4096 pulses per turn, rounded: 216, 1240, 2264, 3288 (upstream's
		// int(angle*4095/360) gave 216, 1239, 2263, 3287; docs/dynamixel.md §8.5).
		if p := goalPulses(a); p != int32(math.Round(w*4096/360)) {
			t.Fatalf("%s: goal %d", h, p)
		}
	}
	c.RotationDirection = -1
	for h, w := range map[string]float64{"A": 19, "B": 289, "C": 199, "D": 109} {
		if a, _ := c.HotelAngle(h); math.Abs(float64(a)-w) > 1e-9 {
			t.Fatalf("direction -1: %s at %v, want %v (never negative; docs/dynamixel.md §8.7)", h, a, w)
		}
	}
	if _, err := c.HotelAngle("Q"); err == nil {
		t.Fatal("unknown hotel accepted")
	}
	if goalPulses(359.99) != 0 {
		t.Fatalf("359.99° must wrap to pulse 0, got %d", goalPulses(359.99))
	}
}

func TestHotelAtUsesShortestDifference(t *testing.T) {
	c := Defaults()
	c.OffsetAngle = 0
	if h := c.HotelAt(359.5); h != "A" {
		t.Fatalf("359.5° is 0.5° from A at 0°, got %q (docs/dynamixel.md §8.8)", h)
	}
	if h := c.HotelAt(45); h != "" {
		t.Fatalf("45° is between hotels, got %q", h)
	}
	if d := xseries.Diff(359.9, 0.1); math.Abs(float64(d)-0.2) > 1e-9 {
		t.Fatalf("Diff %v", d)
	}
}

func TestOverridesValidated(t *testing.T) {
	bad := 9999
	if _, err := (PreciseOverrides{PWMMax: &bad}).Apply(Defaults()); err == nil {
		t.Fatal("pwm_max 9999 accepted")
	}
	ok := 400
	c, err := (PreciseOverrides{PWMMax: &ok}).Apply(Defaults())
	if err != nil || c.PWMMax != 400 {
		t.Fatal(err)
	}
}
