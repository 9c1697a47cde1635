package bridge

import (
	"context"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// pollLoop claims due runs: at once when woken by an event, else every
// poll_interval (the safety net; also what keeps deployments READY, docs/prefect.md §3).
func (b *Bridge) pollLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	missed := 0 // polls in a row that missed an announced run
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.wake:
		}
		if b.pollOnce(ctx) {
			// A run an event announced is not visible yet (announced.go).
			t.Reset(repollDelay(missed))
			missed++
			continue
		}
		missed = 0
		// Jitter (as Prefect's own worker, ±30 %): bridges sharing a pool
		// do not poll in lockstep, which on SQLite means fewer lock fights.
		t.Reset(time.Duration(float64(b.cfg.PollInterval) * (0.7 + 0.6*rand.Float64())))
	}
}

// pollOnce claims what is due and reports whether a run announced by an
// event is still missing from the poll (announced.go).
func (b *Bridge) pollOnce(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// A second ahead only: a later run would be claimed early and then
	// WAITed (docs/prefect.md §4 "WaitForScheduledTime"), holding a goroutine for nothing.
	runs, err := b.pc.GetScheduledFlowRuns(pctx, b.cfg.WorkPool, nil, time.Now().Add(time.Second), prefect.MaxScheduledRunsLimit)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn().Err(err).Msg("polling Prefect for scheduled runs failed")
		}
		return false
	}
	b.metrics.poll.Touch() // liveness (metrics.go)
	got := make(map[string]bool, len(runs))
	for _, sr := range runs {
		fr := sr.FlowRun
		got[fr.ID] = true
		dep, ok := b.deploymentByID(fr.DeploymentID)
		if !ok {
			continue // not ours: the pool may be shared (docs/prefect.md §3)
		}
		b.startVia(ctx, fr, dep, modeClaim, claimedOnPoll, nil)
	}
	return b.announced.seen(func(id string) bool { return got[id] || b.running(id) }, time.Now())
}

// running says whether run id is in flight here.
func (b *Bridge) running(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.inflight[id]
	return ok
}

// eventsLoop turns Prefect events into wake-ups: a Scheduled run in our pool
// polls now; a Cancelling run of ours is cancelled now. Events are hints only
// (docs/prefect.md §10); the REST API stays the authority.
func (b *Bridge) eventsLoop(ctx context.Context) {
	b.mu.Lock()
	pool := b.poolID
	b.mu.Unlock()
	events := b.pc.Subscribe(ctx, prefect.SubscribeOptions{
		Filter: prefect.EventFilter{
			Names:      []string{"prefect.flow-run.Scheduled", "prefect.flow-run.Cancelling"},
			RelatedIDs: []string{"prefect.work-pool." + pool},
		},
		OnStatus: func(up bool, err error) {
			if up {
				b.log.Debug().Msg("Prefect events websocket connected")
				b.kickPoll() // whatever was scheduled while it was down
			} else if ctx.Err() == nil {
				b.log.Debug().Err(err).Msg("Prefect events websocket down; polling covers the gap")
			}
		},
	})
	for ev := range events {
		switch ev.StateType() {
		case prefect.StateScheduled:
			dep, mine := b.eventDeployment(ev)
			if !mine {
				b.kickPoll() // perhaps a deployment registered since
				continue
			}
			b.wg.Add(1)
			go func() { defer b.wg.Done(); b.claimFromEvent(ctx, ev, dep) }()
		case prefect.StateCancelling:
			b.signalCancel(ev.FlowRunID())
		}
	}
}

// eventDeployment returns the deployment of an event's run when it is one
// of ours (its related resources name the deployment,
// src/prefect/server/models/events.py flow_run_state_change_event).
func (b *Bridge) eventDeployment(ev prefect.Event) (*deployment, bool) {
	for _, r := range ev.Related {
		id, _ := r["prefect.resource.id"].(string)
		if dep, ok := strings.CutPrefix(id, "prefect.deployment."); ok {
			return b.deploymentByID(dep)
		}
	}
	return nil, false
}
