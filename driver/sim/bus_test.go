package sim_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/driver/bus"
	"github.com/plate-resort/plate-resort/driver/protocol"
	"github.com/plate-resort/plate-resort/driver/sim"
)

// The pipe is a bus.Port; sim itself never imports bus (bus tests may import sim).
var _ bus.Port = (*sim.PipePort)(nil)

// TestDriverBusOverPipe is a smoke test of the real bus against the pipe.
func TestDriverBusOverPipe(t *testing.T) {
	s := sim.New(sim.Config{Baud: 57600})
	port, stop := sim.Pipe(s)
	defer stop()
	b := bus.New(port, bus.Config{Baud: 57600}, zerolog.Nop())
	ctx := context.Background()
	if _, err := b.Ping(ctx, 1); err != nil {
		t.Fatalf("ping: %v", err)
	}
	if err := b.Write(ctx, 1, 64, []byte{1}); err != nil {
		t.Fatalf("torque on: %v", err)
	}
	if err := b.Write(ctx, 1, 11, []byte{16}); !errors.Is(err, protocol.ErrAccess) {
		t.Errorf("EEPROM write with torque on: %v, want access error", err)
	}
	if got := s.WriteCount(64); got != 1 {
		t.Errorf("WriteCount(64) = %d", got)
	}
}
