package xseries

import (
	"math"
	"reflect"
	"testing"
)

func TestSignedDecode(t *testing.T) {
	cases := []struct {
		it   Item
		in   []byte
		want int64
	}{
		{PresentPosition, []byte{0xFB, 0xFF, 0xFF, 0xFF}, -5}, // upstream read 4294967291 (docs/dynamixel.md §8.6)
		{PresentPosition, []byte{0x00, 0x08, 0x00, 0x00}, 2048},
		{PresentCurrent, []byte{0xF7, 0xFF}, -9},
		{GoalPWM, []byte{0x4C, 0xFF}, -180},
		{PresentInputVoltage, []byte{0x78, 0x00}, 120},
		{ModelNumber, []byte{0x06, 0x04}, 1030},
	}
	for _, c := range cases {
		got, err := c.it.Decode(c.in)
		if err != nil || got != c.want {
			t.Errorf("%s % X = %d %v, want %d", c.it.Name, c.in, got, err, c.want)
		}
		back, err := c.it.Encode(c.want)
		if err != nil || !reflect.DeepEqual(back, c.in) {
			t.Errorf("%s encode %d = % X %v", c.it.Name, c.want, back, err)
		}
	}
	if _, err := PresentPosition.Decode([]byte{1, 2}); err == nil {
		t.Error("short data accepted")
	}
	if _, err := TorqueEnable.Encode(256); err == nil {
		t.Error("256 fits in one byte?")
	}
	if _, err := GoalPWM.Encode(-40000); err == nil {
		t.Error("-40000 fits in int16?")
	}
}

func TestControlTableAddresses(t *testing.T) {
	// The upstream mix-ups (docs/dynamixel.md §8.1-§8.2): current is 126,
	// voltage 144, velocity limit 44.
	if PresentCurrent.Addr != 126 || PresentInputVoltage.Addr != 144 || VelocityLimit.Addr != 44 || CurrentLimit.Addr != 38 {
		t.Fatal("control table addresses wrong")
	}
	seen := map[uint16]string{}
	for _, it := range Items {
		if (it.Addr < 64) != (it.Area == EEPROM) {
			t.Errorf("%s at %d in the wrong area", it.Name, it.Addr)
		}
		if other, dup := seen[it.Addr]; dup {
			t.Errorf("%s and %s both at %d", other, it.Name, it.Addr)
		}
		seen[it.Addr] = it.Name
	}
}

func TestUnits(t *testing.T) {
	if p := Degrees(19).Pulses(); p != 216 {
		t.Errorf("19° = %d pulses", p)
	}
	if d := PulsesToDegrees(2048); d != 180 {
		t.Errorf("2048 pulses = %v°", d)
	}
	for in, want := range map[Degrees]Degrees{-1: 359, 360: 0, 725: 5, -720: 0} {
		if got := Normalize(in); math.Abs(float64(got-want)) > 1e-9 {
			t.Errorf("Normalize(%v) = %v", in, got)
		}
	}
	if d := Diff(350, 10); d != 20 {
		t.Errorf("Diff(350,10) = %v", d)
	}
	if d := Diff(10, 350); d != -20 {
		t.Errorf("Diff(10,350) = %v", d)
	}
	if v := VelocityToDegPerSec(50); math.Abs(v-68.7) > 0.01 {
		t.Errorf("speed 50 = %v °/s, want 68.7 (docs/dynamixel.md §8.20)", v)
	}
}

func TestHardwareErrorNames(t *testing.T) {
	if got := (HWOverload | HWOverheating).Names(); !reflect.DeepEqual(got, []string{"overheating", "overload"}) {
		t.Errorf("names %v", got)
	}
	if got := HardwareError(0x02).Names(); !reflect.DeepEqual(got, []string{"unknown_bit_1"}) {
		t.Errorf("unused bit %v", got)
	}
	if HardwareError(0).String() != "none" || DefaultShutdown != 0x34 {
		t.Error("defaults")
	}
}
