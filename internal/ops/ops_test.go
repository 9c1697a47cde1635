package ops

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

func TestValidateAddress(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:9101", ":9101", "localhost:0", "[::1]:9101", "0.0.0.0:65535"} {
		if err := ValidateAddress(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"9101":             "not host:port",
		"127.0.0.1":        "not host:port",
		"127.0.0.1:http":   "not a number",
		"127.0.0.1:70000":  "not a number in 0..65535",
		"127.0.0.1:-1":     "not a number",
		"http://x:9101":    "not host:port",
		"bad host:9101":    "not an IP address or host name",
		"user@host:9101":   "not an IP address or host name",
		"127.0.0.1:9101:1": "not host:port",
	} {
		err := ValidateAddress(bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want an error saying %q", bad, err, want)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	var got []string
	bad := func(key, format string, a ...any) { got = append(got, key+": "+fmt.Sprintf(format, a...)) }
	Config{}.Check("http", bad)
	Config{Address: "127.0.0.1:9101", Metrics: true}.Check("http", bad)
	if len(got) != 0 {
		t.Fatalf("valid configs refused: %v", got)
	}
	Config{Metrics: true}.Check("http", bad)
	Config{Address: "nope"}.Check("http", bad)
	if len(got) != 2 || !strings.HasPrefix(got[0], "http.metrics: ") || !strings.HasPrefix(got[1], "http.address: ") {
		t.Fatalf("got %q", got)
	}
}

func TestEndpoints(t *testing.T) {
	s := New(true)
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "plate_resort_test_total", Help: "test"})
	s.Registry().MustRegister(c)
	c.Add(3)
	var stuck error
	s.Live("loop", func() error { return stuck })
	s.Ready("dep", func() error { return nil })
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()

	code, body := testenv.HTTPGet(t, base+"/health")
	if code != 200 || !strings.Contains(body, `"status":"ok"`) {
		t.Fatalf("/health %d %s", code, body)
	}
	stuck = errors.New("loop stalled: last progress 99s ago")
	code, body = testenv.HTTPGet(t, base+"/health")
	var rep Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if code != 503 || rep.Status != "fail" || len(rep.Failing) != 1 || rep.Failing[0] != "loop" || !strings.Contains(rep.Checks["loop"], "stalled") {
		t.Fatalf("/health with a stuck loop: %d %s", code, body)
	}
	if code, body = testenv.HTTPGet(t, base+"/ready"); code != 200 {
		t.Fatalf("/ready %d %s", code, body)
	}
	code, body = testenv.HTTPGet(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, "plate_resort_test_total 3") || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_resident_memory_bytes") {
		t.Fatalf("/metrics %d %.400s", code, body)
	}
}

func TestMetricsOff(t *testing.T) {
	s := New(false)
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if code, _ := testenv.HTTPGet(t, "http://"+s.Addr()+"/metrics"); code != 404 {
		t.Fatalf("/metrics with metrics off: %d, want 404", code)
	}
	if code, _ := testenv.HTTPGet(t, "http://"+s.Addr()+"/health"); code != 200 {
		t.Fatalf("/health: %d", code)
	}
}

func TestStall(t *testing.T) {
	st := NewStamp()
	chk := Stall("poll", time.Minute, st.Get)
	if err := chk(); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Minute)
	chk = Stall("poll", time.Minute, func() time.Time { return old })
	if err := chk(); err == nil || !strings.Contains(err.Error(), "poll stalled") {
		t.Fatalf("got %v", err)
	}
}
