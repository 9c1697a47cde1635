// Package protocol encodes and decodes ROBOTIS Dynamixel Protocol 2.0 packets:
// header, id, length, instruction, parameters, byte stuffing and CRC-16.
//
// Reference: ROBOTIS e-Manual, "DYNAMIXEL Protocol 2.0"
// (https://emanual.robotis.com/docs/en/dxl/protocol2/), sections "Instruction
// Packet", "Status Packet", "Packet Process" (byte stuffing) and "CRC".
// The package does no I/O: the bus and the simulated servo both feed it bytes.
package protocol
