package contract

// Results of the commands: the "result" object of an ok reply (and of a
// move that failed, so a caller sees how close it came).

// MoveResult is the result of activate_hotel, go_home and move_to_angle;
// the fields match upstream plate-RESORT's activate_hotel_precise dict.
type MoveResult struct {
	Success    bool    `json:"success"`
	Reason     string  `json:"reason"`
	Hotel      string  `json:"hotel,omitempty"`
	Precise    bool    `json:"precise"`
	Target     float64 `json:"target_angle"`
	FinalAngle float64 `json:"final_angle"`
	FinalError float64 `json:"final_error"` // shortest signed target - final, degrees
	Pulses     int     `json:"pulses"`
	DurationS  float64 `json:"duration_s"`
}

// ConnectResult is connect's result: the servo found.
type ConnectResult struct {
	Device       string   `json:"device"`
	Baudrate     int      `json:"baudrate"`
	MotorID      int      `json:"motor_id"`
	ModelNumber  uint16   `json:"model_number"`
	Model        string   `json:"model"`
	Firmware     int      `json:"firmware"`
	PositionDeg  float64  `json:"position_deg"`
	Speed        int      `json:"speed"`
	LatencyMS    float64  `json:"latency_timer_ms"`
	HardwareErrs []string `json:"hardware_error"`
}

// DisconnectResult is disconnect's result.
type DisconnectResult struct {
	Connected bool `json:"connected"`
}

// SpeedResult is set_speed's result.
type SpeedResult struct {
	Speed    int     `json:"speed"`
	SpeedRPM float64 `json:"speed_rpm"`
	SpeedDeg float64 `json:"speed_deg_s"`
}

// StopResult is stop's result. Interrupted is the id (or, without one, the
// command name) of the command it ended, or null.
type StopResult struct {
	Interrupted *string  `json:"interrupted"`
	Dropped     int      `json:"dropped"`
	PositionDeg *float64 `json:"position_deg,omitempty"`
	Note        string   `json:"note,omitempty"`
}

// EStopResult is emergency_stop's result. Torque is false once the servo
// confirmed torque off, null when the write failed (the agent repeats it).
type EStopResult struct {
	Torque         *bool   `json:"torque"`
	Latched        bool    `json:"latched"`
	Interrupted    *string `json:"interrupted"`
	Dropped        int     `json:"dropped"`
	PayloadIgnored string  `json:"payload_ignored,omitempty"`
}

// ResetResult is reset's result.
type ResetResult struct {
	WasLatched bool `json:"was_latched"`
	Torque     bool `json:"torque"`
}

// CancelResult is cancel's result: the command was "queued" or "running".
type CancelResult struct {
	CommandID string `json:"command_id"`
	Was       string `json:"was"`
}

// PositionResult is get_position's result.
type PositionResult struct {
	PositionDeg float64 `json:"position_deg"`
}

// ActiveHotelResult is get_active_hotel's result; Hotel is null between
// hotels.
type ActiveHotelResult struct {
	Hotel       *string `json:"hotel"`
	PositionDeg float64 `json:"position_deg"`
}

// EventsResult is get_events' result: the events, oldest first.
type EventsResult struct {
	Events []Event `json:"events"`
}

// LogLevelResult is set_log_level's result.
type LogLevelResult struct {
	Previous string `json:"previous"`
	Level    string `json:"level"`
}
