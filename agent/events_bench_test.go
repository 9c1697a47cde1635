package agent

import (
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/contract"
)

// The cost emit adds to the command path: encode, offer to the outbox,
// hand to the disk writer (both channels drained here, as the outbox and
// the writer do on their own goroutines).
func BenchmarkEmit(b *testing.B) {
	out := make(chan outbound, 1024)
	e := newEventSink(zerolog.Nop(), "plate-resort/resort-1/event", func(m outbound) bool {
		select {
		case out <- m:
			return true
		default:
			return false
		}
	})
	go func() {
		for {
			select {
			case <-out:
			case <-e.ch:
			}
		}
	}()
	d := 3383.2
	ev := contract.Event{Type: contract.EventCommandFinished, At: time.Now(), ID: "job-7", Command: contract.ActivateHotel,
		Outcome: "ok", User: "alice", FlowRunID: "0b6f0a36-7c1e-4c43-9f0e-1f2b3c4d5e6f", DurationMS: &d}
	for b.Loop() {
		e.emit(ev)
	}
}
