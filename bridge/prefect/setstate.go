package prefect

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"time"
)

// SetFlowRunState proposes s for run id once (POST /flow_runs/{id}/set_state).
// If s has no transition id, one is generated, so the HTTP retries inside this
// call are idempotent: the server REJECTs a repeated transition_id with the
// state it already holds (PreventDuplicateTransitions, docs/prefect.md §4).
func (c *Client) SetFlowRunState(ctx context.Context, id string, s StateCreate, force bool) (*OrchestrationResult, error) {
	if s.StateDetails.TransitionID == "" {
		s.StateDetails.TransitionID = newUUID()
	}
	body := struct {
		State StateCreate `json:"state"`
		Force bool        `json:"force"`
	}{s, force}
	var r OrchestrationResult
	err := c.do(ctx, call{method: "POST", path: "/flow_runs/" + url.PathEscape(id) + "/set_state", body: body, out: &r, idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("set flow run %s to %s: %w", id, s.Type, err)
	}
	switch r.Status {
	case Accept, Reject, Abort, Wait:
	default:
		return nil, fmt.Errorf("prefect: set flow run %s to %s: unknown orchestration status %q", id, s.Type, r.Status)
	}
	if r.Status == Reject && r.State != nil && r.State.Type == s.Type && r.State.StateDetails.TransitionID == s.StateDetails.TransitionID {
		// An HTTP retry of a proposal the server had already accepted: it
		// REJECTs the duplicate transition id with the state it holds,
		// which is ours. That is an acceptance, not a refusal.
		r.Status = Accept
	}
	return &r, nil
}

// maxWaits bounds how often one proposal obeys WAIT (a hostile or broken
// server must not keep a caller looping).
const maxWaits = 100

// maxWait caps one WAIT sleep: a server asking for hours is almost certainly a
// run scheduled far ahead, which the caller should not hold a slot for.
const maxWait = 10 * time.Minute

// ProposeState proposes s and obeys WAIT by sleeping delay_seconds (ctx-aware)
// and proposing again with a fresh transition id, like Prefect's own
// propose_state. It returns the first ACCEPT, REJECT or ABORT result; the
// caller must act on result.Status and result.State (docs/prefect.md §15).
func (c *Client) ProposeState(ctx context.Context, id string, s StateCreate) (*OrchestrationResult, error) {
	waits := 0
	for {
		s.StateDetails.TransitionID = newUUID()
		r, err := c.SetFlowRunState(ctx, id, s, false)
		if err != nil {
			return nil, err
		}
		if r.Status != Wait {
			return r, nil
		}
		waits++
		if waits > maxWaits || math.IsNaN(r.Details.DelaySeconds) || math.IsInf(r.Details.DelaySeconds, 0) || r.Details.DelaySeconds < 0 {
			return r, fmt.Errorf("prefect: flow run %s: server keeps answering WAIT (%d times, delay %v) to %s", id, waits, r.Details.DelaySeconds, s.Type)
		}
		d := time.Duration(r.Details.DelaySeconds * float64(time.Second))
		if d > maxWait {
			return r, fmt.Errorf("prefect: flow run %s: server asks to wait %s before %s, longer than %s", id, d, s.Type, maxWait)
		}
		if d < 10*time.Millisecond {
			d = 10 * time.Millisecond // never spin on a zero delay
		}
		if err := sleepCtx(ctx, d); err != nil {
			return r, fmt.Errorf("prefect: flow run %s: waiting to propose %s: %w", id, s.Type, err)
		}
	}
}
