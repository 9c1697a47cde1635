package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/plate-resort/plate-resort/bench/internal/stack"
	"github.com/plate-resort/plate-resort/bridge/prefect"
)

type runKind string

const (
	runMove  runKind = "move-to-angle"
	runRead  runKind = "get-position"
	runProbe runKind = "get-position (recovery probe)"
)

// flowRun is one Prefect run the soak created (or tried to).
type flowRun struct {
	Seq     int
	Kind    runKind
	ID      string // empty when creation failed
	Angle   float64
	Goal    int64
	Precise bool
	Created time.Time // just before the create call
	Err     string    // creation failed (Prefect down past the retries)
	Final   *prefect.FlowRun
	resent  bool
}

type runs struct {
	mu   sync.Mutex
	list []*flowRun
	seq  int
}

func newRuns() *runs { return &runs{} }

func (r *runs) add(k runKind, angle float64, goal int64, precise bool) *flowRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	fr := &flowRun{Seq: r.seq, Kind: k, Angle: angle, Goal: goal, Precise: precise, Created: time.Now()}
	r.list = append(r.list, fr)
	return fr
}

func (r *runs) created(fr *flowRun, got *prefect.FlowRun, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		fr.Err = err.Error()
		return
	}
	fr.ID = got.ID
}

// byID finds a run by its flow run id.
func (r *runs) byID(id string) *flowRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, fr := range r.list {
		if fr.ID == id {
			return fr
		}
	}
	return nil
}

func (r *runs) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.list)
}

func (r *runs) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ids []string
	for _, fr := range r.list {
		if fr.ID != "" {
			ids = append(ids, fr.ID)
		}
	}
	return ids
}

// fetch reads the runs' current states, 200 at a time.
func (r *runs) fetch(ctx context.Context, pc *prefect.Client) (map[string]prefect.FlowRun, error) {
	ids := r.ids()
	out := make(map[string]prefect.FlowRun, len(ids))
	for i := 0; i < len(ids); i += prefect.MaxScheduledRunsLimit {
		batch := ids[i:min(i+prefect.MaxScheduledRunsLimit, len(ids))]
		got, err := pc.FilterFlowRuns(ctx, prefect.FlowRunFilter{IDs: batch, Limit: len(batch)})
		if err != nil {
			return nil, err
		}
		for _, fr := range got {
			out[fr.ID] = fr
		}
	}
	return out, nil
}

// nonFinal counts the created runs not in a final state yet.
func (r *runs) nonFinal(ctx context.Context, pc *prefect.Client) (int, error) {
	got, err := r.fetch(ctx, pc)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range r.ids() {
		if fr, ok := got[id]; !ok || fr.State == nil || !fr.State.Type.IsFinal() {
			n++
		}
	}
	return n, nil
}

// refresh stores every run's state (after the drain), retrying a busy server.
func (r *runs) refresh(ctx context.Context, pc *prefect.Client) error {
	var got map[string]prefect.FlowRun
	var err error
	for try := 0; try < 10; try++ {
		if got, err = r.fetch(ctx, pc); err == nil {
			break
		}
		if serr := stack.Sleep(ctx, time.Second); serr != nil {
			return serr
		}
	}
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, fr := range r.list {
		if g, ok := got[fr.ID]; ok {
			g := g
			fr.Final = &g
		}
	}
	return nil
}

// prefectRuns creates a run every 2-5 s as run_deployment does: 50 %
// move-to-angle (a target nothing else uses, precise or plain), 50 %
// get-position. Creation retries a restarting server for up to about a
// minute with the same idempotency key, in the background.
func (s *soak) prefectRuns(ctx context.Context, rng *rand.Rand) {
	every(ctx, rng, 2*time.Second, 5*time.Second, func() {
		var fr *flowRun
		var dep string
		params := map[string]any{}
		if rng.Float64() < 0.5 {
			angle, goal, err := s.angles.next()
			if err != nil {
				return
			}
			precise := rng.Float64() < 0.7
			fr = s.runs.add(runMove, angle, goal, precise)
			params["angle"], params["precise"] = angle, precise
			dep = s.moveDep
		} else {
			fr = s.runs.add(runRead, 0, -1, false)
			dep = s.readDep
		}
		s.creates.Add(1)
		go func() {
			defer s.creates.Done()
			got, err := stack.CreateRun(s.retry, s.pc, dep, params, fmt.Sprintf("%srun-%d", s.idp, fr.Seq), 8)
			s.runs.created(fr, got, err)
		}()
	})
}
