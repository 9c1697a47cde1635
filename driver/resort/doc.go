// Package resort is the plate-resort motion logic on top of the Dynamixel
// bus: connect, hotel angles, plain and precise (two-stage) moves, go home,
// speed, controlled stop, emergency stop, reboot, health and active hotel.
// It fixes the upstream Python's mistakes listed in docs/dynamixel.md §8.
//
// Every move takes a context; cancelling it stops the carousel in a defined
// state (holding position in position mode, torque on). An emergency stop
// latches: until ResetEStop or Connect, the bus refuses every write except
// torque off, so no move that was already under way can re-enable torque.
package resort
