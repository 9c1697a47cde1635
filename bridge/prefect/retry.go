package prefect

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// RetryPolicy bounds how idempotent calls are retried on 5xx, 429 and
// connection errors. Non-idempotent calls (creating a flow run, sending logs)
// are never retried: a lost response there could mean a duplicate.
type RetryPolicy struct {
	MaxAttempts int           // total attempts including the first; 1 disables retries
	BaseDelay   time.Duration // first backoff; doubled per attempt, with jitter
	MaxDelay    time.Duration // cap for one backoff, including a server Retry-After
}

// DefaultRetry rides out a Prefect server restart of a few seconds without
// stalling a caller for more than about 7 s in total.
var DefaultRetry = RetryPolicy{MaxAttempts: 5, BaseDelay: 200 * time.Millisecond, MaxDelay: 4 * time.Second}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultRetry.MaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultRetry.BaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultRetry.MaxDelay
	}
	return p
}

// delay returns the wait before attempt n+1 (n counts from 1). A Retry-After
// header (seconds) from a 429/503 is honoured but capped by MaxDelay.
func (p RetryPolicy) delay(n int, resp *http.Response) time.Duration {
	if resp != nil {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			return min(time.Duration(s)*time.Second, p.MaxDelay)
		}
	}
	d := p.BaseDelay << (n - 1)
	if d <= 0 || d > p.MaxDelay {
		d = p.MaxDelay
	}
	// Full jitter in [d/2, d) so two bridges restarting together spread out.
	return d/2 + rand.N(d/2+1)
}

func retryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// sleepCtx waits d or until ctx is done, whichever comes first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
