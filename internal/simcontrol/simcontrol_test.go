package simcontrol_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/plate-resort/plate-resort/driver/sim"
	"github.com/plate-resort/plate-resort/driver/xseries"
	"github.com/plate-resort/plate-resort/internal/simcontrol"
)

func TestControlHandler(t *testing.T) {
	s := sim.New(sim.Config{})
	srv := httptest.NewServer(simcontrol.Handler(s, nil))
	defer srv.Close()
	call := func(method, path string) (int, string) {
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	bad := []struct{ method, path string }{
		{"GET", "/fault/overload"},
		{"POST", "/fault/corrupt?n=abc"},
		{"POST", "/fault/corrupt?n=-1"},
		{"POST", "/fault/stall"},
		{"POST", "/fault/stall?deg=NaN"},
		{"POST", "/fault/stall?deg=1e300"},
		{"POST", "/fault/stall?deg=10&on=maybe"},
		{"POST", "/fault/unplug"}, // not on a pty
		{"POST", "/fault/nonsense"},
		{"DELETE", "/state"},
	}
	for _, c := range bad {
		if code, _ := call(c.method, c.path); code < 400 {
			t.Errorf("%s %s: status %d, want an error", c.method, c.path, code)
		}
	}
	if code, body := call("POST", "/fault/overload"); code != 200 || !strings.Contains(body, `"overload"`) {
		t.Errorf("overload: %d %s", code, body)
	}
	if code, _ := call("POST", "/fault/silent?on=true"); code != 200 || !s.Snapshot().Unplugged {
		t.Errorf("silent: %d", code)
	}
	code, body := call("GET", "/state")
	var st struct {
		HWError   int  `json:"hardware_error"`
		Unplugged bool `json:"unplugged"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("state: %d %s %v", code, body, err)
	}
	if st.HWError != int(xseries.HWOverload) || !st.Unplugged {
		t.Errorf("state %+v", st)
	}
	if code, _ := call("POST", "/fault/stall?deg=120&on=true"); code != 200 {
		t.Errorf("stall: %d", code)
	}
	if code, _ := call("POST", "/fault/corrupt?n=3"); code != 200 {
		t.Errorf("corrupt: %d", code)
	}
}
