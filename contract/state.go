package contract

import "time"

// State is the retained <base>/state payload: republished on change and at
// ≥ 5 Hz while a move runs.
type State struct {
	Connected   bool     `json:"connected"`
	Torque      bool     `json:"torque"`
	Moving      bool     `json:"moving"`
	PositionDeg *float64 `json:"position_deg"`
	ActiveHotel *string  `json:"active_hotel"`
	Target      *Target  `json:"target"`
	Speed       int      `json:"speed"`
	EStop       bool     `json:"estop"`
	Busy        *Busy    `json:"busy"`
	Queue       int      `json:"queue"`
	// Lock is who holds the carousel and until when (null: unlocked).
	Lock      *LockState `json:"lock"`
	UpdatedAt string     `json:"updated_at"`
}

// Target is the goal of the move that is running or last ran.
type Target struct {
	Hotel *string `json:"hotel"`
	Angle float64 `json:"angle"`
}

// Busy names the command running now.
type Busy struct {
	ID        *string   `json:"id"`
	Command   string    `json:"command"`
	StartedAt time.Time `json:"started_at"`
}
