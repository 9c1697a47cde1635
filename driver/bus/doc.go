// Package bus runs Dynamixel Protocol 2.0 transactions over a serial port:
// one at a time, each with a deadline computed from the baud rate, the byte
// counts and the USB adapter's latency timer, with bounded retries for reads
// only, and a typed "disconnected" error when the adapter goes away.
package bus
