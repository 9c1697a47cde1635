package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/plate-resort/plate-resort/bridge/prefect"
)

// fakeRegistry is the part of the Prefect API registration uses. Its
// deployment upserts take a few milliseconds (so that overlapping ones are
// seen) and, once armed, it refuses every attempt at one upsert with 503
// (the first it sees) refuse times.
type fakeRegistry struct {
	inFlight atomic.Int32
	mu       sync.Mutex
	maxAt    int32 // most upserts at once
	refuse   int   // 503s left for the refused upsert
	refused  string
	tired    time.Time       // when the refused upsert got its last 503
	upserted map[string]bool // flow id + "/" + name
	// first and last upsert of each device (its tag)
	first, last map[string]time.Time
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	_ = json.NewDecoder(r.Body).Decode(&body)
	w.Header().Set("Content-Type", "application/json")
	p := strings.TrimPrefix(r.URL.Path, "/api")
	switch {
	case p == "/deployments/filter":
		_, _ = w.Write([]byte(`[]`))
	case p == "/flows/":
		fmt.Fprintf(w, `{"id":"flow-%s","name":"%s"}`, body["name"], body["name"])
	case strings.HasSuffix(p, "/queues"):
		fmt.Fprintf(w, `{"id":"q-%s","name":"%s","concurrency_limit":1}`, body["name"], body["name"])
	case p == "/deployments/":
		n := f.inFlight.Add(1)
		defer f.inFlight.Add(-1)
		time.Sleep(5 * time.Millisecond)
		key := fmt.Sprintf("%s/%s", body["flow_id"], body["name"])
		dev := fmt.Sprint(body["tags"].([]any)[1])
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.refuse > 0 && (f.refused == "" || f.refused == key) {
			f.refused = key
			if f.refuse--; f.refuse == 0 {
				f.tired = time.Now()
			}
			http.Error(w, `{"exception_message":"Service Unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		f.maxAt = max(f.maxAt, n)
		now := time.Now()
		if _, ok := f.first[dev]; !ok {
			f.first[dev] = now
		}
		f.last[dev] = now
		f.upserted[key] = true
		fmt.Fprintf(w, `{"id":"dep-%s","name":"%s","flow_id":"%s"}`, key, body["name"], body["flow_id"])
	default:
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	}
}

// Devices register a few at a time; a device Prefect refuses with 503
// through all the client's retries is tried again in the same pass, and
// the rest of the pass goes one device at a time. Nothing is left out.
func TestRegisterDevicesBusyServerOneAtATime(t *testing.T) {
	f := &fakeRegistry{upserted: map[string]bool{}, first: map[string]time.Time{}, last: map[string]time.Time{}}
	ts := httptest.NewServer(f)
	defer ts.Close()
	cfg := Defaults()
	cfg.Prefect = PrefectConfig{APIURL: ts.URL + "/api"}
	cfg.WorkPool = "pool-register"
	cfg.Devices = nil
	for i := range 20 {
		cfg.Devices = append(cfg.Devices, fmt.Sprintf("resort-%d", i+1))
	}
	b, err := New(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	// The client's retries without their waits (a busy server is the point).
	fast := cfg.prefectConfig()
	fast.Retry = prefect.RetryPolicy{MaxAttempts: 5, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}
	if b.pc, err = prefect.New(fast); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// A first pass with a healthy server registers devices at once.
	if errs := b.registerDevices(ctx, cfg.Devices[:6], true); len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	if f.maxAt < 2 {
		t.Errorf("at most %d upserts at once, want devices registering in parallel", f.maxAt)
	}
	// The next one meets a server that refuses one upsert through every
	// attempt of the client (5).
	f.mu.Lock()
	f.refuse = 5
	f.mu.Unlock()
	if errs := b.registerDevices(ctx, cfg.Devices[6:], true); len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tired.IsZero() {
		t.Fatal("no upsert was refused 5 times")
	}
	// Devices started after that went one at a time (the ones already
	// under way finish as they were).
	var after []string
	for dev, at := range f.first {
		if at.After(f.tired) {
			after = append(after, dev)
		}
	}
	if len(after) < 2 {
		t.Fatalf("devices registered after the refusals: %v, want the refused one and others", after)
	}
	slices.SortFunc(after, func(a, b string) int { return f.first[a].Compare(f.first[b]) })
	for i := 1; i < len(after); i++ {
		if f.first[after[i]].Before(f.last[after[i-1]]) {
			t.Errorf("%s started before %s was done, after Prefect was busy", after[i], after[i-1])
		}
	}
	b.mu.Lock()
	got := len(b.deps)
	b.mu.Unlock()
	if want := wantDeployments(b); got != want || len(f.upserted) != want {
		t.Errorf("%d deployments known, %d upserted; want %d", got, len(f.upserted), want)
	}
}
