package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/plate-resort/plate-resort/bench/internal/stack"
	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// faultKind is one of the faults the soak injects.
type faultKind string

const (
	fBroker  faultKind = "broker restart"
	fSerial  faultKind = "serial unplug/replug"
	fAgent   faultKind = "agent kill -9"
	fBridge  faultKind = "bridge kill -9"
	fPrefect faultKind = "prefect restart"
)

var faultKinds = []faultKind{fBroker, fSerial, fAgent, fBridge, fPrefect}

// faultFlags are the -faults names.
var faultFlags = map[string]faultKind{"broker": fBroker, "serial": fSerial, "agent": fAgent, "bridge": fBridge, "prefect": fPrefect}

func parseFaults(v string) ([]faultKind, error) {
	out := []faultKind{}
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		k, ok := faultFlags[name]
		if !ok {
			return nil, fmt.Errorf("%q: want broker, serial, agent, bridge or prefect", name)
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// How long each fault keeps the part down before it is restored.
var faultHold = map[faultKind]time.Duration{
	fBroker: time.Second, fSerial: 2 * time.Second, fAgent: time.Second, fBridge: time.Second, fPrefect: time.Second,
}

// faultRec is one injected fault.
type faultRec struct {
	Kind      faultKind
	At        time.Time // injected (kill, unplug)
	Restored  time.Time // the part was started again / replugged (for Prefect: healthy again)
	Recovered time.Time // first successful get_position round trip after At; zero if none
	Err       string    // the harness could not restore it
}

func (f faultRec) recovery() time.Duration { return f.Recovered.Sub(f.At) }

// recoveryLimit bounds the wait for the first successful round trip.
const recoveryLimit = 2 * time.Minute

// faultLoop injects one fault at a time, at random intervals, cycling
// through every kind in a shuffled order, until load ends; the fault
// actions themselves run on ctx so the last one always completes.
func (s *soak) faultLoop(load, ctx context.Context, rng *rand.Rand) {
	lo := min(max(s.o.duration/30, 3*time.Second), 20*time.Second)
	hi := min(max(s.o.duration/12, 6*time.Second), 60*time.Second)
	kinds := s.o.faults
	if kinds == nil {
		kinds = faultKinds
	}
	if len(kinds) == 0 {
		return
	}
	var cycle []faultKind
	for {
		if stack.Sleep(load, lo+time.Duration(rng.Int64N(int64(hi-lo)))) != nil {
			return
		}
		if len(cycle) == 0 {
			cycle = append(cycle, kinds...)
			rng.Shuffle(len(cycle), func(i, j int) { cycle[i], cycle[j] = cycle[j], cycle[i] })
		}
		k := cycle[0]
		cycle = cycle[1:]
		s.exclusive.Lock()
		if load.Err() != nil {
			s.exclusive.Unlock()
			return
		}
		rec := s.inject(ctx, k)
		s.exclusive.Unlock()
		s.fmu.Lock()
		s.faults = append(s.faults, rec)
		s.fmu.Unlock()
		switch {
		case rec.Err != "":
			s.progress("fault %s: %s", k, rec.Err)
		case rec.Recovered.IsZero():
			s.progress("fault %s: NOT recovered within %s", k, recoveryLimit)
		default:
			s.progress("fault %s: recovered after %s (restored after %s)", k, rec.recovery().Round(time.Millisecond), rec.Restored.Sub(rec.At).Round(time.Millisecond))
		}
	}
}

// inject breaks one part, starts the recovery probe, restores the part and
// waits for the first successful get_position round trip.
func (s *soak) inject(ctx context.Context, k faultKind) faultRec {
	rec := faultRec{Kind: k, At: time.Now()}
	s.progress("fault: %s", k)
	var err error
	switch k {
	case fBroker:
		s.kill("broker")
	case fSerial:
		err = s.simFault(ctx, "/fault/unplug")
	case fAgent:
		s.kill("agent")
	case fBridge:
		s.kill("bridge")
	case fPrefect:
		s.kill("prefect")
	}
	if err != nil {
		rec.Err = "inject: " + err.Error()
		return rec
	}
	pctx, cancel := context.WithTimeout(ctx, recoveryLimit)
	defer cancel()
	probed := make(chan time.Time, 1)
	go func() { probed <- s.probeUntilOK(pctx, k) }()

	_ = stack.Sleep(ctx, faultHold[k])
	switch k {
	case fBroker:
		err = s.startBroker(ctx)
	case fSerial:
		err = s.simFault(ctx, "/fault/replug")
	case fAgent:
		err = s.startAgent()
	case fBridge:
		err = s.startBridge()
	case fPrefect:
		err = s.startPrefect(ctx)
	}
	rec.Restored = time.Now()
	if err != nil {
		rec.Err = "restore: " + err.Error()
	}
	rec.Recovered = <-probed
	return rec
}

// probeUntilOK repeats get_position round trips until one succeeds: direct
// MQTT for faults below Prefect, a get-position run through Prefect and the
// bridge for the bridge and Prefect faults (direct MQTT does not touch them).
func (s *soak) probeUntilOK(ctx context.Context, k faultKind) time.Time {
	for n := 0; ctx.Err() == nil; n++ {
		if k == fBridge || k == fPrefect {
			if at := s.probeRun(ctx); !at.IsZero() {
				return at
			}
			_ = stack.Sleep(ctx, 200*time.Millisecond)
			continue
		}
		if at := s.probeMQTT(ctx, s.probeSeq.Add(1)); !at.IsZero() {
			return at
		}
		_ = stack.Sleep(ctx, 100*time.Millisecond)
	}
	return time.Time{}
}

// probeRun creates a get-position run and waits (30 s at most) for it to be
// final; it returns the Completed state's time, or zero.
func (s *soak) probeRun(ctx context.Context) time.Time {
	r := s.runs.add(runProbe, 0, -1, false)
	fr, err := stack.CreateRun(ctx, s.pc, s.readDep, map[string]any{}, fmt.Sprintf("%sprobe-run-%d", s.idp, r.Seq), 1)
	s.runs.created(r, fr, err)
	if err != nil {
		return time.Time{}
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && ctx.Err() == nil; {
		got, err := s.pc.ReadFlowRun(ctx, fr.ID)
		if err == nil && got.State != nil && got.State.Type.IsFinal() {
			if got.State.Type == prefect.StateCompleted {
				return got.State.Timestamp
			}
			return time.Time{}
		}
		_ = stack.Sleep(ctx, 100*time.Millisecond)
	}
	return time.Time{}
}
