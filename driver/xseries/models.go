package xseries

// Model numbers of X-series servos (Model Number, register 0), as listed on
// each model's e-Manual page. The agent accepts any of them and names it in
// logs; an unknown number is reported but not refused, because new X-series
// models keep the same control table.
var Models = map[uint16]string{
	1020: "XM430-W350",
	1030: "XM430-W210",
	1060: "XL430-W250",
}

// ModelName returns the model's name, or "" when the number is unknown.
func ModelName(n uint16) string { return Models[n] }

// HasCurrent reports whether the model has Current Limit (38), Goal Current
// (102) and Present Current (126) in mA; the XL430/XC430 have Present Load
// (0.1 %) at 126 instead and no current items.
func HasCurrent(n uint16) bool {
	switch n {
	case 1060:
		return false
	}
	return true
}
