package bridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/plate-resort/plate-resort/bridge/prefect"
	"github.com/plate-resort/plate-resort/contract"
)

// shapeResult turns the agent's result into the Completed data Python's
// state.result() returns (docs/prefect.md §7, bridge/prefect doc "Result data contract"):
// the upstream flows returned a dict for activate-hotel and health and the
// angle as a float for get-position.
func shapeResult(def *flowDef, raw json.RawMessage) (any, error) {
	trimmed := bytes.TrimSpace(raw)
	if def.Result == resultAngle {
		// Not contract.PositionResult: its angle is no pointer, and a
		// missing one must fail the run, not read as 0°.
		var r struct {
			PositionDeg *float64 `json:"position_deg"`
		}
		if len(trimmed) == 0 || trimmed[0] != '{' || json.Unmarshal(trimmed, &r) != nil || r.PositionDeg == nil ||
			math.IsNaN(*r.PositionDeg) || math.IsInf(*r.PositionDeg, 0) {
			return nil, fmt.Errorf("%w: %s result has no numeric position_deg: %s", contract.ErrBadReply, def.Command, contract.Snippet(raw))
		}
		return *r.PositionDeg, nil
	}
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		// Never null: result() would raise MissingResult for a run that
		// succeeded.
		return map[string]any{"command": def.Command, "ok": true}, nil
	}
	if !json.Valid(trimmed) {
		return nil, fmt.Errorf("%w: result is not JSON: %s", contract.ErrBadReply, contract.Snippet(raw))
	}
	if prefect.CheckResultData(trimmed) != nil {
		// A key Python would misread (storage_key, type, artifact_*): wrap.
		return map[string]json.RawMessage{"result": trimmed}, nil
	}
	return json.RawMessage(trimmed), nil
}
