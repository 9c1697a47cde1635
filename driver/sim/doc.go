// Package sim is a simulated ROBOTIS X-series servo (XM430-W210 by default)
// that speaks Dynamixel Protocol 2.0 over any byte stream: an in-memory pipe
// for unit tests (Pipe) or a pseudo-terminal that go.bug.st/serial opens like
// a U2D2 adapter (ListenPTY).
//
// It is faithful where the driver's correctness depends on it
// (docs/dynamixel.md §5-§7 and the e-Manual): the control table with its EEPROM
// lock, access/length/range errors, the side effects of an Operating Mode
// change, the alert bit and Hardware Error Status cleared only by Reboot,
// Present Position as an int32 that is reset into one turn on torque-on, and
// wire timing at the configured baud rate. The mechanics are a model of the
// plate-resort carousel, not of any real motor: a position move stops a
// configurable deadband short of the goal (friction under load) and PWM below
// a static-friction threshold does not move it, so the upstream two-stage
// precise move (docs/dynamixel.md §8) really has to run its pulse stage.
//
// Files: config.go (Config, model defaults), table.go (control-table layout),
// defaults.go (factory and power-up values), write.go (write rules and side
// effects), handle.go (one instruction in, one status out), physics.go
// (motion, current, heat), faults.go, serve.go (stream loop, wire timing),
// pipe.go, pty.go, control.go (the HTTP fault API of `plate-resort sim`).
package sim
