package bus

import "time"

// WireTime is how long n bytes take on the wire at baud, 8N1 = 10 bits per
// byte (dynamixel.md §7).
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
func transactionTimeout(txBytes, rxBytes, baud int, latency time.Duration) time.Duration {
	return WireTime(txBytes+rxBytes, baud) + maxReturnDelay + 2*latency + 2*time.Millisecond
}
