package contract

import "time"

// Health is the retained <base>/health payload and get_health's (and
// reboot's) result.
type Health struct {
	TemperatureC  *float64       `json:"temperature_c"`
	VoltageV      *float64       `json:"voltage_v"`
	CurrentMA     *float64       `json:"current_ma"`
	HardwareError *HardwareError `json:"hardware_error"`
	Warnings      []string       `json:"warnings"`
	Serial        SerialLink     `json:"serial"`
	Servo         *Servo         `json:"servo"`
	Agent         AgentHealth    `json:"agent"`
	ReadAt        time.Time      `json:"read_at"`
}

// HardwareError is the servo's Hardware Error Status register, raw and by
// flag name (docs/dynamixel.md).
type HardwareError struct {
	Raw   int      `json:"raw"`
	Flags []string `json:"flags"`
}

// SerialLink describes the serial link.
type SerialLink struct {
	Port      string    `json:"port"`
	Baudrate  int       `json:"baudrate"`
	Connected bool      `json:"connected"`
	LatencyMS float64   `json:"latency_timer_ms"`
	Stats     LinkStats `json:"stats"`
}

// LinkStats count serial transactions since the agent started.
type LinkStats struct {
	Transactions uint64 `json:"transactions"`
	Errors       uint64 `json:"errors"`
	Timeouts     uint64 `json:"timeouts"`
	Corrupt      uint64 `json:"corrupt"`
	Retries      uint64 `json:"retries"`
	Reconnects   uint64 `json:"reconnects"`
	// Stray counts status packets discarded as late replies of earlier
	// requests.
	Stray uint64 `json:"stray"`
}

// Servo is what connect learned about the servo.
type Servo struct {
	ModelNumber uint16 `json:"model_number"`
	Model       string `json:"model"`
	Firmware    int    `json:"firmware"`
	MotorID     int    `json:"motor_id"`
}

// AgentHealth is the agent's own part of health.
type AgentHealth struct {
	Version  string   `json:"version"`
	UptimeS  float64  `json:"uptime_s"`
	Commands Counters `json:"commands"`
}

// Counters count commands since the agent started.
type Counters struct {
	Received uint64          `json:"received"`
	OK       uint64          `json:"ok"`
	Error    uint64          `json:"error"`
	ByCode   map[Code]uint64 `json:"by_code"`
	Dropped  uint64          `json:"dropped"`
}
