package bus

import "time"

// WireTime is how long n bytes take on the wire at baud, 8N1 = 10 bits per
// byte (docs/dynamixel.md §7).
func WireTime(n, baud int) time.Duration {
	if baud <= 0 {
		return 0
	}
	return time.Duration(int64(n) * 10 * int64(time.Second) / int64(baud))
}

// maxReturnDelay is Return Delay Time's largest value, 254 x 2 µs. The
// deadline assumes it so a servo left at any setting still answers in time.
const maxReturnDelay = 508 * time.Microsecond

// Deadline for one transaction, as the ROBOTIS SDK computes it
// (port_handler setPacketTimeout: tx_time_per_byte x reply bytes +
// 2 x LATENCY_TIMER + 2 ms), plus the request's own wire time because our
// clock starts before the write, and the worst return delay.
//
// The result is never below minTimeout: a loaded host (or a race-detector
// build) can be late by milliseconds, and a deadline that fires before a
// slow but healthy reply turns into a retry whose stale reply confuses the
// next transaction. The floor only lengthens the failure case.
func transactionTimeout(txBytes, rxBytes, baud int, latency time.Duration) time.Duration {
	return max(WireTime(txBytes+rxBytes, baud)+maxReturnDelay+2*latency+2*time.Millisecond, minTimeout)
}

// minTimeout is the deadline floor (the SDK's own formula with its fixed
// 16 ms latency timer gives about 34 ms). 100 ms rides out the scheduling
// stalls of a loaded 2-core host: a healthy reply is never waited for that
// long, so the floor costs time only when the servo really is silent.
const minTimeout = 100 * time.Millisecond
