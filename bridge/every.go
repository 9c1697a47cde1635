package bridge

import (
	"context"
	"time"
)

// every calls fn every d, the first time after d, until ctx ends: the
// shape of the bridge's background checks (peersLoop, cancelLoop,
// strayLoop).
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}
