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

// AppendJSON appends r encoded exactly as encoding/json encodes it (the
// tests hold the two to the same bytes). The agent encodes a reply per
// command, and encoding/json's reflection, three time.Time MarshalJSON
// calls and compaction of their output were about a tenth of its CPU per
// get_position (pprof). Whatever this encoder cannot be sure of (strings
// or a result that need escaping, times not in UTC or outside years
// 0-9999) is handed to encoding/json.
func (r *Reply) AppendJSON(b []byte) ([]byte, error) {
	start := len(b)
	ok := true
	b = append(b, `{"id":`...)
	if r.ID == nil {
		b = append(b, "null"...)
	} else {
		b, ok = appendPlain(b, *r.ID, ok)
	}
	b = append(b, `,"command":`...)
	b, ok = appendPlain(b, r.Command, ok)
	b = append(b, `,"status":`...)
	b, ok = appendPlain(b, r.Status, ok)
	b = append(b, `,"result":`...)
	switch {
	case r.Result == nil:
		b = append(b, "null"...)
	case compactJSON(r.Result):
		b = append(b, r.Result...)
	default:
		ok = false
	}
	b = append(b, `,"error":`...)
	if r.Error == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, `{"code":`...)
		b, ok = appendPlain(b, string(r.Error.Code), ok)
		b = append(b, `,"message":`...)
		b, ok = appendPlain(b, r.Error.Message, ok)
		b = append(b, '}')
	}
	b = append(b, `,"received_at":`...)
	b, ok = appendTime(b, r.ReceivedAt, ok)
	b = append(b, `,"started_at":`...)
	if r.StartedAt == nil {
		b = append(b, "null"...)
	} else {
		b, ok = appendTime(b, *r.StartedAt, ok)
	}
	b = append(b, `,"finished_at":`...)
	b, ok = appendTime(b, r.FinishedAt, ok)
	if r.Duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	b = append(b, '}')
	if ok {
		return b, nil
	}
	raw, err := json.Marshal(r)
	return append(b[:start], raw...), err
}

// appendPlain appends s quoted when it needs no escaping (plainJSON), and
// reports false otherwise.
func appendPlain(b []byte, s string, ok bool) ([]byte, bool) {
	if !ok || !plainJSON(s) {
		return b, false
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// appendTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds) for a UTC time in years 0-9999, and reports false
// otherwise.
func appendTime(b []byte, t time.Time, ok bool) ([]byte, bool) {
	if y := t.Year(); !ok || y < 0 || y > 9999 || t.Location() != time.UTC {
		return b, false
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), true
}

// plainJSON says whether s encodes as itself between quotes: printable
// ASCII without '"', '\\' and the characters encoding/json escapes for
// HTML ('<', '>', '&').
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7F || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// compactJSON says whether raw is valid JSON that encoding/json would copy
// unchanged: no insignificant white space, nothing it escapes.
func compactJSON(raw []byte) bool {
	if !json.Valid(raw) {
		return false
	}
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c >= 0x7F || c == '<' || c == '>' || c == '&':
			return false
		case inString && c == '\\':
			i++ // an escape sequence: its next byte is never the end of the string
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}
