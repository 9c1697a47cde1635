package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plate-resort/plate-resort/internal/testenv"
)

// TestUpFleet: `up --devices 3` starts three carousels; each answers
// get_position over MQTT 5 request/response through the embedded broker,
// publishes its own retained info and availability, and keeps its own
// dedupe journal.
func TestUpFleet(t *testing.T) {
	testenv.NeedBinary(t, "mosquitto_rr")
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("STATE_DIRECTORY", "")
	port := testenv.FreePort(t)
	cfg := filepath.Join(t.TempDir(), "up.yaml")
	// Every other listener on a free port, so the test never collides with
	// a running `make run`.
	if err := os.WriteFile(cfg, []byte(`
broker:
  listeners:
    websocket: {address: "127.0.0.1:0"}
    health: {address: "127.0.0.1:0"}
agent:
  http: {address: "127.0.0.1:0"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- runUp(ctx, []string{"-c", cfg, "--devices", "3", "--broker.listeners.tcp.address", "127.0.0.1:" + strconv.Itoa(port), "--log.level", "warn", "--log.format", "json"})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("up: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("up did not stop")
		}
	}()
	p := strconv.Itoa(port)
	ids := []string{"resort-1", "resort-2", "resort-3"}

	// Retained availability and info, one of each per device.
	var avail map[string]string
	testenv.Eventually(t, 20*time.Second, "three devices online", func() bool {
		out, _ := testenv.Run(t, 5*time.Second, "mosquitto_sub", "-h", "127.0.0.1", "-p", p, "-t", "plate-resort/+/availability", "-v", "-W", "1")
		avail = map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if topic, v, ok := strings.Cut(l, " "); ok {
				avail[topic] = v
			}
		}
		for _, id := range ids {
			if avail["plate-resort/"+id+"/availability"] != "online" {
				return false
			}
		}
		return true
	})
	if len(avail) != 3 {
		t.Errorf("availability topics %v, want exactly the three devices", avail)
	}
	out, _ := testenv.Run(t, 5*time.Second, "mosquitto_sub", "-h", "127.0.0.1", "-p", p, "-t", "plate-resort/+/info", "-v", "-W", "1")
	var infos []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		topic, payload, _ := strings.Cut(l, " ")
		var info struct {
			Device string `json:"device"`
		}
		if err := json.Unmarshal([]byte(payload), &info); err != nil {
			t.Fatalf("info on %s: %v", topic, err)
		}
		if topic != "plate-resort/"+info.Device+"/info" {
			t.Errorf("info on %s names device %q", topic, info.Device)
		}
		infos = append(infos, info.Device)
	}
	slices.Sort(infos)
	if !slices.Equal(infos, ids) {
		t.Errorf("retained info from %v, want %v", infos, ids)
	}

	// get_position from each, with MQTT 5 request/response.
	for _, id := range ids {
		var reply struct {
			Command string `json:"command"`
			Status  string `json:"status"`
			Result  struct {
				PositionDeg *float64 `json:"position_deg"`
			} `json:"result"`
		}
		testenv.Eventually(t, 15*time.Second, id+" answers get_position", func() bool {
			out, err := testenv.Run(t, 5*time.Second, "mosquitto_rr", "-h", "127.0.0.1", "-p", p, "-t", "plate-resort/"+id+"/cmd/get_position", "-e", "plate-resort/responses/uptest/"+id, "-n", "-W", "3")
			return err == nil && json.Unmarshal([]byte(out), &reply) == nil && reply.Status == "ok"
		})
		if reply.Command != "get_position" || reply.Result.PositionDeg == nil {
			t.Errorf("%s: reply %+v", id, reply)
		}
	}

	// One journal per device under the state directory.
	journals, _ := filepath.Glob(filepath.Join(state, "plate-resort", "agent-*.journal"))
	for _, id := range ids {
		n := 0
		for _, j := range journals {
			if strings.HasPrefix(filepath.Base(j), "agent-"+id+"-") {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d journals in %v", id, n, journals)
		}
	}
}

func TestUpDeviceIDs(t *testing.T) {
	if got := upDeviceIDs("resort-1", 1); !slices.Equal(got, []string{"resort-1"}) {
		t.Errorf("one device: %v", got)
	}
	if got := upDeviceIDs("resort-1", 3); !slices.Equal(got, []string{"resort-1", "resort-2", "resort-3"}) {
		t.Errorf("three from resort-1: %v", got)
	}
	if got := upDeviceIDs("lab", 2); !slices.Equal(got, []string{"lab-1", "lab-2"}) {
		t.Errorf("two from lab: %v", got)
	}
}

func TestAgentHTTPAddrs(t *testing.T) {
	got, err := agentHTTPAddrs("127.0.0.1:9181", 3, "127.0.0.1:9180", "127.0.0.1:9182")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.1:9181", "127.0.0.1:9183", "127.0.0.1:9184"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v (skipping the bridge's 9182)", got, want)
	}
	got, _ = agentHTTPAddrs("127.0.0.1:0", 2)
	if want := []string{"127.0.0.1:0", "127.0.0.1:0"}; !slices.Equal(got, want) {
		t.Errorf("port 0: %v", got)
	}
	got, _ = agentHTTPAddrs("", 2)
	if got[0] != "" || got[1] != "" {
		t.Errorf("off: %v", got)
	}
}
