package bridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// maxReply bounds an agent reply; the largest legitimate one (health) is a
// few KiB.
const maxReply = 256 << 10

// agentReply is the agent's reply (topics.md "Replies"), decoded strictly
// enough that a run is never finished on a reply we misread.
type agentReply struct {
	ID        string          `json:"id"`
	Command   string          `json:"command"`
	Status    string          `json:"status"`
	Result    json.RawMessage `json:"result"`
	Error     *replyError     `json:"error"`
	Duplicate bool            `json:"duplicate"`
}

type replyError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errBadReply marks a reply the bridge could not understand; the run fails
// with this message instead of the bridge guessing.
var errBadReply = errors.New("unreadable reply from the device")

// decodeReply parses payload as a reply to command id/cmd.
func decodeReply(payload []byte, id, cmd string) (*agentReply, error) {
	if len(payload) > maxReply {
		return nil, fmt.Errorf("%w: %d bytes is more than the %d allowed", errBadReply, len(payload), maxReply)
	}
	if !utf8.Valid(payload) {
		return nil, fmt.Errorf("%w: not UTF-8", errBadReply)
	}
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object: %s", errBadReply, snippet(payload))
	}
	var r agentReply
	if err := json.Unmarshal(trimmed, &r); err != nil {
		return nil, fmt.Errorf("%w: %v: %s", errBadReply, err, snippet(payload))
	}
	if r.ID != id {
		return nil, fmt.Errorf("%w: reply is for command id %q, expected %q", errBadReply, clip(r.ID, 80), id)
	}
	if r.Command != cmd {
		return nil, fmt.Errorf("%w: reply is for command %q, expected %q", errBadReply, clip(r.Command, 80), cmd)
	}
	switch r.Status {
	case "ok":
	case "error":
		if r.Error == nil || r.Error.Code == "" {
			return nil, fmt.Errorf("%w: status error without an error code: %s", errBadReply, snippet(payload))
		}
		r.Error.Code = clip(r.Error.Code, 64)
		r.Error.Message = clip(r.Error.Message, 2000)
	default:
		return nil, fmt.Errorf("%w: status %q, want ok or error", errBadReply, clip(r.Status, 40))
	}
	return &r, nil
}

// snippet quotes the start of a payload for an error message.
func snippet(b []byte) string {
	const n = 120
	s := string(b)
	if !utf8.ValidString(s) {
		return fmt.Sprintf("(%d bytes, not UTF-8)", len(b))
	}
	return fmt.Sprintf("%q", clip(s, n))
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
