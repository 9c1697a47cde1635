package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Reply statuses.
const (
	StatusOK    = "ok"
	StatusError = "error"
)

// Reply is the payload on <base>/reply/<command> and on a caller's
// response topic (topics.md, "Replies").
type Reply struct {
	ID         *string         `json:"id"`
	Command    string          `json:"command"`
	Status     string          `json:"status"` // StatusOK or StatusError
	Result     json.RawMessage `json:"result"`
	Error      *Error          `json:"error"`
	ReceivedAt time.Time       `json:"received_at"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt time.Time       `json:"finished_at"`
	// Duplicate marks a stored reply sent again for a repeated command id.
	Duplicate bool `json:"duplicate,omitempty"`
}

// IDString is the reply's id, "" when it has none.
func (r *Reply) IDString() string {
	if r.ID == nil {
		return ""
	}
	return *r.ID
}

// MaxReply bounds a reply a client accepts; the largest legitimate one
// (health) is a few KiB.
const MaxReply = 256 << 10

// ErrBadReply marks a reply that could not be understood; a caller fails
// the command with this message instead of guessing.
var ErrBadReply = errors.New("unreadable reply from the device")

// DecodeReply parses payload strictly as the reply to command cmd with id:
// a caller must never finish a command on a reply it misread. Error code
// and message are clipped so a hostile reply cannot flood a log.
func DecodeReply(payload []byte, id, cmd string) (*Reply, error) {
	if len(payload) > MaxReply {
		return nil, fmt.Errorf("%w: %d bytes is more than the %d allowed", ErrBadReply, len(payload), MaxReply)
	}
	if !utf8.Valid(payload) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrBadReply)
	}
	trimmed := bytes.TrimSpace(payload)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: not a JSON object: %s", ErrBadReply, Snippet(payload))
	}
	var r Reply
	if err := json.Unmarshal(trimmed, &r); err != nil {
		return nil, fmt.Errorf("%w: %v: %s", ErrBadReply, err, Snippet(payload))
	}
	if got := r.IDString(); got != id {
		return nil, fmt.Errorf("%w: reply is for command id %q, expected %q", ErrBadReply, truncate(got, 80), id)
	}
	if r.Command != cmd {
		return nil, fmt.Errorf("%w: reply is for command %q, expected %q", ErrBadReply, truncate(r.Command, 80), cmd)
	}
	switch r.Status {
	case StatusOK:
	case StatusError:
		if r.Error == nil || r.Error.Code == "" {
			return nil, fmt.Errorf("%w: status error without an error code: %s", ErrBadReply, Snippet(payload))
		}
		r.Error.Code = Code(truncate(string(r.Error.Code), 64))
		r.Error.Message = truncate(r.Error.Message, 2000)
	default:
		return nil, fmt.Errorf("%w: status %q, want ok or error", ErrBadReply, truncate(r.Status, 40))
	}
	return &r, nil
}

// Snippet quotes the start of a payload for an error message.
func Snippet(b []byte) string {
	if !utf8.Valid(b) {
		return fmt.Sprintf("(%d bytes, not UTF-8)", len(b))
	}
	return fmt.Sprintf("%q", truncate(string(b), 120))
}

// Clip cuts s to at most n bytes on a rune boundary, marking the cut.
func Clip(s string, n int) string { return truncate(s, n) }
