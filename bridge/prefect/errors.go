package prefect

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
)

// APIError is a non-2xx answer from Prefect. Detail is Prefect's own message
// (the "detail" field, or the validation messages of a 422), safe to show a user.
type APIError struct {
	Status int    // HTTP status code
	Method string // e.g. POST
	Path   string // path below the API URL, e.g. /work_pools/
	Detail string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("prefect: %s %s: %d %s", e.Method, e.Path, e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Status == http.StatusUnauthorized {
		msg += " (check PREFECT_API_KEY / PREFECT_API_AUTH_STRING)"
	}
	return msg
}

// StatusOf returns the HTTP status of an *APIError in err's chain, or 0.
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// IsNotFound reports whether err is a 404 from Prefect.
func IsNotFound(err error) bool { return StatusOf(err) == http.StatusNotFound }

// IsConflict reports whether err is a 409 from Prefect (duplicate name, or a
// parameter refused by the deployment's schema, docs/prefect.md §8).
func IsConflict(err error) bool { return StatusOf(err) == http.StatusConflict }

// ErrResponseTooLarge is returned when a body exceeds Config.MaxResponseBytes.
var ErrResponseTooLarge = errors.New("prefect: response body too large")

// maxDetail keeps an error message readable when a proxy returns a whole page.
const maxDetail = 300

// extractDetail pulls a human message out of an error body. Prefect answers
// {"detail": "..."} for HTTPException and, for 422, {"exception_message": ...,
// "exception_detail": [{"loc": [...], "msg": "..."}], "request_body": ...}
// (server/api/server.py validation handler). request_body is deliberately
// never echoed: it may hold parameters the user considers private.
func extractDetail(body []byte) string {
	var e struct {
		Detail           json.RawMessage `json:"detail"`
		ExceptionMessage string          `json:"exception_message"`
		ExceptionDetail  json.RawMessage `json:"exception_detail"`
	}
	if json.Unmarshal(body, &e) == nil {
		var s string
		if len(e.Detail) > 0 && json.Unmarshal(e.Detail, &s) == nil {
			return clip(s)
		}
		if v := validationMessages(e.Detail); v != "" {
			return clip(v)
		}
		if v := validationMessages(e.ExceptionDetail); v != "" {
			if e.ExceptionMessage != "" {
				return clip(e.ExceptionMessage + " " + v)
			}
			return clip(v)
		}
		if e.ExceptionMessage != "" {
			return clip(e.ExceptionMessage)
		}
	}
	return clip(plainText(body))
}

// validationMessages renders FastAPI/pydantic error lists as "loc: msg; ...".
func validationMessages(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var items []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw, &items) != nil {
		return ""
	}
	parts := make([]string, 0, len(items))
	for _, it := range items {
		loc := make([]string, 0, len(it.Loc))
		for _, l := range it.Loc {
			loc = append(loc, fmt.Sprint(l))
		}
		parts = append(parts, strings.Join(loc, ".")+": "+it.Msg)
	}
	return strings.Join(parts, "; ")
}

// plainText turns an arbitrary (possibly HTML or binary) body into one short
// printable line: tags dropped, whitespace collapsed, control bytes removed.
func plainText(body []byte) string {
	if len(body) > 4*maxDetail {
		body = body[:4*maxDetail]
	}
	var b strings.Builder
	inTag, space := false, false
	for _, r := range strings.ToValidUTF8(string(body), "?") {
		switch {
		case r == '<':
			inTag = true
		case r == '>' && inTag:
			inTag = false
			space = true
		case inTag:
		case unicode.IsSpace(r):
			space = true
		case unicode.IsPrint(r):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(r)
		}
	}
	return b.String()
}

// clip makes s one printable line of at most maxDetail bytes: every
// detail, from a JSON field or a page, reaches a run's log and a user's
// terminal, so control characters (DEL included) are dropped and other
// whitespace becomes a space.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsPrint(r):
			return r
		case unicode.IsSpace(r):
			return ' '
		}
		return -1
	}, strings.ToValidUTF8(s, "?"))
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
