package homeassistant

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/contract"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// eventually is testenv.Eventually asking at most every 100 ms, so that a
// wait on HA's REST API does not load HA with requests.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	var next time.Time
	testenv.Eventually(t, timeout, what, func() bool {
		if time.Now().Before(next) {
			return false
		}
		next = time.Now().Add(100 * time.Millisecond)
		return cond()
	})
}

func waitAvailability(t *testing.T, w *watcher, want string) {
	t.Helper()
	eventually(t, 15*time.Second, "availability "+want, func() bool {
		p, _ := w.get(topics.Availability())
		return p == want
	})
}

// waitState waits for the agent's retained state to satisfy cond.
func waitState(t *testing.T, w *watcher, what string, timeout time.Duration, cond func(contract.State) bool) contract.State {
	t.Helper()
	var s contract.State
	var p string
	defer func() {
		if t.Failed() {
			t.Logf("last state: %s", p)
		}
	}()
	eventually(t, timeout, what+" in the agent's state", func() bool {
		var ok bool
		p, ok = w.get(topics.State())
		return ok && json.Unmarshal([]byte(p), &s) == nil && cond(s)
	})
	return s
}

func waitEntity(t *testing.T, ha *hass, id, want string) {
	t.Helper()
	var got string
	defer func() {
		if t.Failed() {
			t.Logf("%s was %q", id, got)
		}
	}()
	eventually(t, 15*time.Second, id+" = "+want+" in HA", func() bool {
		s, _ := ha.api.state(t, id)
		got = s.State
		return got == want
	})
}

func waitEntityNear(t *testing.T, ha *hass, id string, want, tol float64) {
	t.Helper()
	var got string
	defer func() {
		if t.Failed() {
			t.Logf("%s was %q", id, got)
		}
	}()
	eventually(t, 15*time.Second, id+" near "+strconv.FormatFloat(want, 'f', 1, 64)+" in HA", func() bool {
		s, _ := ha.api.state(t, id)
		got = s.State
		v, err := strconv.ParseFloat(got, 64)
		return err == nil && math.Abs(v-want) <= tol
	})
}

// waitAllAvailable waits until every entity is available, or every one
// is unavailable.
func waitAllAvailable(t *testing.T, ha *hass, available bool) {
	t.Helper()
	what := "every entity unavailable in HA"
	if available {
		what = "every entity available in HA"
	}
	eventually(t, 20*time.Second, what, func() bool {
		st := ha.api.states(t)
		for _, id := range entities {
			s, ok := st[id]
			if !ok || (s.State == "unavailable") == available {
				return false
			}
		}
		return true
	})
}
