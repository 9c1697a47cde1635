package prefect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// EndpointClass names a call without its ids, so metrics have a bounded
// set of label values: "POST /flow_runs/{id}/set_state",
// "POST /work_pools/{name}/get_scheduled_flow_runs", "GET /flows/name/{name}".
func EndpointClass(method, path string) string {
	path, _, _ = strings.Cut(path, "?")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i := 1; i < len(segs); i++ {
		switch prev := segs[i-1]; {
		case prev == "name":
			segs[i] = "{name}"
			for j := i + 1; j < len(segs); j++ {
				segs[j] = "{name}" // deployments/name/{flow}/{deployment}
			}
			i = len(segs)
		case prev == "work_pools" && segs[i] != "filter":
			segs[i] = "{name}"
		case (prev == "flow_runs" || prev == "deployments" || prev == "flows") && looksLikeID(segs[i]):
			segs[i] = "{id}"
		}
	}
	return method + " /" + strings.Join(segs, "/")
}

// looksLikeID: a UUID (Prefect's ids), never a fixed path word.
func looksLikeID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if r != '-' {
				return false
			}
		} else if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// call describes one REST call. Path is below the API URL and starts with "/".
type call struct {
	method     string
	path       string
	body       any  // marshalled as JSON when non-nil
	out        any  // decoded from a 2xx JSON body when non-nil
	idempotent bool // safe to retry on 5xx/429/connection errors
}

// do runs c with bounded retries and returns *APIError for non-2xx answers.
func (cl *Client) do(ctx context.Context, c call) error {
	var payload []byte
	if c.body != nil {
		var err error
		if payload, err = json.Marshal(c.body); err != nil {
			return fmt.Errorf("prefect: %s %s: encode request: %w", c.method, c.path, err)
		}
	}
	attempts := 1
	if c.idempotent {
		attempts = cl.retry.MaxAttempts
	}
	var lastErr error
	for n := 1; ; n++ {
		began := time.Now()
		resp, body, err := cl.once(ctx, c, payload)
		if cl.observe != nil {
			st := 0
			if resp != nil {
				st = resp.StatusCode
			}
			cl.observe(EndpointClass(c.method, c.path), st, time.Since(began))
		}
		if err == nil && resp.StatusCode/100 == 2 {
			return cl.decode(c, body)
		}
		if err == nil {
			lastErr = &APIError{Status: resp.StatusCode, Method: c.method, Path: c.path, Detail: extractDetail(body)}
			if !retryableStatus(resp.StatusCode) {
				return lastErr
			}
		} else {
			lastErr = err
			if ctx.Err() != nil || errors.Is(err, ErrResponseTooLarge) {
				return err
			}
		}
		if n >= attempts {
			if attempts > 1 {
				return fmt.Errorf("%w (gave up after %d attempts)", lastErr, n)
			}
			return lastErr
		}
		if err := sleepCtx(ctx, cl.retry.delay(n, resp)); err != nil {
			return fmt.Errorf("%w (retry interrupted: %w)", lastErr, err)
		}
	}
}

// once performs a single attempt, reading at most maxBytes of the body.
func (cl *Client) once(ctx context.Context, c call, payload []byte) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, cl.timeout)
	defer cancel()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, c.method, cl.base.String()+c.path, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("prefect: %s %s: build request: %w", c.method, c.path, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", cl.ua)
	if cl.authz != "" {
		req.Header.Set("Authorization", cl.authz)
	}
	resp, err := cl.hc.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("prefect: %s %s: %w", c.method, c.path, unwrapURLError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, cl.maxBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("prefect: %s %s: read response: %w", c.method, c.path, unwrapURLError(err))
	}
	if int64(len(body)) > cl.maxBytes {
		return resp, nil, fmt.Errorf("prefect: %s %s: %w (over %d bytes)", c.method, c.path, ErrResponseTooLarge, cl.maxBytes)
	}
	return resp, body, nil
}

// decode fills c.out from a 2xx body. Unknown fields are ignored on purpose:
// newer Prefect servers add response fields (docs/prefect.md §14.2).
func (cl *Client) decode(c call, body []byte) error {
	if c.out == nil {
		return nil
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return fmt.Errorf("prefect: %s %s: empty response body, expected JSON", c.method, c.path)
	}
	if err := json.Unmarshal(body, c.out); err != nil {
		return fmt.Errorf("prefect: %s %s: malformed response (%s): %w", c.method, c.path, clip(plainText(body)), err)
	}
	return nil
}

// unwrapURLError drops *url.Error's wrapper, which repeats the full request
// URL; our own message already names method and path.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
