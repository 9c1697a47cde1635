package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on what a payload may carry.
const (
	MaxPayload  = 16 << 10 // bytes; the largest legitimate command is well under 1 KiB
	MaxIDLen    = 128
	MaxTopicLen = 256
	MaxTTL      = 24 * time.Hour
)

// Request is a parsed, fully validated command.
type Request struct {
	Command string
	Spec    *Spec
	// ID is the caller's command id ("" when none): used for dedupe,
	// correlation and cancel.
	ID string
	// Params are the validated parameters with defaults applied: strings,
	// float64, int, bool, or nested map[string]any.
	Params map[string]any
	// ExpiresAt is when the command goes stale (zero: never).
	ExpiresAt time.Time
	// ReplyTo is the body's reply_to topic for MQTT 3.1.1 callers.
	ReplyTo string
	// LockID is the common field lock_id ("" when none): the identifier of
	// the lock the caller holds (lock.go).
	LockID string
}

// Parse reads payload as the command name on topic, at time now. On error
// the returned Request still carries whatever id could be read, so the
// error reply can echo it.
func (c *Catalog) Parse(name string, payload []byte, now time.Time) (*Request, *Error) {
	req := &Request{Command: name}
	spec, ok := c.Lookup(name)
	if !ok {
		return req, Errorf(CodeUnknownCommand, "unknown command %q; the command list is in the retained info topic", truncate(name, 64))
	}
	req.Spec = spec
	if len(payload) > MaxPayload {
		return req, Errorf(CodeBadRequest, "payload is %d bytes; at most %d allowed", len(payload), MaxPayload)
	}
	if !utf8.Valid(payload) {
		return req, Errorf(CodeBadRequest, "payload is not valid UTF-8")
	}
	body := bytes.TrimSpace(payload)
	var raw map[string]any
	switch {
	case len(body) == 0:
		raw = map[string]any{}
	case body[0] == '{':
		v, err := decodeStrict(body)
		if err != nil {
			return req, Errorf(CodeBadRequest, "%v", err)
		}
		raw = v.(map[string]any)
	default:
		if spec.Bare == "" {
			return req, Errorf(CodeBadRequest, "%s takes a JSON object or an empty payload, not a bare value", name)
		}
		v, err := bareValue(spec.Params.Properties[spec.Bare], string(body))
		if err != nil {
			return req, Errorf(CodeBadRequest, "bare value for %s: %v", spec.Bare, err)
		}
		raw = map[string]any{spec.Bare: v}
	}
	if err := req.takeMeta(raw, now); err != nil {
		return req, err
	}
	if _, ok := spec.Params.Properties[LockIDField]; ok && req.LockID != "" {
		// lock and unlock name lock_id in their schema (required there):
		// it goes back for the schema to see, already checked.
		raw[LockIDField] = req.LockID
	}
	v, err := spec.Params.validate("", raw)
	if err != nil {
		return req, Errorf(CodeInvalidArg, "%s: %v", name, err)
	}
	req.Params = v.(map[string]any)
	for k, ps := range spec.Params.Properties {
		if _, ok := req.Params[k]; !ok && ps.Default != nil {
			req.Params[k] = ps.Default
		}
	}
	return req, nil
}

// bareValue reads a bare scalar: a JSON literal ("A", 90, true) or, for a
// string parameter, the plain text (A).
func bareValue(s *Schema, text string) (any, error) {
	v, err := decodeStrict([]byte(text))
	if err == nil {
		switch v.(type) {
		case map[string]any, []any:
			return nil, fmt.Errorf("must be a single value")
		}
		return v, nil
	}
	if s.Type != "string" {
		return nil, fmt.Errorf("%q is not a number", truncate(text, 32))
	}
	for _, r := range text {
		if !unicode.IsPrint(r) {
			return nil, fmt.Errorf("contains a control character")
		}
	}
	return text, nil
}

