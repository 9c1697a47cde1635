package resort_test

import (
	"errors"
	"testing"

	"github.com/plate-resort/plate-resort/driver/resort"
	"github.com/plate-resort/plate-resort/driver/sim"
)

// Connect is all or nothing: a link that dies half-way through the connect
// sequence (after the ping, before the model, return delay and mode are
// confirmed) leaves the servo not connected, not half connected, and a
// later connect completes it.
func TestConnectIsAllOrNothing(t *testing.T) {
	for _, after := range []int{1, 2, 4, 6} {
		g := newRig(t, sim.Config{}, func(c *resort.Config) { c.ReadRetries = 0 })
		g.servo.SilenceAfter(after)
		_, err := g.r.Connect(ctx10(t), resort.ConnectOptions{})
		if err == nil {
			t.Fatalf("silent after %d replies: connect succeeded", after)
		}
		if g.r.Connected() || g.r.Opened() || g.r.Link().Connected {
			t.Fatalf("silent after %d replies: connected=%v opened=%v link=%v after a failed connect",
				after, g.r.Connected(), g.r.Opened(), g.r.Link().Connected)
		}
		if _, err := g.r.MoveToAngle(ctx10(t), 90, false, resort.PreciseOverrides{}); !errors.Is(err, resort.ErrNotConnected) {
			t.Fatalf("move after a failed connect: %v, want ErrNotConnected", err)
		}
		g.servo.SetUnplugged(false)
		if _, err := g.r.Connect(ctx10(t), resort.ConnectOptions{}); err != nil || !g.r.Connected() {
			t.Fatalf("connect after the link came back: %v connected=%v", err, g.r.Connected())
		}
		if id := g.r.Identity(); id.Model == "" {
			t.Fatalf("connected without identifying the model: %+v", id)
		}
	}
}
