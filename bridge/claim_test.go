package bridge

import (
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// Every claimer reads the same history and picks the same winner: the
// earliest Pending since the run was last scheduled (a retry starts over).
func TestFirstClaim(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC)
	st := func(id string, typ prefect.StateType, ms int) prefect.State {
		return prefect.State{ID: id, Type: typ, Timestamp: t0.Add(time.Duration(ms) * time.Millisecond)}
	}
	cases := []struct {
		name   string
		states []prefect.State
		want   string
	}{
		{"one claim", []prefect.State{st("s", prefect.StateScheduled, 0), st("a", prefect.StatePending, 10)}, "a"},
		{"two claims 80 ms apart", []prefect.State{st("s", prefect.StateScheduled, 0), st("b", prefect.StatePending, 90), st("a", prefect.StatePending, 10)}, "a"},
		{"same timestamp: lower id", []prefect.State{st("s", prefect.StateScheduled, 0), st("z", prefect.StatePending, 10), st("m", prefect.StatePending, 10)}, "m"},
		{"retry starts over", []prefect.State{st("s", prefect.StateScheduled, 0), st("a", prefect.StatePending, 10),
			st("r", prefect.StateRunning, 20), st("f", prefect.StateFailed, 30), st("w", prefect.StateScheduled, 40), st("c", prefect.StatePending, 50)}, "c"},
		{"no claim", []prefect.State{st("s", prefect.StateScheduled, 0)}, ""},
	}
	for _, c := range cases {
		got := firstClaim(c.states)
		switch {
		case c.want == "" && got != nil:
			t.Errorf("%s: got %s, want none", c.name, got.ID)
		case c.want != "" && (got == nil || got.ID != c.want):
			t.Errorf("%s: got %v, want %s", c.name, got, c.want)
		}
	}
}
