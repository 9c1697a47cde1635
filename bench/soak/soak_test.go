package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bench/internal/stack"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// TestSoakShort is `make soak-short` as a test: the whole system as
// processes, 60 s of mixed load with faults. It runs when
// PLATE_RESORT_TEST_PREFECT names a prefect executable (make test sets it)
// or PLATE_RESORT_REQUIRE_E2E=1 (then a missing Prefect fails it).
func TestSoakShort(t *testing.T) {
	prefectBin := os.Getenv(stack.EnvPrefect)
	require := os.Getenv("PLATE_RESORT_REQUIRE_E2E") == "1"
	if prefectBin == "" && !require {
		t.Skipf("soak needs a Prefect server: set %s (make test does) or PLATE_RESORT_REQUIRE_E2E=1", stack.EnvPrefect)
	}
	if testing.Short() && !require {
		t.Skip("soak: -short")
	}
	if prefectBin == "" {
		p, _, err := stack.FindPrefect(filepath.Join("..", "..", stack.DefaultPrefectVenv, "bin", "prefect"))
		if err != nil {
			if p, _, err = stack.FindPrefect(""); err != nil {
				t.Fatalf("PLATE_RESORT_REQUIRE_E2E=1 but %v", err)
			}
		}
		prefectBin = p
	}
	bin := testenv.PlateResort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	seed := time.Now().UnixNano()
	o := options{duration: 60 * time.Second, seed: seed, bin: bin, prefect: prefectBin,
		motionTimeout: 30 * time.Second, drain: 45 * time.Second, progress: testWriter{t}}
	began := time.Now()
	sum, err := run(ctx, o)
	if sum != nil {
		var b strings.Builder
		sum.print(&b)
		t.Logf("soak summary (wall time %s):\n%s", time.Since(began).Round(time.Second), b.String())
	}
	if err != nil {
		t.Fatalf("soak (seed %d): %v", seed, err)
	}
	if sum.ExecutedTwice != 0 {
		t.Errorf("seed %d: %d commands executed twice, want 0 (evidence above)", seed, sum.ExecutedTwice)
	}
	if sum.Lost != 0 {
		t.Errorf("seed %d: %d commands lost without an answer, want 0 (evidence above)", seed, sum.Lost)
	}
	if sum.NonFinal != 0 {
		t.Errorf("seed %d: %d runs non-final after the drain, want 0 (evidence above)", seed, sum.NonFinal)
	}
	if sum.RepeatRan != 0 {
		t.Errorf("seed %d: %d re-sent ids of started commands ran, want 0 (evidence above)", seed, sum.RepeatRan)
	}
	var moves int
	for _, r := range sum.Direct {
		if r.Kind == kMove {
			moves += r.Executed
		}
	}
	if moves == 0 {
		t.Errorf("seed %d: no direct move executed: the soak did not exercise the system", seed)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestWriteLogClassification: a target write counts once; a hold (right
// after Profile Acceleration) never counts; the same goal written again
// from elsewhere is a second execution; written again where the carousel
// already stands it is only an in-place repeat.
func TestWriteLogClassification(t *testing.T) {
	const log = `{"at":"2026-01-01T00:00:00Z","addr":116,"len":4,"value":1000,"goal":1000,"present_deg":10}
{"at":"2026-01-01T00:00:01Z","addr":64,"len":1,"value":0,"present_deg":87.8}
{"at":"2026-01-01T00:00:01.1Z","addr":108,"len":4,"value":0,"present_deg":87.8}
{"at":"2026-01-01T00:00:01.2Z","addr":116,"len":4,"value":1000,"goal":1000,"present_deg":87.890625}
{"at":"2026-01-01T00:00:02Z","addr":116,"len":4,"value":2000,"goal":2000,"present_deg":87.890625}
{"at":"2026-01-01T00:00:03Z","addr":116,"len":4,"value":2000,"goal":2000,"present_deg":175.78125}
{"at":"2026-01-01T00:00:04Z","addr":116,"len":4,"value":1000,"goal":1000,"present_deg":175.78125}
{"at":"2026-01-01T00:00:05Z","addr":116,"len":4,"value":3000,"go`
	wl, err := parseWriteLog(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	if wl.total != 7 || wl.bad != 1 || len(wl.goals) != 5 {
		t.Fatalf("total %d bad %d goals %d, want 7, 1, 5", wl.total, wl.bad, len(wl.goals))
	}
	if !wl.goals[1].Hold || wl.goals[0].Hold {
		t.Errorf("hold flags %v %v, want false true", wl.goals[0].Hold, wl.goals[1].Hold)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ex := wl.execution(1000, t0)
	if ex.First == nil || !ex.First.At.Equal(t0) || len(ex.Again) != 1 || len(ex.InPlace) != 0 {
		t.Errorf("goal 1000: %+v, want executed at %s and once again from elsewhere", ex, t0)
	}
	ex = wl.execution(2000, t0)
	if ex.First == nil || len(ex.Again) != 0 || len(ex.InPlace) != 1 {
		t.Errorf("goal 2000: %+v, want executed once plus one in-place repeat", ex)
	}
	if ex := wl.execution(1000, t0.Add(90*time.Second)); ex.First != nil {
		t.Errorf("a write before the command was sent was attributed to it: %+v", ex)
	}
}

// TestAngles: every target has its own goal value, away from the hotels,
// home and the recent targets.
func TestAngles(t *testing.T) {
	a := newAngles(rand.New(rand.NewPCG(1, 2)))
	seen := map[int64]bool{}
	var recent []int64
	for i := 0; i < 2000; i++ {
		deg, goal, err := a.next()
		if err != nil {
			t.Fatalf("after %d: %v", i, err)
		}
		if goalOf(deg) != goal || deg < 0 || deg >= 360 {
			t.Fatalf("angle %v gives goal %d, not %d", deg, goalOf(deg), goal)
		}
		if seen[goal] {
			t.Fatalf("goal %d handed out twice", goal)
		}
		seen[goal] = true
		for _, h := range fixedAngles {
			if d := pulseDist(goal, goalOf(h)); d < int64(xseries.Degrees(3).Pulses()) {
				t.Fatalf("goal %d is %d pulses from %v°", goal, d, h)
			}
		}
		for _, r := range recent {
			if pulseDist(goal, r) < a.minGap {
				t.Fatalf("goal %d within 3° of recent goal %d", goal, r)
			}
		}
		recent = append(recent, goal)
		if len(recent) > a.nRecent {
			recent = recent[1:]
		}
	}
}
