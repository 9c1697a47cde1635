//go:build !linux

package bus

import "time"

func tuneLatencyTimer(path string) (time.Duration, bool, error) { return 0, false, nil }
