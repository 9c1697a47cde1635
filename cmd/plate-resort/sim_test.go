package main

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/driver/bus"
	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// TestSimWriteLog: --write-log records every applied write as one JSON line,
// Goal Position with its goal and the position the carousel was at, and no
// refused write.
func TestSimWriteLog(t *testing.T) {
	s := sim.New(sim.Config{InitialPosition: 90})
	var out testenv.LockedBuffer
	s.OnWrite(writeLogger(&out, s))
	port, stop := sim.Pipe(s)
	defer stop()
	b := bus.New(port, bus.Config{Port: "pipe", Baud: 57600}, zerolog.Nop())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	before := time.Now()
	if err := b.Write(ctx, 1, 64, []byte{1}); err != nil { // Torque Enable
		t.Fatal(err)
	}
	if err := b.Write(ctx, 1, 116, []byte{0x00, 0x0C, 0x00, 0x00}); err != nil { // Goal Position 3072 (270°)
		t.Fatal(err)
	}
	if err := b.Write(ctx, 1, 11, []byte{3}); err == nil { // Operating Mode with torque on: refused
		t.Fatal("EEPROM write with torque on was accepted")
	}
	if err := b.Write(ctx, 1, 100, []byte{0xF6, 0xFF}); err != nil { // Goal PWM -10
		t.Fatal(err)
	}

	var recs []writeRecord
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		var r writeRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	if len(recs) != 3 {
		t.Fatalf("%d lines, want 3 (the refused write is not logged):\n%s", len(recs), out.String())
	}
	torque, goal, pwm := recs[0], recs[1], recs[2]
	if torque.Addr != 64 || torque.Len != 1 || torque.Value == nil || *torque.Value != 1 || torque.Goal != nil {
		t.Errorf("torque write logged as %+v", torque)
	}
	if goal.Addr != 116 || goal.Len != 4 || goal.Goal == nil || *goal.Goal != 3072 || *goal.Value != 3072 {
		t.Errorf("goal write logged as %+v", goal)
	}
	if goal.PresentDeg < 89 || goal.PresentDeg > 91 {
		t.Errorf("goal write: present_deg %.2f, want about 90 (where the carousel stood)", goal.PresentDeg)
	}
	if goal.At.Before(before) || goal.At.After(time.Now()) {
		t.Errorf("goal write at %s, outside the test", goal.At)
	}
	if pwm.Addr != 100 || pwm.Value == nil || *pwm.Value != -10 || pwm.Goal != nil {
		t.Errorf("goal PWM write logged as %+v", pwm)
	}
}
