// Package xseries is the control table of ROBOTIS X-series servos (XM430,
// XL430, XC430, XM540, XH430...) and the conversions between raw register
// values and physical units. Addresses, sizes and units are from the
// e-Manual pages for the XM430-W210 and XL430-W250 (docs/dynamixel.md §6); the
// same table serves every X-series model in Protocol 2.0.
package xseries
