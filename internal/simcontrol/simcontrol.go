// Package simcontrol is the run-time fault API of the simulated servo
// (`plate-resort sim --control`): HTTP on loopback, JSON state out.
package simcontrol

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
)

// Adapter is the part of a PTY the control API needs (nil when the servo is
// not on a pty).
type Adapter interface {
	Unplug() error
	Replug() error
	Path() string
}

// Handler is the run-time fault interface of `plate-resort sim
// --control`: POST /fault/{overload,overheat,unplug,replug,silent?on=,
// corrupt?n=,stall?deg=&on=} and GET /state (JSON). It is meant for
// loopback only; it has no authentication.
func Handler(s *sim.Servo, ad Adapter) http.Handler {
	mux := http.NewServeMux()
	post := func(path string, fn func(r *http.Request) error) {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			if err := fn(r); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			writeState(w, s, ad)
		})
	}
	post("/fault/overload", func(*http.Request) error { s.TriggerOverload(); return nil })
	post("/fault/overheat", func(*http.Request) error { s.TriggerOverheat(); return nil })
	post("/fault/unplug", func(*http.Request) error {
		if ad == nil {
			return fmt.Errorf("not on a pty: nothing to unplug")
		}
		return ad.Unplug()
	})
	post("/fault/replug", func(*http.Request) error {
		if ad == nil {
			return fmt.Errorf("not on a pty: nothing to replug")
		}
		return ad.Replug()
	})
	post("/fault/silent", func(r *http.Request) error {
		on, err := boolParam(r, "on", true)
		if err != nil {
			return err
		}
		s.SetUnplugged(on)
		return nil
	})
	post("/fault/corrupt", func(r *http.Request) error {
		n := 1
		if v := r.URL.Query().Get("n"); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < 0 || n > 1000000 {
				return fmt.Errorf("n=%q: want a count from 0 to 1000000", v)
			}
		}
		s.CorruptNextReplies(n)
		return nil
	})
	post("/fault/stall", func(r *http.Request) error {
		v := r.URL.Query().Get("deg")
		d, err := strconv.ParseFloat(v, 64)
		if err != nil || d != d || d > 1e6 || d < -1e6 {
			return fmt.Errorf("deg=%q: want an angle in degrees, e.g. deg=120", v)
		}
		on, err := boolParam(r, "on", true)
		if err != nil {
			return err
		}
		s.StallAt(xseries.Degrees(d), on)
		return nil
	})
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) { writeState(w, s, ad) })
	return mux
}

func boolParam(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, v)
	}
	return b, nil
}

// stateJSON is GET /state: the simulated servo's physical state.
type stateJSON struct {
	PositionDeg   float64  `json:"position_deg"` // may be outside 0..360 after turns
	GoalDeg       float64  `json:"goal_deg"`
	Torque        bool     `json:"torque"`
	Mode          int      `json:"mode"`
	GoalPWM       int      `json:"goal_pwm"`
	HardwareError int      `json:"hardware_error"`
	TemperatureC  float64  `json:"temperature_c"`
	CurrentMA     float64  `json:"current_ma"`
	VoltageV      float64  `json:"voltage_v"`
	Moving        bool     `json:"moving"`
	Pushing       bool     `json:"pushing"` // pressing against a stall obstacle with torque on
	Unplugged     bool     `json:"unplugged"`
	ID            byte     `json:"id"`
	HWErrorNames  []string `json:"hardware_error_names"`
	Port          string   `json:"port,omitempty"`
}

func writeState(w http.ResponseWriter, s *sim.Servo, ad Adapter) {
	st := s.Snapshot()
	out := stateJSON{
		PositionDeg: float64(st.Position), GoalDeg: float64(st.Goal), Torque: st.Torque, Mode: st.Mode,
		GoalPWM: st.GoalPWM, HardwareError: int(st.HWError), TemperatureC: st.TemperatureC,
		CurrentMA: st.CurrentMA, VoltageV: st.VoltageV, Moving: st.Moving, Pushing: st.Pushing,
		Unplugged: st.Unplugged, ID: st.ID, HWErrorNames: st.HWError.Names(),
	}
	if ad != nil {
		out.Port = ad.Path()
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
