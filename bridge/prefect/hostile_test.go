package prefect_test

// Hostile and broken Prefect responses. A fake server is right here: a real
// Prefect never sends these, but a proxy, a crashed server or an attacker can.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

func fakeClient(t *testing.T, h http.HandlerFunc, mod ...func(*prefect.Config)) *prefect.Client {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	cfg := prefect.Config{APIURL: ts.URL + "/api", APIKey: "pnu_SECRETKEY123",
		Retry: prefect.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := prefect.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHostileResponses(t *testing.T) {
	cases := []struct {
		name   string
		status int
		ctype  string
		body   string
		check  func(error) bool
	}{
		{"malformed JSON", 200, "application/json", `{"id": "x", "state": `, func(err error) bool { return strings.Contains(err.Error(), "malformed response") }},
		{"wrong types", 200, "application/json", `{"id": 42, "run_count": "many", "state": []}`, func(err error) bool { return strings.Contains(err.Error(), "malformed response") }},
		{"array instead of object", 200, "application/json", `[1,2,3]`, func(err error) bool { return err != nil }},
		{"empty body", 200, "application/json", ``, func(err error) bool { return strings.Contains(err.Error(), "empty response") }},
		{"HTML error page", 502, "text/html", `<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><script>x</script></body></html>`,
			func(err error) bool {
				var ae *prefect.APIError
				return errors.As(err, &ae) && ae.Status == 502 && strings.Contains(ae.Detail, "Bad Gateway") && !strings.Contains(ae.Detail, "<")
			}},
		{"binary garbage 400", 400, "application/octet-stream", "\x00\xff\xfe\x01garbage\x1b[31m", func(err error) bool {
			var ae *prefect.APIError
			return errors.As(err, &ae) && ae.Status == 400 && !strings.ContainsAny(ae.Detail, "\x00\x1b")
		}},
		{"422 validation", 422, "application/json", `{"exception_message":"Invalid request received.","exception_detail":[{"loc":["body","state","timestamp"],"msg":"Extra inputs are not permitted"}],"request_body":{"private":"do-not-echo"}}`,
			func(err error) bool {
				var ae *prefect.APIError
				return errors.As(err, &ae) && strings.Contains(ae.Detail, "body.state.timestamp: Extra inputs") && !strings.Contains(err.Error(), "do-not-echo")
			}},
		{"detail as list", 404, "application/json", `{"detail":[{"loc":["path","id"],"msg":"bad uuid"}]}`, func(err error) bool {
			return prefect.IsNotFound(err) && strings.Contains(err.Error(), "path.id: bad uuid")
		}},
		{"huge detail clipped", 409, "application/json", `{"detail":"` + strings.Repeat("é", 5000) + `"}`, func(err error) bool {
			return prefect.IsConflict(err) && len(err.Error()) < 800
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeClient(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.ctype)
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			_, err := c.ReadFlowRun(context.Background(), "00000000-0000-0000-0000-000000000000")
			if err == nil || !tc.check(err) {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), "SECRETKEY") {
				t.Fatalf("secret in error: %v", err)
			}
		})
	}
}

func TestOversizedBodyIsAnError(t *testing.T) {
	c := fakeClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// An endless JSON string: the client must stop reading at its limit.
		fmt.Fprint(w, `{"id":"`)
		chunk := strings.Repeat("a", 64<<10)
		for range 64 {
			if _, err := fmt.Fprint(w, chunk); err != nil {
				return
			}
		}
	}, func(cfg *prefect.Config) { cfg.MaxResponseBytes = 1 << 20 })
	_, err := c.ReadFlowRun(context.Background(), "x")
	if !errors.Is(err, prefect.ErrResponseTooLarge) {
		t.Fatalf("err = %v, want ErrResponseTooLarge", err)
	}
}

func TestRetriesIdempotentCalls(t *testing.T) {
	var n atomic.Int32
	c := fakeClient(t, func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(500)
		case 2:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(429)
		default:
			fmt.Fprint(w, `{"id":"r1","state":{"type":"RUNNING","name":"Running"},"unknown_future_field":{"x":1}}`)
		}
	})
	fr, err := c.ReadFlowRun(context.Background(), "r1")
	if err != nil || fr.ID != "r1" || fr.State.Type != prefect.StateRunning || n.Load() != 3 {
		t.Fatalf("fr=%+v err=%v attempts=%d", fr, err, n.Load())
	}
}

func TestGivesUpAfterBoundedAttempts(t *testing.T) {
	var n atomic.Int32
	c := fakeClient(t, func(w http.ResponseWriter, r *http.Request) { n.Add(1); w.WriteHeader(503) })
	_, err := c.ReadFlowRun(context.Background(), "r1")
	if prefect.StatusOf(err) != 503 || n.Load() != 3 || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("err=%v attempts=%d", err, n.Load())
	}
}

func TestNonIdempotentCallsAreNotRetried(t *testing.T) {
	var n atomic.Int32
	c := fakeClient(t, func(w http.ResponseWriter, r *http.Request) { n.Add(1); w.WriteHeader(500) })
	err := c.CreateLogs(context.Background(), []prefect.Log{{Message: "x", FlowRunID: "r"}})
	if prefect.StatusOf(err) != 500 || n.Load() != 1 {
		t.Fatalf("err=%v attempts=%d", err, n.Load())
	}
}

