package main

import (
	"errors"
	"math/rand/v2"
	"sync"

	"github.com/plate-resort/plate-resort/driver/xseries"
)

// angles hands out move targets that identify their command: every target
// is a distinct Goal Position value (encoder pulses, 4096 per turn), never
// within minGap of the last `recent` targets handed out or of the hotel and
// home angles. The simulator's write log then tells which command a goal
// write belongs to.
type angles struct {
	mu      sync.Mutex
	rng     *rand.Rand
	used    map[int64]bool
	recent  []int64
	avoid   []int64 // hotel and home angles, pulses
	minGap  int64
	nRecent int
}

// The agent's hotels (offset 19°, four hotels a quarter turn apart) and home.
var fixedAngles = []float64{0, 19, 109, 199, 289}

func newAngles(rng *rand.Rand) *angles {
	a := &angles{rng: rng, used: map[int64]bool{}, minGap: int64(xseries.Degrees(3).Pulses()), nRecent: 24}
	for _, d := range fixedAngles {
		a.avoid = append(a.avoid, goalOf(d))
	}
	return a
}

var errNoAngle = errors.New("no unused target angle left")

// next returns a fresh angle and its goal in pulses.
func (a *angles) next() (float64, int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for try := 0; try < 20000; try++ {
		p := a.rng.Int64N(xseries.PulsesPerRev)
		if a.used[p] || a.near(p, a.avoid) || (try < 10000 && a.near(p, a.recent)) {
			continue
		}
		deg := float64(xseries.PulsesToDegrees(p)) // exact: p*45/512 is a short binary fraction
		if goalOf(deg) != p {
			continue
		}
		a.used[p] = true
		a.recent = append(a.recent, p)
		if len(a.recent) > a.nRecent {
			a.recent = a.recent[1:]
		}
		return deg, p, nil
	}
	return 0, 0, errNoAngle
}

func (a *angles) near(p int64, list []int64) bool {
	for _, q := range list {
		if pulseDist(p, q) < a.minGap {
			return true
		}
	}
	return false
}

// goalOf is the Goal Position the agent writes for a move to deg
// (driver/resort goalPulses).
func goalOf(deg float64) int64 {
	p := int64(xseries.Normalize(xseries.Degrees(deg)).Pulses())
	if p >= xseries.PulsesPerRev {
		p -= xseries.PulsesPerRev
	}
	return p
}

// pulseDist is the distance between two encoder positions around the turn.
func pulseDist(a, b int64) int64 {
	d := (a - b) % xseries.PulsesPerRev
	if d < 0 {
		d += xseries.PulsesPerRev
	}
	return min(d, xseries.PulsesPerRev-d)
}
