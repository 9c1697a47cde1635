package bridge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// recoverRuns finds the runs a previous life of this bridge (same worker
// name) left unfinished and finishes them truthfully: a Running command is
// re-sent with the same id, which the agent's dedupe answers with the stored
// reply or by joining the command still running, never by running it twice.
func (b *Bridge) recoverRuns(ctx context.Context) {
	ids := b.deploymentIDs()
	if len(ids) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	active, err := b.pc.FilterFlowRuns(rctx, prefect.FlowRunFilter{DeploymentIDs: ids,
		StateTypes: []prefect.StateType{prefect.StatePending, prefect.StateRunning, prefect.StateCancelling}})
	if err != nil {
		b.log.Warn().Err(err).Msg("could not look for unfinished runs of a previous bridge life")
		return
	}
	retrying, err := b.pc.FilterFlowRuns(rctx, prefect.FlowRunFilter{DeploymentIDs: ids, StateNames: []string{"AwaitingRetry"}})
	if err != nil {
		b.log.Warn().Err(err).Msg("could not look for runs awaiting a retry")
	}
	n := 0
	for _, fr := range append(active, retrying...) {
		dep, ok := b.deploymentByID(fr.DeploymentID)
		if !ok || fr.State == nil || !b.owns(fr) {
			continue
		}
		mode, ok := b.recoverMode(ctx, fr, dep)
		if ok && b.start(ctx, fr, dep, mode) {
			n++
		}
	}
	if n > 0 {
		b.log.Info().Int("runs", n).Msg("resuming runs left unfinished by a previous bridge life")
	}
}

// owns reports whether fr was claimed by a bridge with our worker name.
func (b *Bridge) owns(fr prefect.FlowRun) bool {
	if recordedBy(fr, b.cfg.WorkerName) {
		return true
	}
	if fr.State == nil {
		return false
	}
	// Before recordClaim's patch (run.go), only our state messages say so.
	return (fr.State.Type == prefect.StatePending && fr.State.Message == claimMessage(b.cfg.WorkerName)) ||
		(fr.State.Type == prefect.StateRunning && fr.State.Message == runMessage(b.cfg.WorkerName))
}

func (b *Bridge) recoverMode(ctx context.Context, fr prefect.FlowRun, dep *deployment) (runMode, bool) {
	if fr.State == nil {
		return 0, false
	}
	switch fr.State.Type {
	case prefect.StatePending:
		return modePending, true
	case prefect.StateCancelling:
		return modeCancelling, true
	case prefect.StateScheduled:
		return modeRetry, fr.State.Name == "AwaitingRetry"
	case prefect.StateRunning:
		if age := time.Since(fr.State.Timestamp); age > b.cfg.RecoverWindow {
			r := newRun(b.runDeps, fr, dep, nil)
			r.finish(ctx, prefect.Crashed(fmt.Sprintf(
				"the bridge restarted %s after this run started, more than recover_window %s: the device may no longer remember command %s, so it was not re-sent and the outcome is unknown; check the device's state",
				age.Round(time.Second), b.cfg.RecoverWindow, r.commandID())))
			return 0, false
		}
		return modeRunning, true
	}
	return 0, false
}

// strayEvery and strayAge: the stray sweep runs every strayEvery and
// resumes runs Pending for longer than strayAge (vars: tests shorten them).
var (
	strayEvery = 30 * time.Second
	strayAge   = time.Minute
)

// strayLoop resumes runs this bridge left Pending while it kept running: a
// claim whose check could not read Prefect, or whose history named nobody
// (run.go wonClaim), is given up without a word to Prefect, and the run,
// no longer Scheduled, is never polled again. Recovery at start covers
// only a previous life's runs. A stray is ours when its current state is
// our Pending (claimMessage): of several claimers exactly one state is
// current, and a winner that went on is Running by then. strayAge is far
// longer than a claim takes, so a claim still under way is not one.
func (b *Bridge) strayLoop(ctx context.Context) {
	every(ctx, strayEvery, func() { b.resumeStrays(ctx) })
}

func (b *Bridge) resumeStrays(ctx context.Context) {
	fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	runs, err := b.pc.FilterFlowRuns(fctx, prefect.FlowRunFilter{WorkPools: []string{b.cfg.WorkPool}, StateTypes: []prefect.StateType{prefect.StatePending}})
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			b.log.Debug().Err(err).Msg("looking for runs left Pending failed")
		}
		return
	}
	for _, fr := range runs {
		dep, ok := b.deploymentByID(fr.DeploymentID)
		if !ok || !stray(fr, b.cfg.WorkerName, time.Now()) || b.running(fr.ID) {
			continue
		}
		b.log.Warn().Str("flow_run", fr.ID).Time("pending_since", fr.State.Timestamp).Msg("resuming a run this bridge claimed and left Pending")
		b.start(ctx, fr, dep, modeStray)
	}
}

// stray says whether fr is a run worker claimed (its current state is
// worker's Pending, and no other bridge recorded it as its own) and has
// left Pending for strayAge.
func stray(fr prefect.FlowRun, worker string, now time.Time) bool {
	return fr.State != nil && fr.State.Type == prefect.StatePending && fr.State.Message == claimMessage(worker) &&
		(fr.InfrastructurePID == "" || recordedBy(fr, worker)) &&
		now.Sub(fr.State.Timestamp) > strayAge
}

// recordedBy says whether fr's infrastructure_pid names worker (run.go
// recordClaim).
func recordedBy(fr prefect.FlowRun, worker string) bool {
	return strings.HasPrefix(fr.InfrastructurePID, worker+"/")
}