// takeMeta removes and checks the fields every command may carry: id,
// lock_id, expires_at, ttl_s and reply_to.
func (r *Request) takeMeta(m map[string]any, now time.Time) *Error {
	for _, f := range []struct {
		name string
		to   *string
	}{{"id", &r.ID}, {LockIDField, &r.LockID}} {
		v, ok := m[f.name]
		if !ok {
			continue
		}
		delete(m, f.name)
		id, err := identifier(f.name, v)
		if err != nil {
			return err
		}
		*f.to = id
	}
	expAt, hasExp := m["expires_at"]
	ttl, hasTTL := m["ttl_s"]
	delete(m, "expires_at")
	delete(m, "ttl_s")
	if hasExp && hasTTL {
		return Errorf(CodeBadRequest, "give expires_at or ttl_s, not both")
	}
	if hasExp {
		s, ok := expAt.(string)
		if !ok {
			return Errorf(CodeBadRequest, "expires_at must be an RFC 3339 time string such as 2026-01-02T15:04:05Z")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return Errorf(CodeBadRequest, "expires_at %q is not an RFC 3339 time (example: 2026-01-02T15:04:05Z)", truncate(s, 40))
		}
		r.ExpiresAt = t
	}
	if hasTTL {
		n, ok := ttl.(json.Number)
		f, err := n.Float64()
		if !ok || err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 || f > MaxTTL.Seconds() {
			return Errorf(CodeBadRequest, "ttl_s must be a number of seconds above 0 and at most %g", MaxTTL.Seconds())
		}
		r.ExpiresAt = now.Add(time.Duration(f * float64(time.Second)))
	}
	if v, ok := m["reply_to"]; ok {
		delete(m, "reply_to")
		s, ok := v.(string)
		if !ok {
			return Errorf(CodeBadRequest, "reply_to must be a topic string")
		}
		if err := ValidTopic(s); err != nil {
			return Errorf(CodeBadRequest, "reply_to: %v", err)
		}
		r.ReplyTo = s
	}
	return nil
}

// identifier reads an id or lock_id: a string (or a number, kept as its
// literal: numeric ids are common in scripts) of 1 to MaxIDLen printable
// characters.
func identifier(name string, v any) (string, *Error) {
	var id string
	switch t := v.(type) {
	case string:
		id = t
	case json.Number:
		id = t.String()
	default:
		return "", Errorf(CodeBadRequest, "%s must be a string, got %s", name, typeName(v))
	}
	if id == "" || len(id) > MaxIDLen {
		return "", Errorf(CodeBadRequest, "%s must be 1 to %d characters", name, MaxIDLen)
	}
	for _, c := range id {
		if !unicode.IsPrint(c) {
			return "", Errorf(CodeBadRequest, "%s contains a control character", name)
		}
	}
	return id, nil
}

// ValidTopic checks a topic the agent is asked to publish to: no wildcards,
// no $-topics, no NUL, bounded length [MQTT 5 §4.7].
func ValidTopic(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("empty topic")
	case len(t) > MaxTopicLen:
		return fmt.Errorf("topic longer than %d bytes", MaxTopicLen)
	case strings.ContainsAny(t, "+#\x00"):
		return fmt.Errorf("topic %q contains a wildcard or NUL", truncate(t, 64))
	case strings.HasPrefix(t, "$"):
		return fmt.Errorf("topic %q is a $-topic", truncate(t, 64))
	}
	return nil
}

// Expired reports whether the request has gone stale at now.
func (r *Request) Expired(now time.Time) bool {
	return !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt)
}

// String returns the parameter, if any, as a string.
func (r *Request) String(k string) string { s, _ := r.Params[k].(string); return s }

// Float returns a number parameter.
func (r *Request) Float(k string) (float64, bool) {
	switch v := r.Params[k].(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	}
	return 0, false
}

// Int returns an integer parameter.
func (r *Request) Int(k string) (int, bool) { v, ok := r.Params[k].(int); return v, ok }

// Bool returns a boolean parameter (defaults applied by Parse).
func (r *Request) Bool(k string) bool { v, _ := r.Params[k].(bool); return v }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
