//go:build linux

package sim_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/driver/protocol"
	"github.com/plate-resort/plate-resort/driver/sim"
)

// benchPTYRead measures a 4-byte read (Present Position) round trip through
// a real pty and go.bug.st/serial with the simulator's wire timing on, and
// compares the median with the bare wire time of the 14 + 15 bytes
// (docs/dynamixel.md §7). The return delay (500 µs by default) is part of the
// round trip but not of the wire time, so the ratio cannot reach 1.
func benchPTYRead(b *testing.B, baud int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pt, err := sim.ListenPTY(ctx, sim.New(sim.Config{Baud: baud}), "")
	if err != nil {
		b.Fatal(err)
	}
	defer pt.Close()
	port := openSerial(b, pt.Path(), baud)
	defer port.Close()
	req := protocol.Read(1, 132, 4).Marshal()
	buf := make([]byte, 0, 64)
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		if _, err := transact(port, req, buf); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	p50, p99 := took[len(took)/2], took[min(len(took)-1, len(took)*99/100)]
	wire := time.Duration(29 * 10 * int64(time.Second) / int64(baud))
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(p50), "p50_ms")
	b.ReportMetric(ms(p99), "p99_ms")
	b.ReportMetric(float64(p50)/float64(wire), "ratio")
	b.Logf("baud %d: n=%d p50 %v p99 %v wire %v ratio %.3f", baud, len(took), p50, p99, wire, float64(p50)/float64(wire))
}

func BenchmarkPTYRead57600(b *testing.B) { benchPTYRead(b, 57600) }
func BenchmarkPTYRead1M(b *testing.B)    { benchPTYRead(b, 1000000) }