// create_flow_run always carries an idempotency key (the caller's, or a
// fresh one), so retrying a 5xx can never create a second run: every
// attempt sends the same key.
func TestCreateFlowRunRetriesWithOneIdempotencyKey(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	c := fakeClient(t, func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			IdempotencyKey string `json:"idempotency_key"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		keys = append(keys, body.IdempotencyKey)
		mu.Unlock()
		w.WriteHeader(503)
	})
	_, err := c.CreateFlowRun(context.Background(), "d", prefect.FlowRunCreate{})
	mu.Lock()
	defer mu.Unlock()
	if err == nil || len(keys) != 3 || keys[0] == "" || keys[0] != keys[1] || keys[1] != keys[2] {
		t.Fatalf("err=%v keys=%q", err, keys)
	}
}

func TestSlowServerRespectsContext(t *testing.T) {
	release := make(chan struct{})
	c := fakeClient(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.ReadFlowRun(ctx, "r1")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("err=%v after %s", err, time.Since(start))
	}
}

func TestPerAttemptTimeout(t *testing.T) {
	var n atomic.Int32
	c := fakeClient(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			<-r.Context().Done() // first attempt hangs
			return
		}
		fmt.Fprint(w, `true`)
	}, func(cfg *prefect.Config) { cfg.Timeout = 50 * time.Millisecond })
	if err := c.Health(context.Background()); err != nil || n.Load() != 2 {
		t.Fatalf("err=%v attempts=%d", err, n.Load())
	}
}

func TestWaitIsObeyedThenAccepted(t *testing.T) {
	var n atomic.Int32
	var tids []string
	c := fakeClient(t, func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			State struct {
				StateDetails struct {
					TransitionID string `json:"transition_id"`
				} `json:"state_details"`
			} `json:"state"`
		}
		_ = jsonDecode(r, &body)
		tids = append(tids, body.State.StateDetails.TransitionID)
		if n.Add(1) == 1 {
			fmt.Fprint(w, `{"status":"WAIT","details":{"type":"wait_details","delay_seconds":0.05,"reason":"scheduled in future"},"state":null}`)
			return
		}
		fmt.Fprint(w, `{"status":"ACCEPT","details":{"type":"accept_details"},"state":{"type":"RUNNING","name":"Running"}}`)
	})
	start := time.Now()
	r, err := c.ProposeState(context.Background(), "r1", prefect.Running())
	if err != nil || r.Status != prefect.Accept || n.Load() != 2 || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("r=%+v err=%v attempts=%d", r, err, n.Load())
	}
	if len(tids) != 2 || tids[0] == "" || tids[0] == tids[1] {
		t.Fatalf("each proposal needs a fresh transition id: %q", tids)
	}
}

func TestUnknownOrchestrationStatusIsAnError(t *testing.T) {
	c := fakeClient(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":"MAYBE"}`) })
	if _, err := c.SetFlowRunState(context.Background(), "r1", prefect.Running(), false); err == nil {
		t.Fatal("unknown status accepted")
	}
}

func TestRequestShapeAndHeaders(t *testing.T) {
	var got *http.Request
	var body string
	c := fakeClient(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		b := new(strings.Builder)
		_, _ = fmt.Fprint(b, readAll(r))
		body = b.String()
		fmt.Fprint(w, `{"status":"ACCEPT","details":{},"state":null}`)
	})
	if _, err := c.SetFlowRunState(context.Background(), "r1", prefect.Pending(), false); err != nil {
		t.Fatal(err)
	}
	if got.URL.Path != "/api/flow_runs/r1/set_state" || got.Header.Get("Authorization") != "Bearer pnu_SECRETKEY123" ||
		strings.HasPrefix(got.Header.Get("User-Agent"), "prefect/") {
		t.Fatalf("path %s headers %v", got.URL.Path, got.Header)
	}
	// StateCreate is extra="forbid": no timestamp/id/data/message keys when unset.
	for _, forbidden := range []string{"timestamp", `"id"`, "data", "message", "worker_id"} {
		if strings.Contains(body, forbidden) {
			t.Fatalf("body contains %s: %s", forbidden, body)
		}
	}
	if !strings.Contains(body, `"type":"PENDING","name":"Pending"`) || !strings.Contains(body, `"transition_id":"`) {
		t.Fatalf("body %s", body)
	}
}

// A retried set_state whose first try was accepted comes back REJECT with
// our own transition id (PreventDuplicateTransitions): that is an ACCEPT.
// A REJECT with another transition (someone else's state) stays a REJECT.
func TestDuplicateTransitionRejectIsOurAccept(t *testing.T) {
	for _, own := range []bool{true, false} {
		c := fakeClient(t, func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				State struct {
					StateDetails struct {
						TransitionID string `json:"transition_id"`
					} `json:"state_details"`
				} `json:"state"`
			}
			_ = json.NewDecoder(r.Body).Decode(&body)
			tid := body.State.StateDetails.TransitionID
			if !own {
				tid = "someone-else"
			}
			fmt.Fprintf(w, `{"status":"REJECT","details":{"type":"reject_details","reason":"duplicate"},"state":{"type":"RUNNING","name":"Running","state_details":{"transition_id":%q}}}`, tid)
		})
		res, err := c.ProposeState(context.Background(), "r1", prefect.Running())
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]prefect.OrchestrationStatus{true: prefect.Accept, false: prefect.Reject}[own]; res.Status != want {
			t.Fatalf("own=%v: status %s, want %s", own, res.Status, want)
		}
	}
}
