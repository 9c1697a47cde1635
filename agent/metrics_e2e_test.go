package agent_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/agent"
	"github.com/plate-resort/plate-resort/internal/ops"
	"github.com/plate-resort/plate-resort/internal/simcontrol"
	"github.com/plate-resort/plate-resort/internal/testenv"
)

// sample reads one sample from a Prometheus text exposition; ok is false
// when the series is absent.
func sample(body, series string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// The agent's /metrics counts what happened (one move, its serial
// traffic, its final error), shows the servo's state, and /ready follows
// the serial adapter: 503 naming the serial check while it is unplugged
// (through the simulator's own fault API, internal/simcontrol), 200 after
// the replug.
func TestAgentMetricsAndReadiness(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	e := newEnv(t, opts{mut: func(c *agent.Config) { c.HTTP = ops.Config{Address: addr, Metrics: true} }})
	base := "http://" + addr
	testenv.Eventually(t, 10*time.Second, "/ready 200", func() bool { c, _ := testenv.HTTPGet(t, base+"/ready"); return c == 200 })
	if c, body := testenv.HTTPGet(t, base+"/health"); c != 200 || !strings.Contains(body, `"health_loop":"ok"`) {
		t.Fatalf("/health %d %s", c, body)
	}

	_, before := testenv.HTTPGet(t, base+"/metrics")
	if v, ok := sample(before, `plate_resort_agent_commands_total{command="activate_hotel",outcome="ok"}`); ok && v != 0 {
		t.Fatalf("activate_hotel counted %v before any move", v)
	}
	for _, s := range []string{"plate_resort_agent_serial_connected", "plate_resort_agent_mqtt_connected"} {
		if v, ok := sample(before, s); !ok || v != 1 {
			t.Fatalf("%s = %v (present %v), want 1", s, v, ok)
		}
	}
	sub := e.replies()
	e.pub("activate_hotel", `{"hotel":"B","id":"m1"}`)
	if r := waitReply(t, sub, "activate_hotel", "m1", 60*time.Second); r.Status != "ok" {
		t.Fatalf("move: %+v", r)
	}
	e.pub("move_to_angle", `{"angle":400,"id":"bad"}`)
	waitReply(t, sub, "move_to_angle", "bad", 10*time.Second)

	var after string
	testenv.Eventually(t, 5*time.Second, "servo temperature in /metrics", func() bool {
		_, after = testenv.HTTPGet(t, base+"/metrics")
		_, ok := sample(after, "plate_resort_servo_temperature_celsius")
		return ok
	})
	want := map[string]float64{
		`plate_resort_agent_commands_total{command="activate_hotel",outcome="ok"}`:              1,
		`plate_resort_agent_commands_total{command="move_to_angle",outcome="invalid_argument"}`: 1,
		`plate_resort_agent_command_duration_seconds_count{command="activate_hotel"}`:           1,
		`plate_resort_agent_move_final_error_degrees_count`:                                     1,
		`plate_resort_agent_estop_latched`:                                                      0,
		`plate_resort_agent_queue_depth{queue="motion"}`:                                        0,
	}
	for s, v := range want {
		if got, ok := sample(after, s); !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", s, got, ok, v)
		}
	}
	if v, _ := sample(after, `plate_resort_agent_serial_transactions_total{result="ok"}`); v < 10 {
		t.Errorf("serial ok transactions %v: a precise move alone is dozens", v)
	}
	if v, _ := sample(after, `plate_resort_agent_serial_round_trip_seconds_count`); v < 10 {
		t.Errorf("serial round trips observed %v", v)
	}
	if v, ok := sample(after, "plate_resort_servo_position_degrees"); !ok || v < 100 || v > 118 {
		t.Errorf("position %v (present %v), want near hotel B (109°)", v, ok)
	}
	if v, ok := sample(after, "plate_resort_agent_dedupe_journal_ids"); !ok || v < 1 {
		t.Errorf("journal ids %v (present %v), want the move's id", v, ok)
	}
	// The move's three events were published and stored, none dropped.
	for _, where := range []string{"publish", "store"} {
		if v, ok := sample(after, `plate_resort_agent_events_dropped_total{where="`+where+`"}`); !ok || v != 0 {
			t.Errorf("events dropped at %s: %v (present %v), want 0", where, v, ok)
		}
	}

	// Unplug the adapter through the simulator's fault API.
	ctl := httptest.NewServer(simcontrol.Handler(e.servo, e.pty))
	defer ctl.Close()
	post := func(path string) {
		resp, err := http.Post(ctl.URL+path, "", nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST %s: %v %v", path, resp, err)
		}
		resp.Body.Close()
	}
	post("/fault/unplug")
	var rep ops.Report
	testenv.Eventually(t, 10*time.Second, "/ready 503 after the unplug", func() bool {
		c, body := testenv.HTTPGet(t, base+"/ready")
		_ = json.Unmarshal([]byte(body), &rep)
		return c == 503
	})
	if len(rep.Failing) != 1 || rep.Failing[0] != "serial" || !strings.Contains(rep.Checks["serial"], "serial link down") || rep.Checks["mqtt"] != "ok" {
		t.Fatalf("/ready while unplugged: %+v", rep)
	}
	if c, body := testenv.HTTPGet(t, base+"/health"); c != 200 {
		t.Fatalf("liveness must not fail for a missing adapter (a restart does not bring it back): %d %s", c, body)
	}
	_, m := testenv.HTTPGet(t, base+"/metrics")
	if v, _ := sample(m, "plate_resort_agent_serial_connected"); v != 0 {
		t.Errorf("serial_connected %v while unplugged", v)
	}
	if _, ok := sample(m, "plate_resort_servo_temperature_celsius"); ok {
		t.Error("servo temperature still reported while the link is down")
	}
	post("/fault/replug")
	testenv.Eventually(t, 20*time.Second, "/ready 200 after the replug", func() bool { c, _ := testenv.HTTPGet(t, base+"/ready"); return c == 200 })
}
